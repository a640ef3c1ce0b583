"""The engine's named parts on small data: comparison levels, blocking counts and caps, EM, guards."""
from __future__ import annotations

import datetime as dt
import random

import duckdb
import polars as pl
import pytest

from identity.blocking import BlockingRule, StoredBlocking, block, count_comparisons
from identity.comparisons import comparisons_for
from identity.engine import load_signatures
from identity.guards import compile_guards
from identity.model import MatchModel
from identity.training import estimate_u, train_em, vectors_sql
from config.identity import Guard, load_identity_settings


def _levels(left: dict, right: dict) -> dict[str, str]:
    """Level name of every comparison for one pair of signatures."""
    cols = sorted(set(left) | set(right))
    frame = pl.DataFrame([{**{c: None for c in cols}, **left}, {**{c: None for c in cols}, **right}],
                         schema={c: (pl.Date if c == "birth_date" else pl.Utf8) for c in cols})
    frame = frame.with_row_index("sig").with_columns(pl.col("sig").cast(pl.UInt32), pl.lit(0).alias("cluster"))
    comps = comparisons_for(cols)
    con = duckdb.connect()
    load_signatures(con, frame, {})
    con.execute("CREATE TABLE p AS SELECT 0::UINTEGER AS sl, 1::UINTEGER AS sr")
    row = con.execute(vectors_sql(comps, "p", "_id_sig")).fetchall()[0]
    return {c.name: c.names[code] for c, code in zip(comps, row[2:])}


def test_levels_name_what_they_say():
    swapped = _levels({"first_name_key": "laura", "last_name_key": "webb"},
                      {"first_name_key": "webb", "last_name_key": "laura"})
    assert swapped == {"first_name": "swapped", "last_name": "swapped"}
    double = _levels({"last_name_key": "garcia lopez"}, {"last_name_key": "garcia"})
    assert double["last_name"] == "token_subset"
    dates = [(dt.date(1985, 4, 3), dt.date(1985, 3, 4), "day_month_transposed"),
             (dt.date(1985, 4, 23), dt.date(1985, 4, 28), "one_edit"),
             (dt.date(1985, 4, 23), dt.date(1985, 7, 23), "one_edit"),
             (dt.date(1985, 4, 23), dt.date(1986, 4, 23), "one_edit"),
             (dt.date(1985, 4, 23), dt.date(1975, 9, 23), "else")]
    for a, b, want in dates:
        assert _levels({"birth_date": a}, {"birth_date": b})["birth_date"] == want, (a, b)
    assert _levels({"national_id": "6988048"}, {"national_id": "6988084"})["national_id"] == "one_edit"
    assert _levels({"national_id": "6988048"}, {"national_id": "6908084"})["national_id"] == "two_edits"
    text = _levels({"text__occupation": "senior software engineer"}, {"text__occupation": "software engineer senior"})
    assert text["text__occupation"] == "token_set_0.8"
    place = _levels({"postcode": "28001", "city": "madrid"}, {"postcode": "28013", "city": "madrid"})
    assert place["locality"] == "same_city"
    assert _levels({"postcode": "28001", "city": "madrid"}, {"postcode": "28001", "city": "madrid"})["locality"] == "exact"
    # a city alone never reaches "exact": that level always involves the postcode
    assert _levels({"city": "madrid"}, {"city": "madrid"})["locality"] == "same_city"
    assert _levels({"phone": "+34612345678"}, {"phone": None})["phone"] == "null"
    # the two address lines written the other way round, one with a typo: both comparisons say so;
    # the lines are compared as text (the street key reads "st john of god hospital" as "saint john")
    def lines(street_line, line2, street=None):
        return {"street": street or street_line, "street_line": street_line, "address_line_2": line2}
    swapped = _levels(lines("yanda street", "st john of god hospital"),
                      lines("st john of god hospital", "yanda strceet", street="saint john"))
    assert swapped == {"street": "lines_swapped", "address_line_2": "lines_swapped"}
    same = _levels(lines("yanda street", "villa 2"), lines("yanda street", None))
    assert same == {"street": "exact", "address_line_2": "null"}
    # one line equal to the other's second line is not a swap
    one = _levels(lines("yanda street", "villa 2"), lines("hall street", "yanda street"))
    assert one == {"street": "else", "address_line_2": "else"}


def _signature_table(n_common: int, n_rare: int) -> duckdb.DuckDBPyConnection:
    names = ["garcia"] * n_common + [f"rare{i // 2}" for i in range(n_rare)]
    frame = pl.DataFrame({"last_name_key": names}).with_row_index("sig").with_columns(
        pl.col("sig").cast(pl.UInt32), pl.col("sig").cast(pl.Int64).alias("cluster"))
    con = duckdb.connect()
    load_signatures(con, frame, {})
    return con


def test_blocking_counts_pairs_before_building_them_and_drops_the_largest_blocks_first():
    con = _signature_table(n_common=300, n_rare=200)   # one block of 300, 100 blocks of 2
    rule = BlockingRule(("last_name_key",))
    counted = count_comparisons(con, rule, "_id_sig", max_block_size=2000)
    assert counted["comparisons"] == 300 * 299 // 2 + 100
    capped = count_comparisons(con, rule, "_id_sig", max_block_size=2000, max_pairs=1000)
    assert capped["comparisons"] == 100 and capped["block_size_cap"] < 300 and capped["skipped_blocks"] == 1
    made = block(con, "_id_sig", "pairs", [rule], max_block_size=2000, max_pairs_per_rule=1000)
    assert made["candidate_pairs"] == 100 == con.execute("SELECT count(*) FROM pairs").fetchall()[0][0]


def test_an_incremental_run_keeps_the_blocks_a_full_run_skipped():
    rule = BlockingRule(("last_name_key",))
    full = _signature_table(n_common=300, n_rare=200)
    made = block(full, "_id_sig", "pairs", [rule], max_block_size=2000, max_pairs_per_rule=1000,
                 skipped_out="skipped")
    # the one block skipped is stored by its key's hash, with the cap
    assert full.execute("SELECT rule, count(*) FROM skipped GROUP BY rule").fetchall() == [("last_name_key", 1)]
    stored = StoredBlocking({rule.name: made["rules"][0]["block_size_cap"]}, "skipped")
    skipped = full.execute("SELECT * FROM skipped").to_arrow_table()
    # an incremental subset: 3 garcias (a block small enough on its own) and a pair of rare names
    subset = _signature_table(n_common=3, n_rare=2)
    subset.register("skipped", skipped)
    kept = block(subset, "_id_sig", "pairs", [rule], max_block_size=2000, max_pairs_per_rule=1000, stored=stored)
    assert kept["candidate_pairs"] == 1       # the rare pair only: garcia stays skipped, as in the full run
    fresh = block(subset, "_id_sig", "pairs", [rule], max_block_size=2000, max_pairs_per_rule=1000)
    assert fresh["candidate_pairs"] == 3 + 1  # without them the subset's own budget would compare it


def _people(n: int, seed: int = 3) -> pl.DataFrame:
    """n persons of two records each; the duplicate has a first-name typo 20% of the time."""
    rng = random.Random(seed)
    firsts = [f"f{i}" for i in range(400)]
    lasts = [f"l{i}" for i in range(600)]
    rows = []
    for p in range(n):
        first, last = rng.choice(firsts), rng.choice(lasts)
        dob = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000))
        postcode = f"{rng.randrange(10000, 99999)}"
        rows.append((first, last, dob, postcode))
        typo = first + "x" if rng.random() < 0.2 else first
        rows.append((typo, last, dob, postcode))
    frame = pl.DataFrame(rows, schema={"first_name_key": pl.Utf8, "last_name_key": pl.Utf8,
                                       "birth_date": pl.Date, "postcode": pl.Utf8}, orient="row")
    return frame.with_row_index("sig").with_columns(pl.col("sig").cast(pl.UInt32),
                                                    pl.col("sig").cast(pl.Int64).alias("cluster"))


def test_em_learns_m_without_labels_and_reports_its_sessions():
    frame = _people(1500)
    comps = comparisons_for(["first_name_key", "last_name_key", "birth_date", "postcode"])
    settings = load_identity_settings().match
    con = duckdb.connect()
    load_signatures(con, frame, {})
    u = estimate_u(con, "_id_sig", comps, 200_000, 42)
    model = train_em(con, "_id_sig", comps, u, settings)
    first = {name: model.m["first_name"][code] for name, code in
             next(c for c in comps if c.name == "first_name").codes.items() if code >= 0}
    # 80% of the duplicates keep the first name exactly; the typo lands on a fuzzy level
    assert first["exact"] == pytest.approx(0.8, abs=0.06)
    assert model.m["birth_date"][next(c for c in comps if c.name == "birth_date").exact_code] > 0.95
    sessions = model.training["sessions"]
    assert len(sessions) >= 2 and all(s["converged"] for s in sessions)
    # about 1,500 matches among 3,000 records: the prior is their share of all pairs
    assert model.prior == pytest.approx(1500 / (3000 * 2999 / 2), rel=0.5)


def test_a_veto_holds_only_while_the_files_own_matches_rarely_show_the_conflict():
    comps = comparisons_for(["first_name_key", "birth_date"])
    guards = {"conflicting_birth_date": Guard(refuse_when={"birth_date": ["else"]}, veto_while_m_below=0.02)}
    dob = next(c for c in comps if c.name == "birth_date")

    def model(m_else: float) -> MatchModel:
        m = {c.name: {code: 0.1 for code in c.codes.values() if code >= 0} for c in comps}
        m["birth_date"][0] = m_else
        return MatchModel(m=m, u=m, prior=0.01)

    on = compile_guards(guards, comps, model(0.002))[0]
    off = compile_guards(guards, comps, model(0.05))[0]
    assert on.refuses is not None and on.note == "active"
    assert off.refuses is None and off.note.startswith("off: this data's matches show it 5.0%")
    assert dob.codes["else"] == 0


def test_every_kind_a_mapping_names_is_compared(tmp_path):
    from identity.resolve_file import KINDS, resolve_file

    columns = {kind: kind for kind in KINDS}
    rows = [
        ["1", "ana@x.es", "612345678", "Ana", "Ruiz", "", "1990-01-02", "F", "5", "Calle Mayor", "Piso 3", "Madrid",
         "28001", "Madrid", "ES", "X1234567", "A-1", "enfermera"],
        ["2", "ana.r@y.es", "612345678", "Ana", "Ruiz", "", "1990-01-02", "mujer", "5", "C/ Mayor", "Piso 3", "Madrid",
         "28001", "Madrid", "España", "X1234567", "A-2", "enfermera"],
    ]
    header = ["rid", *columns]
    (tmp_path / "f.csv").write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    (tmp_path / "m.yaml").write_text("id: rid\nattributes:\n" + "".join(f"  {c}: {k}\n" for c, k in columns.items()))
    result = resolve_file(tmp_path / "f.csv", tmp_path / "m.yaml", tmp_path / "out.parquet")
    compared = set(result["comparisons"])
    assert {"first_name", "last_name", "birth_date", "email", "phone", "national_id", "id__id", "street",
            "address_line_2", "locality", "country", "gender", "text__text"} <= compared
    assert result["customers"] == 1  # one national id, one phone, one name: one person
