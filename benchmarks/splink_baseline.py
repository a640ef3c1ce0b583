"""Splink (DuckDB backend) on the same normalized records, for benchmarks/identity.py.

    /tmp/splinkvenv/bin/python benchmarks/splink_baseline.py RECORDS.parquet CLUSTERS.parquet

Runs in the interpreter of a venv with `splink>=5,<6` (the optional extra `bench`); it imports
nothing of this project. RECORDS.parquet is identity.normalized_records (one row per staging
record, fields already normalized by our normalizer, so both systems compare the same values).
Writes CLUSTERS.parquet (source, record_id, cluster_id) and prints one JSON line: seconds (end to
end: load, training, predict, clustering), seconds per step, scored pairs, clusters.

The setup is what a competent Splink user would write for this data:
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

import json
import resource
import sys
import time

import duckdb

import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

THRESHOLD = 0.9
IDENTIFIERS = ("user_id", "email", "phone", "anonymous_id", "device_id", "social_handle", "order_id")


def main(records_path: str, out_path: str) -> int:
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
