"""DDL of the `identity` schema tables written by a resolve run."""
from __future__ import annotations

import duckdb

TABLES = {
    "edges": """
        left_source VARCHAR, left_record_id VARCHAR, right_source VARCHAR, right_record_id VARCHAR,
        edge_kind VARCHAR, identifier_type VARCHAR, match_probability DOUBLE, match_weight DOUBLE,
        run_id VARCHAR""",
    "edge_comparisons": """
        left_source VARCHAR, left_record_id VARCHAR, right_source VARCHAR, right_record_id VARCHAR,
        comparison VARCHAR, level TINYINT, level_name VARCHAR, weight DOUBLE, run_id VARCHAR""",
    "rejected_edges": """
        left_source VARCHAR, left_record_id VARCHAR, right_source VARCHAR, right_record_id VARCHAR,
        edge_kind VARCHAR, identifier_type VARCHAR, masked_value VARCHAR, match_probability DOUBLE,
        reason VARCHAR, run_id VARCHAR""",
    "record_map": """
        source VARCHAR, record_id VARCHAR, customer_id VARCHAR, first_assigned_at TIMESTAMP,
        run_id VARCHAR""",
    "customers": """
        customer_id VARCHAR, record_count BIGINT, first_seen TIMESTAMP, last_seen TIMESTAMP,
        created_run_id VARCHAR""",
    "id_history": """
        old_customer_id VARCHAR, new_customer_id VARCHAR, reason VARCHAR, changed_at TIMESTAMP,
        run_id VARCHAR""",
    "runs": """
        run_id VARCHAR, mode VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP, status VARCHAR,
        records BIGINT, new_records BIGINT, customers BIGINT, deterministic_edges BIGINT,
        probabilistic_edges BIGINT, rejected_edges BIGINT, signatures BIGINT,
        candidate_pairs BIGINT, skipped_blocks BIGINT, step_seconds VARCHAR""",
    "match_weight_histogram": """
        bin_low DOUBLE, bin_high DOUBLE, pairs BIGINT, run_id VARCHAR, threshold DOUBLE""",
    # one row per identity row that is one customer by its identifiers (identity/rows.py): an
    # incremental run sends a new record repeating such a row straight to its customer
    "identity_rows": """
        k1 UBIGINT, k2 UBIGINT, customer_id VARCHAR, source VARCHAR, record_id VARCHAR,
        link_type VARCHAR, records BIGINT, run_id VARCHAR""",
    # the blocking decisions of the last full run, which incremental runs keep (identity.blocking)
    "blocking_rules": """
        rule VARCHAR, comparisons BIGINT, block_size_cap BIGINT, skipped_blocks BIGINT, run_id VARCHAR""",
    "skipped_blocks": """
        rule VARCHAR, key_hash UBIGINT, run_id VARCHAR""",
    "match_weights": """
        comparison VARCHAR, level TINYINT, level_name VARCHAR, m_probability DOUBLE,
        u_probability DOUBLE, match_weight DOUBLE, run_id VARCHAR""",
}


def ensure_identity_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS identity")
    for name, columns in TABLES.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS identity.{name} ({columns})")


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()[0][0])
