"""The catalog: comments land on tables, views and columns that exist; missing ones are skipped."""
import pytest
from pydantic import ValidationError

from warehouse.catalog import (
    SchemaDoc, TableDoc, apply_comments, load_catalog, render_markdown, undocumented_columns,
)
from warehouse.connection import connect

REQUIRED = {
    "raw": {"web_events", "app_events", "social_profiles", "social_interactions", "social_leads",
            "orders", "quarantine"},
    "staging": {"customer_records"},
    "identity": {"normalized_records", "edges", "rejected_edges", "record_map", "customers",
                 "id_history", "runs"},
    "profiles": {"golden", "traits"},
    "segments": {"membership", "runs"},
    "ops": {"loads"},
}


def test_catalog_documents_every_contract_table():
    catalog = load_catalog()
    for schema, tables in REQUIRED.items():
        assert tables <= set(catalog[schema].tables), schema
    staging = catalog["staging"].tables["customer_records"].columns
    assert len(staging) == 23  # exactly the contract's columns


@pytest.fixture
def con():
    con = connect()
    con.execute("CREATE TABLE ops.loads (load_id VARCHAR, rows_read BIGINT, extra_col INT)")
    con.execute("""CREATE VIEW raw.web_events AS SELECT 'm' AS "messageId", 'x' AS anonymousid""")
    yield con
    con.close()


def test_comments_land_on_existing_objects_and_columns(con):
    result = apply_comments(con)
    assert result.objects == 2
    assert result.columns == 4
    assert "identity.customers" in result.missing_objects
    assert "ops.loads.rows_loaded" in result.missing_columns

    tables = dict(con.execute(
        "SELECT table_name, comment FROM duckdb_tables() WHERE schema_name = 'ops'").fetchall())
    assert tables["loads"].startswith("One row per load")
    views = dict(con.execute(
        "SELECT view_name, comment FROM duckdb_views() WHERE schema_name = 'raw'").fetchall())
    assert "Segment spec" in views["web_events"]
    columns = dict(con.execute(
        "SELECT table_name || '.' || column_name, comment FROM duckdb_columns() "
        "WHERE schema_name IN ('ops', 'raw')").fetchall())
    assert columns["loads.rows_read"] == "Rows read."
    assert columns["web_events.messageId"].startswith("Unique event id")
    assert columns["web_events.anonymousid"].startswith("Browser cookie id")  # case-insensitive
    assert columns["loads.extra_col"] is None
    assert undocumented_columns(con) == ["ops.loads.extra_col"]


def test_quotes_in_texts_and_names_are_safe():
    con = connect()
    con.execute('CREATE TABLE ops."we""ird" ("col""q" INT)')
    catalog = {"ops": SchemaDoc(comment="x", tables={
        'we"ird': TableDoc(comment="it's a table; DROP TABLE x", columns={'col"q': "the 'q' column"})})}
    result = apply_comments(con, catalog)
    assert (result.objects, result.columns) == (1, 1)
    assert con.execute("SELECT comment FROM duckdb_tables()").fetchone()[0] == "it's a table; DROP TABLE x"
    assert con.execute("SELECT comment FROM duckdb_columns()").fetchone()[0] == "the 'q' column"


def test_markdown_has_a_section_per_schema_and_a_row_per_column():
    text = render_markdown()
    for schema in REQUIRED:
        assert f"### `{schema}`" in text
    assert "**`staging.customer_records`**" in text
    assert "| `record_id` |" in text
    catalog = load_catalog()
    assert text.count("| column | meaning |") == sum(
        1 for s in catalog.values() for t in s.tables.values() if t.columns or t.patterns
    ) + sum(1 for s in catalog.values() if s.common_columns)
    assert "| `*_source` |" in text and "Columns as in `profiles.golden`, `profiles.traits`." in text


def test_a_typo_in_the_catalog_is_caught(tmp_path):
    bad = tmp_path / "catalog.yaml"
    bad.write_text("ops:\n  comment: x\n  tables:\n    loads: {coment: y}\n")
    with pytest.raises(ValidationError, match="coment"):
        load_catalog(bad)


def test_patterns_same_as_common_columns_and_run_time_extras():
    con = connect()
    con.execute("CREATE TABLE profiles.golden (customer_id VARCHAR, email VARCHAR, email_source VARCHAR)")
    con.execute("CREATE TABLE profiles.traits (customer_id VARCHAR, revenue DOUBLE, product_views_30d INT)")
    con.execute("CREATE VIEW profiles.customer_360 AS SELECT g.*, t.* EXCLUDE (customer_id) "
                "FROM profiles.golden g JOIN profiles.traits t USING (customer_id)")
    con.execute("CREATE TABLE raw.orders (order_id VARCHAR, _file VARCHAR)")
    extra = {"profiles.traits": {"product_views_30d": "Product views, last 30 days"}}
    apply_comments(con, extra=extra)
    docs = dict(con.execute(
        "SELECT table_name || '.' || column_name, comment FROM duckdb_columns()").fetchall())
    assert docs["golden.email_source"].startswith("Source of the record")  # pattern
    assert docs["customer_360.revenue"] == docs["traits.revenue"] is not None  # same_as
    assert docs["customer_360.email_source"] == docs["golden.email_source"]
    assert docs["customer_360.product_views_30d"] == "Product views, last 30 days"  # extra, inherited
    assert docs["orders._file"].startswith("Source file")  # schema-wide common column
    assert undocumented_columns(con) == [
        "profiles.traits.product_views_30d", "profiles.customer_360.product_views_30d"]


def test_comments_inside_the_callers_transaction():
    con = connect()
    con.execute("CREATE TABLE ops.loads (load_id VARCHAR)")
    con.execute("BEGIN TRANSACTION")
    assert apply_comments(con, own_transaction=False).columns == 1
    con.execute("ROLLBACK")  # the caller decides: rolled back with its own work
    assert con.execute("SELECT comment FROM duckdb_tables()").fetchone()[0] is None
