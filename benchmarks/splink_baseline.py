"""Splink 5 (DuckDB backend) baselines for benchmarks/identity.py, in Splink's own venv.

Splink needs its own venv while the project is on DuckDB 2.0 (optional extra `bench`):

    python3.11 -m venv /tmp/splinkvenv && /tmp/splinkvenv/bin/pip install 'splink==5.0.0'

It imports nothing of this project (only duckdb and splink). Two modes:

**File mode** (`--spec SPEC.json --out CLUSTERS.parquet`): the same CSV and column kinds that
`cdp resolve-file` gets (benchmarks/_metrics.py writes SPEC.json beside mapping.yaml). Splink
gets the raw columns lightly cleaned as its examples do: trimmed, lower case, accents stripped,
empty -> null; dates parsed with the file's strptime formats (Splink's DateOfBirthComparison
needs one format); phones reduced to their last 9 digits (national and international spellings
meet). One generic builder turns the kinds into a model, following Splink's FEBRL3 and
historical-50k examples (docs/demos/examples/duckdb/febrl3 and deduplicate_50k_synthetic):
- comparisons: first and last name together as ForenameSurnameComparison (the 50k example: exact
  full name with term frequencies, swapped names, both Jaro-Winkler >= 0.92 / 0.88, one exact;
  `--names separate` gives the FEBRL3 example's NameComparison each instead, measured 0.972
  against 0.981 on person-100k and within 0.005 on FEBRL), full_name NameComparison, dob
  DateOfBirthComparison, national_id DamerauLevenshteinAtThresholds [2] (as the FEBRL3 example
  does for soc_sec_id), email EmailComparison, phone, id, gender ExactMatch, house_number and
  postcode ExactMatch with term frequencies (as the FEBRL3 example does for street_number and
  postcode; PostcodeComparison parses UK postcodes only). With a postcode the other address
  columns (street, city, region, country, text) are left out, as in both examples: compared as
  well (`--address all`, JaroWinklerAtThresholds [0.9, 0.7] for street/text, ExactMatch with
  term frequencies for city/region), their agreement is counted three times over for one address,
  and EM on the person file took households for matches (precision 0.85 against 0.96);
- blocking for predictions: each of national_id, email, phone, first name, last name, dob,
  postcode alone (the FEBRL3 example's rules) when it yields at most --single-rule-cap pairs,
  always the pairs (first, last), (last, dob), (first, dob), (postcode, first), (postcode,
  last), (dob, postcode) and first/last swapped;
- training without labels: the prior from deterministic rules (national id; first+last+dob;
  swapped names+dob; email; phone) at recall 0.8; u by random sampling (--u-pairs, default 1e7
  as in the 50k example); m by EM in two sessions, each capped at --em-pairs pairs (Splink 5's
  `max_pairs`) and run without term frequencies: blocked on dob, then on email (else phone,
  else postcode: on FEBRL that is the FEBRL3 example's dob + postcode). Chosen, in Splink's
  favour, as the best of three on person-1m by F1 at 0.95: the 50k example's (first+last, dob)
  0.842 (at 1M the same-name block is mostly namesakes and EM took them for matches: m(dob
  exact) 0.45), (dob, postcode) 0.947, (dob, email) 0.976; at 100k 0.981, 0.977, 0.984;
- predict at the lowest threshold, connected components at --threshold (0.95, the 50k example).
Writes CLUSTERS.parquet (record_id, cluster_id), the trained model beside it (`*.model.json`),
and prints one JSON line: seconds, steps, blocking rules with their pair counts, pairs scored.
`--extra-thresholds` clusters again after the timed part (CLUSTERS.<t>.parquet) so the harness
can show how F1 moves with the threshold.

**Warehouse mode** (`RECORDS.parquet CLUSTERS.parquet`): identity.normalized_records of a
generated warehouse (fields already normalized by our normalizer, so both systems compare the
same values). Writes CLUSTERS.parquet (source, record_id, cluster_id) and prints one JSON line:
seconds (end to end: load, training, predict, clustering), seconds per step, scored pairs,
clusters. The setup is what a competent Splink user would write for this data:
- dedupe_only; unique id = source + record_id;
- the exact identifiers through Splink's deterministic linkage (`inference.deterministic_link`):
  every pair sharing a value is a link. Tried first as Fellegi-Sunter comparisons instead: EM
  learns that a match shares a cookie only ~14% of the time, so two page views of one cookie
  (no other field) never reach 0.9, and F1 was 0.64 on the 2,000-customer sample;
- a Fellegi-Sunter model on the personal data, predictions blocked on (first name, last name),
  (last name, postcode), (first name, dob), phone, email; comparisons: first and last name
  (NameComparison: exact, Jaro-Winkler 0.92/0.88/0.7), email (EmailComparison), phone, date of
  birth (DateOfBirthComparison), postcode, city; the prior from deterministic rules (email, phone;
  recall 0.8), u by random sampling (2M pairs), m by EM in two sessions (blocked on full name,
  then on email);
- connected components over the union of both link sets, probabilistic links at >= 0.9.
"""
from __future__ import annotations

import time

_STARTED = time.perf_counter()  # before the imports: the harness times the whole process

import argparse
import json
import resource
import sys
from pathlib import Path

import duckdb

import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

THRESHOLD = 0.9
IDENTIFIERS = ("user_id", "email", "phone", "anonymous_id", "device_id", "social_handle", "order_id")

# ---------------------------------------------------------------- file mode

NAME_KINDS = ("first_name", "last_name", "full_name")
CLEANED_KINDS = (*NAME_KINDS, "email", "national_id", "id", "gender", "house_number", "street",
                 "city", "postcode", "region", "country", "text", "address_line_2")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _clean(column: str) -> str:
    return f"nullif(strip_accents(lower(trim({_quote(column)}))), '')"


def feature_columns(attributes: dict[str, str]) -> dict[str, str]:
    """Prepared column name -> kind. A kind mapped once is named after the kind."""
    counts: dict[str, int] = {}
    for kind in attributes.values():
        counts[kind] = counts.get(kind, 0) + 1
    return {(kind if counts[kind] == 1 else f"{kind}__{col}"): col for col, kind in attributes.items()}


def prepare_sql(spec: dict) -> tuple[str, dict[str, str]]:
    """SELECT over the raw CSV: unique_id plus one lightly cleaned column per mapped column."""
    attrs = spec["attributes"]
    names = feature_columns(attrs)
    kinds = {name: attrs[col] for name, col in names.items()}
    country_col = next((c for c, k in attrs.items() if k == "country"), None)
    select = [f"{_quote(spec['id_column'])} AS unique_id"]
    for name, col in names.items():
        kind = attrs[col]
        if kind in CLEANED_KINDS:
            expr = _clean(col)
        elif kind == "phone":
            expr = f"nullif(right(regexp_replace({_quote(col)}, '[^0-9]', '', 'g'), 9), '')"
        elif kind == "dob":
            raw = f"trim({_quote(col)})"
            parse = lambda formats: "coalesce(" + ", ".join(  # noqa: E731
                f"try_strptime({raw}, {_literal(f)})" for f in formats) + ")::DATE"
            expr = parse(spec["dob_formats"])
            if spec.get("dob_formats_month_first") and country_col:
                countries = ", ".join(_literal(c) for c in spec["month_first_countries"])
                expr = (f"CASE WHEN {_clean(country_col)} IN ({countries}) "
                        f"THEN {parse(spec['dob_formats_month_first'])} ELSE {expr} END")
        else:
            raise ValueError(f"kind {kind!r} has no Splink preparation")
        select.append(f"{expr} AS {_quote(name)}")
    return (f"SELECT {', '.join(select)} FROM read_csv({_literal(spec['csv'])}, header=true, "
            f"all_varchar=true)"), kinds


ADDRESS_KINDS = ("street", "address_line_2", "city", "region", "country", "text")
CONCAT_NAME = "first_name_surname_concat"


def comparisons_for(kinds: dict[str, str], address: str = "postcode", names: str = "forename-surname") -> list:
    """One comparison per prepared column. address="postcode" (Splink's examples: FEBRL3 compares
    street_number and postcode, the 50k example postcode alone) leaves out the other address
    columns when there is a postcode; "all" compares every column."""
    has_postcode = "postcode" in kinds.values()
    first, last = _first(kinds, "first_name"), _first(kinds, "last_name")
    together = names == "forename-surname" and first and last
    out = []
    if together:  # the 50k example: one comparison, swapped names a level, tf on the full name
        out.append(cl.ForenameSurnameComparison(first, last, forename_surname_concat_col_name=CONCAT_NAME))
    for name, kind in kinds.items():
        if address == "postcode" and has_postcode and kind in ADDRESS_KINDS:
            continue
        if together and name in (first, last):
            continue
        if kind in NAME_KINDS:
            out.append(cl.NameComparison(name).configure(term_frequency_adjustments=True))
        elif kind == "dob":
            out.append(cl.DateOfBirthComparison(name, input_is_string=False))
        elif kind == "national_id":
            out.append(cl.DamerauLevenshteinAtThresholds(name, [2]))
        elif kind == "email":
            out.append(cl.EmailComparison(name))
        elif kind in ("phone", "id", "gender", "country"):
            out.append(cl.ExactMatch(name))
        elif kind in ("house_number", "postcode", "city", "region"):
            out.append(cl.ExactMatch(name).configure(term_frequency_adjustments=True))
        elif kind in ("street", "address_line_2", "text"):
            out.append(cl.JaroWinklerAtThresholds(name, [0.9, 0.7]))
        else:
            raise ValueError(f"kind {kind!r} has no Splink comparison")
    return out


def _first(kinds: dict[str, str], kind: str) -> str | None:
    return next((n for n, k in kinds.items() if k == kind), None)


def blocking_rules_for(con, kinds: dict[str, str], single_rule_cap: float) -> tuple[list, list[dict]]:
    """(rules, [{rule, pairs, used}]): single-field rules when their blocks are small enough,
    pairs of fields always. Pairs are counted exactly (sum of n*(n-1)/2 over the blocks)."""
    first, last, full = (_first(kinds, k) for k in NAME_KINDS)
    dob, postcode = _first(kinds, "dob"), _first(kinds, "postcode")
    singles = [_first(kinds, k) for k in ("national_id", "email", "phone")] + [first, last, full, dob, postcode]
    combos = [(first, last), (last, dob), (first, dob), (full, dob), (postcode, first), (postcode, last),
              (postcode, full), (dob, postcode)]
    rules, report = [], []

    def pairs(columns: tuple[str, ...]) -> int:
        cols = ", ".join(_quote(c) for c in columns)
        nonnull = " AND ".join(f"{_quote(c)} IS NOT NULL" for c in columns)
        return con.execute(f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM (SELECT count(*) AS n "
                           f"FROM prepared WHERE {nonnull} GROUP BY {cols})").fetchall()[0][0]

    for column in filter(None, singles):
        n = pairs((column,))
        used = n <= single_rule_cap
        report.append({"rule": column, "pairs": int(n), "used": used})
        if used:
            rules.append(block_on(column))
    for combo in combos:
        if all(combo):
            report.append({"rule": "+".join(combo), "pairs": int(pairs(combo)), "used": True})
            rules.append(block_on(*combo))
    if first and last:
        report.append({"rule": "first/last swapped", "used": True})
        rules.append(f"l.{_quote(first)} = r.{_quote(last)} AND l.{_quote(last)} = r.{_quote(first)}")
    return rules, report


def deterministic_rules_for(kinds: dict[str, str]) -> list:
    first, last, full = (_first(kinds, k) for k in NAME_KINDS)
    dob = _first(kinds, "dob")
    rules = [block_on(c) for c in (_first(kinds, k) for k in ("national_id", "email", "phone")) if c]
    if first and last and dob:
        rules.append(block_on(first, last, dob))
        rules.append(f"l.{_quote(first)} = r.{_quote(last)} AND l.{_quote(last)} = r.{_quote(first)} "
                     f"AND l.{_quote(dob)} = r.{_quote(dob)}")
    elif full and dob:
        rules.append(block_on(full, dob))
    return rules


def em_rules_for(kinds: dict[str, str], sessions: list[str]) -> list:
    """EM training blocks by name: `names` (first+last, else full name), or any kind (dob,
    postcode, email, ...); a kind the file lacks is skipped, and so is a session that would
    leave fewer than two."""
    first, last, full = (_first(kinds, k) for k in NAME_KINDS)
    rules = []
    for session in sessions:
        if session == "names":
            if first and last:
                rules.append(block_on(first, last))
            elif full:
                rules.append(block_on(full))
        else:
            columns = [_first(kinds, k) for k in session.split("+")]
            if all(columns):
                rules.append(block_on(*columns))
    for kind in ("phone", "postcode", "city", "dob", "email"):  # at least two sessions
        column = _first(kinds, kind)
        if column and len(rules) < 2 and not any(column in str(r.get_blocking_rule("duckdb").blocking_rule_sql)
                                                 for r in rules):
            rules.append(block_on(column))
    return rules


def file_main(args: argparse.Namespace) -> int:
    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    out = Path(args.out)
    thresholds = sorted({args.threshold, *args.extra_thresholds})
    steps: dict[str, float] = {}
    start = t = time.perf_counter()
    con = duckdb.connect()
    sql, kinds = prepare_sql(spec)
    con.execute(f"CREATE TABLE prepared AS {sql}")
    first, last = _first(kinds, "first_name"), _first(kinds, "last_name")
    if args.names == "forename-surname" and first and last:
        con.execute(f"ALTER TABLE prepared ADD COLUMN {CONCAT_NAME} VARCHAR")
        con.execute(f"UPDATE prepared SET {CONCAT_NAME} = {_quote(first)} || ' ' || {_quote(last)}")
    records = con.execute("SELECT count(*) FROM prepared").fetchall()[0][0]
    rules, blocking = blocking_rules_for(con, kinds, args.single_rule_cap)
    db_api = DuckDBAPI(connection=con)
    df = db_api.register("prepared")
    settings = SettingsCreator(
        link_type="dedupe_only", unique_id_column_name="unique_id",
        blocking_rules_to_generate_predictions=rules,
        comparisons=comparisons_for(kinds, args.address, args.names),
        retain_intermediate_calculation_columns=False, retain_matching_columns=False,
    )
    linker = Linker(df, settings, log_level="WARNING")
    steps["load"] = time.perf_counter() - t

    t = time.perf_counter()
    linker.training.estimate_probability_two_random_records_match(deterministic_rules_for(kinds), recall=0.8)
    steps["prior"] = time.perf_counter() - t
    t = time.perf_counter()
    linker.training.estimate_u_using_random_sampling(max_pairs=args.u_pairs, seed=42)
    steps["u"] = time.perf_counter() - t
    t = time.perf_counter()
    sessions = []
    for rule in em_rules_for(kinds, args.em_sessions):
        session = linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True, max_pairs=args.em_pairs)
        sessions.append({"rule": rule.get_blocking_rule("duckdb").blocking_rule_sql,
                         "iterations": len(getattr(session, "_lambda_history_records", []) or [])})
    steps["em"] = time.perf_counter() - t

    t = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=thresholds[0])
    steps["predict"] = time.perf_counter() - t
    t = time.perf_counter()
    scored = con.execute(f"SELECT count(*) FROM {predictions.physical_name}").fetchall()[0][0]

    def write_clusters(threshold: float, path: Path) -> int:
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold)
        con.execute(f"COPY (SELECT unique_id AS record_id, cluster_id FROM {clusters.physical_name}) "
                    f"TO {_literal(str(path))} (FORMAT parquet)")
        return con.execute(f"SELECT count(DISTINCT cluster_id) FROM {clusters.physical_name}").fetchall()[0][0]

    n_clusters = write_clusters(args.threshold, out)
    steps["cluster"] = time.perf_counter() - t
    timed_end = time.perf_counter()
    seconds = timed_end - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    extra = {}
    for threshold in args.extra_thresholds:
        path = out.with_name(f"{out.stem}.{threshold:g}.parquet")
        write_clusters(threshold, path)
        extra[f"{threshold:g}"] = str(path)
    model = out.with_name(f"{out.stem}.model.json")
    linker.misc.save_model_to_json(str(model), overwrite=True)
    print(json.dumps({
        "seconds": seconds, "imports_s": start - _STARTED, "after_timed_s": time.perf_counter() - timed_end,
        "steps": steps, "records": records, "pairs_scored": scored,
        "clusters": n_clusters, "threshold": args.threshold, "blocking": blocking,
        "em_sessions": sessions, "peak_rss_mb": peak, "extra_clusters": extra, "model": str(model),
    }))
    return 0


# ----------------------------------------------------------- warehouse mode

def warehouse_main(records_path: str, out_path: str) -> int:
    steps: dict[str, float] = {}
    start = t = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"""
        CREATE TABLE records AS
        SELECT source || ':' || record_id AS unique_id, source, record_id,
               user_id, email, phone, anonymous_id, device_id, social_handle, order_id,
               first_name_key, last_name_key, birth_date, postcode, city
        FROM read_parquet('{records_path}')
    """)
    db_api = DuckDBAPI(connection=con)
    records = db_api.register("records")
    # identifiers: Splink's deterministic linkage (every pair sharing a value is a match)
    deterministic = Linker(records, SettingsCreator(
        link_type="dedupe_only", unique_id_column_name="unique_id",
        blocking_rules_to_generate_predictions=[block_on(column) for column in IDENTIFIERS],
        comparisons=[cl.ExactMatch(column) for column in IDENTIFIERS],
    ), log_level="WARNING")
    # personal data: the Fellegi-Sunter model
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        blocking_rules_to_generate_predictions=[
            block_on("first_name_key", "last_name_key"),
            block_on("last_name_key", "postcode"),
            block_on("first_name_key", "birth_date"),
            block_on("phone"),
            block_on("email"),
        ],
        comparisons=[
            cl.NameComparison("first_name_key"),
            cl.NameComparison("last_name_key"),
            cl.EmailComparison("email"),
            cl.ExactMatch("phone"),
            cl.DateOfBirthComparison("birth_date", input_is_string=False),
            cl.ExactMatch("postcode"),
            cl.ExactMatch("city"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    linker = Linker(records, settings, log_level="WARNING")
    steps["load"] = time.perf_counter() - t

    t = time.perf_counter()
    linker.training.estimate_probability_two_random_records_match(
        [block_on("email"), block_on("phone")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=42)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("first_name_key", "last_name_key"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("email"))
    steps["train"] = time.perf_counter() - t

    t = time.perf_counter()
    identified = deterministic.inference.deterministic_link()
    steps["deterministic_link"] = time.perf_counter() - t
    t = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD)
    steps["predict"] = time.perf_counter() - t

    t = time.perf_counter()
    con.execute(f"""
        CREATE TABLE all_links AS
        SELECT unique_id_l, unique_id_r FROM {identified.physical_name}
        UNION SELECT unique_id_l, unique_id_r FROM {predictions.physical_name}
    """)
    pairs = con.execute("SELECT count(*) FROM all_links").fetchall()[0][0]
    links = db_api.register("all_links")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(links)
    con.execute(f"""
        COPY (SELECT r.source, r.record_id, c.cluster_id
              FROM {clusters.physical_name} c JOIN records r USING (unique_id))
        TO '{out_path}' (FORMAT parquet)
    """)
    n_clusters = con.execute(f"SELECT count(DISTINCT cluster_id) FROM {clusters.physical_name}").fetchall()[0][0]
    steps["cluster"] = time.perf_counter() - t
    print(json.dumps({
        "seconds": time.perf_counter() - start, "steps": steps, "pairs": pairs, "clusters": n_clusters,
        "threshold": THRESHOLD, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and not argv[0].startswith("-"):
        return warehouse_main(argv[0], argv[1])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", required=True, help="spec.json of a benchmark dataset (benchmarks/_metrics.py)")
    parser.add_argument("--out", required=True, help="CLUSTERS.parquet to write (record_id, cluster_id)")
    parser.add_argument("--threshold", type=float, default=0.95, help="match probability to cluster at")
    parser.add_argument("--extra-thresholds", type=float, nargs="*", default=[],
                        help="also cluster at these (after the timed part)")
    parser.add_argument("--single-rule-cap", type=float, default=5e6,
                        help="a one-field blocking rule is used when it yields at most this many pairs")
    parser.add_argument("--address", choices=["postcode", "all"], default="postcode",
                        help="postcode: address compared by postcode (and house number) only, as Splink's "
                             "examples do; all: street, city, region, country and text too")
    parser.add_argument("--names", choices=["forename-surname", "separate"], default="forename-surname",
                        help="forename-surname: one ForenameSurnameComparison (the 50k example; a swap is a level); "
                             "separate: a NameComparison each (the FEBRL3 example)")
    parser.add_argument("--em-sessions", nargs="+", default=["dob", "email"],
                        help="EM training blocks: names, or kinds joined by + (dob, postcode, email+dob...); a "
                             "missing kind is replaced by phone, postcode, city (FEBRL: dob then postcode, as "
                             "Splink's FEBRL3 example). The 50k example's `names dob` measured worse (see docstring)")
    parser.add_argument("--u-pairs", type=float, default=1e7, help="random pairs for u")
    parser.add_argument("--em-pairs", type=float, default=5e6, help="at most this many pairs per EM session")
    return file_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
