"""What each guard of config/identity.yaml costs and saves, per dataset: F1 with all, none, and all but one.

    .venv/bin/python benchmarks/guards.py [--files DIR ...] [--households] [--generated 2000] \
        [--cache-dir /tmp/bench-guards]

Files are dataset folders written by benchmarks/identity.py / febrl.py / person_file.py
(data.csv + mapping.yaml + truth.parquet); without --files it writes FEBRL1-3 without soc_sec_id
(needs `pip install -e '.[bench]'`) and a 100k person file. `--households` adds FEBRL3 with
households moved in (`febrl_households`: FEBRL's own duplicates and corruption, plus relatives at
the same addresses, with and without an email column). `--generated N` also resolves a warehouse
of N generated customers (seed 7) ingested by the connectors. The model is trained once per
dataset with every guard on and reused, so only the guards change between rows; each dataset
first prints every guard's state on it (on, or off and why: a veto that the file's own trained m
takes away says by how much).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))  # after the packages: benchmarks/identity.py would shadow identity/


def _pairwise(labels, person) -> tuple[float, float, float]:
    import polars as pl

    frame = pl.DataFrame({"c": labels, "p": person})

    def pairs(keys):
        return frame.group_by(keys).len().select((pl.col("len") * (pl.col("len") - 1) // 2).sum()).item()

    tp, predicted, true = pairs(["c", "p"]), pairs(["c"]), pairs(["p"])
    precision = tp / predicted if predicted else 0.0
    recall = tp / true if true else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


AU_DOMAINS = ("bigpond.com", "gmail.com", "hotmail.com", "optusnet.com.au", "yahoo.com.au", "iinet.net.au")


def febrl_households(source: Path, out: Path, seed: int = 5, email: bool = False) -> Path:
    """FEBRL (a `-nossn` folder of febrl.py) with households moved in, written to `out`.

    FEBRL has no households: two records at one address are one person. Here 25% of its persons get
    a relative at their address (the original's street number, address, suburb, postcode and
    state): four in five take the surname too (a child or a spouse who took it), one in five keeps
    another (a partner); each has a first name and a birth date of another FEBRL person, and 40%
    of them a second record with one letter changed in the first name or the street. With `email`,
    every person has an address built from the names (given.surname@, givensurnameNN@, g.surname@),
    10% of relatives share their household's; records lack it 20% of the time, and a FEBRL
    duplicate carries another address 10% of the time (a new provider) or one with a typo 3%.
    """
    import numpy as np
    import polars as pl
    import yaml

    rng = np.random.default_rng(seed)
    data = pl.read_csv(source / "data.csv", infer_schema=False)
    truth = pl.read_parquet(source / "truth.parquet").select("record_id", "person_id")
    data = data.join(truth.rename({"record_id": data.columns[0]}), on=data.columns[0], how="left", maintain_order="left")
    idcol = data.columns[0]
    orgs = data.filter(pl.col(idcol).str.ends_with("-org")).sort(idcol)
    n = orgs.height
    heads = np.flatnonzero(rng.random(n) < 0.25)
    partner = rng.random(len(heads)) < 0.20
    name_from = rng.integers(n, size=len(heads))
    dob_from = rng.integers(n, size=len(heads))
    surname_from = rng.integers(n, size=len(heads))
    members = orgs[heads].with_columns(
        pl.Series("given_name", orgs["given_name"].gather(name_from)),
        pl.Series("date_of_birth", orgs["date_of_birth"].gather(dob_from)),
        pl.when(pl.Series(partner)).then(pl.Series(orgs["surname"].gather(surname_from)))
        .otherwise(pl.col("surname")).alias("surname"),
        pl.Series("head_person", orgs["person_id"].gather(heads)),
        pl.format("hh{}", pl.int_range(pl.len())).alias("person_id"),
        pl.format("rec-hh{}-org", pl.int_range(pl.len())).alias(idcol),
    )
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))

    def typo(values: list, u: np.ndarray, ch: np.ndarray) -> list:
        out = []
        for v, x, c in zip(values, u, ch):
            if v is None or len(v) < 3:
                out.append(v)
                continue
            i = int(x * len(v))
            out.append(v[:i] + c + v[i + 1:])
        return out

    dup = members.filter(pl.Series(rng.random(members.height) < 0.40))
    which = rng.random(dup.height) < 0.5
    dup = dup.with_columns(
        pl.Series("given_name", [t if w else g for t, w, g in zip(
            typo(dup["given_name"].to_list(), rng.random(dup.height), letters[rng.integers(26, size=dup.height)]),
            which, dup["given_name"].to_list())]),
        pl.Series("address_1", [a if w else t for t, w, a in zip(
            typo(dup["address_1"].to_list(), rng.random(dup.height), letters[rng.integers(26, size=dup.height)]),
            which, dup["address_1"].to_list())]),
        pl.col(idcol).str.replace("-org", "-dup-0"),
    )
    people = pl.concat([data.with_columns(pl.lit(None, pl.Utf8).alias("head_person")), members, dup],
                       how="vertical_relaxed")
    if email:
        def clean(col: str) -> pl.Expr:
            return pl.col(col).fill_null("").str.to_lowercase().str.replace_all(r"[^a-z]", "")

        person_names = pl.concat([orgs.select("person_id", "given_name", "surname"),
                                  members.select("person_id", "given_name", "surname")])
        kind = rng.integers(3, size=person_names.height)
        digits = rng.integers(10, 99, size=person_names.height).astype(str)
        domains = np.array(AU_DOMAINS)[rng.integers(len(AU_DOMAINS), size=person_names.height)]
        person_names = person_names.with_columns(
            pl.Series("kind", kind), pl.Series("digits", digits), pl.Series("domain", domains)).with_columns(
            user=pl.when(pl.col("kind") == 0).then(pl.concat_str(clean("given_name"), pl.lit("."), clean("surname")))
            .when(pl.col("kind") == 1).then(pl.concat_str(clean("given_name"), clean("surname"), pl.col("digits")))
            .otherwise(pl.concat_str(clean("given_name").str.slice(0, 1), pl.lit("."), clean("surname"))))
        person_names = person_names.with_columns(
            # two persons never share an address by chance: the second gets its row number added
            user=pl.when(pl.int_range(pl.len()).over("user", "domain") > 0)
            .then(pl.concat_str(pl.col("user"), pl.int_range(pl.len()).cast(pl.Utf8)))
            .otherwise(pl.col("user")))
        person_email = person_names.select("person_id", pl.concat_str("user", pl.lit("@"), "domain").alias("email"))
        people = people.join(person_email, on="person_id", how="left", maintain_order="left")
        shared = members.filter(pl.Series(rng.random(members.height) < 0.10)).select("person_id", "head_person")
        head_email = shared.join(person_email.rename({"person_id": "head_person", "email": "head_email"}),
                                 on="head_person").select("person_id", "head_email")
        people = people.join(head_email, on="person_id", how="left", maintain_order="left").with_columns(
            email=pl.coalesce("head_email", "email")).drop("head_email")
        r = people.height
        is_dup = people[idcol].str.contains("-dup-").to_numpy()
        u = rng.random(r)
        other = np.array(AU_DOMAINS)[rng.integers(len(AU_DOMAINS), size=r)]
        pos = rng.random(r)
        ch = letters[rng.integers(26, size=r)]
        written = []
        for e, d, x, o, p_, c in zip(people["email"].to_list(), is_dup, u, other, pos, ch):
            user, _, domain = e.partition("@")
            if x < 0.20:
                written.append(None)
            elif d and x < 0.30:
                written.append(f"{user}{'x' if o == domain else ''}@{o}")
            elif d and x < 0.33 and len(user) > 3:
                i = 1 + int(p_ * (len(user) - 1))
                written.append(f"{user[:i]}{c}{user[i + 1:]}@{domain}")
            else:
                written.append(e)
        people = people.with_columns(pl.Series("email", written))
    people = people.with_columns(pl.Series("_order", rng.permutation(people.height))).sort("_order")
    out.mkdir(parents=True, exist_ok=True)
    columns = [c for c in data.columns if c != "person_id"] + (["email"] if email else [])
    people.select(columns).write_csv(out / "data.csv")
    people.select(pl.col(idcol).alias("record_id"), "person_id").write_parquet(out / "truth.parquet")
    mapping = yaml.safe_load((source / "mapping.yaml").read_text())
    if email:
        mapping["attributes"]["email"] = "email"
    (out / "mapping.yaml").write_text(
        f"# {out.name}: FEBRL with households (benchmarks/guards.py febrl_households, seed {seed})\n"
        + yaml.safe_dump(mapping, sort_keys=False))
    return out


class _SettledNotes(logging.Handler):
    """A veto the model lets go is settled on the scored pairs (identity.guards logs how)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.notes: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "guard %s: %s":
            self.notes[record.args[0]] = record.args[1]


def file_rows(folder: Path, settings) -> list[tuple[str, float, float, float]]:
    import polars as pl

    from identity.engine import run_engine
    from identity.resolve_file import load_mapping, read_input, to_records

    frame = read_input(folder / "data.csv")
    mapping = load_mapping(folder / "mapping.yaml", frame.columns)
    records = to_records(frame, mapping)
    truth = pl.read_parquet(folder / "truth.parquet").select("record_id", "person_id")
    person = records.select("record_id").join(truth, on="record_id", how="left")["person_id"]
    kept = [t for t in settings.deterministic.priority if t in settings.file_identifiers]
    base = settings.model_copy(update={"deterministic": settings.deterministic.model_copy(
        update={"max_names_per_value": settings.file_max_names_per_value})})
    settled, guard_log = _SettledNotes(), logging.getLogger("identity.guards")
    level = guard_log.level
    guard_log.addHandler(settled)
    guard_log.setLevel(logging.INFO)
    try:
        trained = run_engine(records, base, m_training="em", link_types=kept)
    finally:
        guard_log.removeHandler(settled)
        guard_log.setLevel(level)
    for guard, note in trained.guards.items():
        print(f"  {guard:<36} {settled.notes.get(guard, note)}")
    rows = [("all guards", *_pairwise(trained.labels, person))]
    for name, guards in [("no guards", {})] + [
            (f"without {g}", {k: v for k, v in base.guards.items() if k != g}) for g in base.guards]:
        result = run_engine(records, base.model_copy(update={"guards": guards}), model=trained.model,
                            m_training="em", link_types=kept)
        rows.append((name, *_pairwise(result.labels, person)))
    return rows


def generated_rows(customers: int, cache: Path, settings) -> list[tuple]:
    import polars as pl

    from connectors.runner import ingest_all
    from identity import resolve
    from identity.evaluation import evaluate
    from pipelines.sample_data import generate
    from warehouse.connection import connect_home

    folder = cache / f"generated{customers}"
    if not (folder / "READY").exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate(folder / "src", customers=customers, seed=7)
        ingest_all(folder / "home", source_dir=folder / "src")
        (folder / "READY").write_text("ok\n")
    truth = pl.read_parquet(folder / "src" / "truth.parquet")
    rows = []
    for name, guards in [("all guards", settings.guards), ("no guards", {})] + [
            (f"without {g}", {k: v for k, v in settings.guards.items() if k != g}) for g in settings.guards]:
        con = connect_home(folder / "home")
        try:
            con.execute("DROP SCHEMA IF EXISTS identity CASCADE")
            resolve(con, mode="full", settings=settings.model_copy(update={"guards": guards}))
            record_map = pl.from_arrow(con.sql(
                "SELECT source, record_id, customer_id FROM identity.record_map").to_arrow_table())
        finally:
            con.close()
        e = evaluate(record_map, truth)
        rows.append((f"{name} ({e['fused_customers']} fused)", e["precision"], e["recall"], e["f1"]))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", nargs="*", type=Path, help="dataset folders (data.csv, mapping.yaml, truth.parquet)")
    parser.add_argument("--households", action="store_true",
                        help="add FEBRL3 with households moved in, with and without emails (febrl_households)")
    parser.add_argument("--generated", type=int, default=2000, help="generated customers (0: skip)")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/bench-guards"))
    args = parser.parse_args(argv)
    from config.identity import load_identity_settings

    settings = load_identity_settings()
    folders = args.files
    if folders is None:
        from febrl import export_febrl
        import person_file

        folders = []
        for name in ("febrl1-nossn", "febrl2-nossn", "febrl3-nossn"):
            folder = args.cache_dir / name
            if not (folder / "truth.parquet").exists():
                export_febrl(name, folder)
            folders.append(folder)
        folder = args.cache_dir / "person-100k"
        if not (folder / "truth.parquet").exists():
            person_file.main(["--records", "100000", "--seed", "7", "--out", str(folder)])
        folders.append(folder)
    if args.households:
        from febrl import export_febrl

        source = args.cache_dir / "febrl3-nossn"
        if not (source / "truth.parquet").exists():
            export_febrl("febrl3-nossn", source)
        for name, email in (("febrl3-households", False), ("febrl3-households-email", True)):
            folder = args.cache_dir / name
            if not (folder / "truth.parquet").exists():
                febrl_households(source, folder, email=email)
            folders.append(folder)
    for folder in folders:
        print(f"\n{folder.name}")
        for name, p, r, f in file_rows(folder, settings):
            print(f"  {name:<42} P {p:.4f}  R {r:.4f}  F1 {f:.4f}")
    if args.generated:
        print(f"\ngenerated, {args.generated:,} customers (seed 7)")
        for name, p, r, f in generated_rows(args.generated, args.cache_dir, settings):
            print(f"  {name:<42} P {p:.4f}  R {r:.4f}  F1 {f:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
