"""The run report: figures from a fixture warehouse with data for every chart, and graceful gaps."""
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.report import CHARTS, build_report
from pipelines.report.data import collect
from pipelines.report.svg import nice_ticks
from warehouse.connection import connect, connect_home
from warehouse.snapshot import publish_snapshot

SOURCES = ["web", "app", "social", "transactions"]


def build_report_fixture(home: Path) -> Path:
    """A warehouse holding every table the report charts, with known figures.

    - ops.loads: 4 streams, 1000 read = 900 loaded + 60 quarantined + 40 duplicate.
    - staging.customer_records: 400 records, 100 per source, over 10 days (2026-03-01..10).
    - raw.quarantine: invalid_json x30 (web), missing_field x20 (app), wrong_type x10 (transactions).
    - identity: 100 customers of 4 records each (one per source) except 10 web-only customers.
    - identity.edges: 50 probabilistic links, probabilities 0.50..0.99.
    - identity.rejected_edges: blocked_value x7, limit_exceeded:user_id x3.
    - segments.runs: 3 runs x 2 segments; ops.evaluations: F1 0.985.
    """
    con = connect_home(home)
    con.execute("""CREATE TABLE ops.loads AS SELECT * FROM (VALUES
        ('l1', 'web', 'web_events', 400, 350, 30, 20),
        ('l2', 'app', 'app_events', 300, 270, 20, 10),
        ('l3', 'social', 'social_leads', 100, 100, 0, 0),
        ('l4', 'transactions', 'orders', 200, 180, 10, 10))
        AS t(load_id, source, stream, rows_read, rows_loaded, rows_quarantined, rows_duplicate)""")
    con.execute("""CREATE TABLE raw.quarantine AS
        SELECT 'web' AS source, 'invalid_json' AS reason, 'x' AS payload FROM range(30)
        UNION ALL SELECT 'app', 'missing_field', 'x' FROM range(20)
        UNION ALL SELECT 'transactions', 'wrong_type', 'x' FROM range(10)""")
    con.execute("""CREATE TABLE staging.customer_records AS
        SELECT ['web', 'app', 'social', 'transactions'][(i % 4) + 1] AS source,
               'r' || i AS record_id,
               TIMESTAMP '2026-03-01 08:00:00' + INTERVAL ((i * i + i // 4) % 10) DAY AS event_time
        FROM range(400) t(i)""")
    # Customers 0..89 have one record per source; 90..99 are web-only with 4 web records each.
    con.execute("""CREATE TABLE identity.record_map AS
        SELECT CASE WHEN c < 90 THEN ['web', 'app', 'social', 'transactions'][k + 1] ELSE 'web' END AS source,
               'r' || (c * 4 + k) AS record_id, 'cus_' || lpad(CAST(c AS VARCHAR), 16, '0') AS customer_id
        FROM range(100) a(c), range(4) b(k)""")
    con.execute("""CREATE TABLE identity.customers AS
        SELECT customer_id, count(*) AS record_count FROM identity.record_map GROUP BY ALL""")
    con.execute("UPDATE identity.customers SET record_count = 30 WHERE customer_id LIKE '%0009'")
    con.execute("""CREATE TABLE identity.edges AS
        SELECT 'web' AS left_source, 'r' || i AS left_record_id, 'app' AS right_source,
               'r' || (i + 1) AS right_record_id, 'probabilistic' AS edge_kind,
               NULL AS identifier_type, 0.5 + i / 100.0 AS match_probability
        FROM range(50) t(i)
        UNION ALL SELECT 'web', 'x', 'app', 'y', 'deterministic', 'email', 1.0""")
    con.execute("""CREATE TABLE identity.rejected_edges AS
        SELECT 'blocked_value' AS reason FROM range(7)
        UNION ALL SELECT 'limit_exceeded:user_id' FROM range(3)""")
    con.execute("""CREATE TABLE segments.runs AS SELECT * FROM (VALUES
        ('run1', TIMESTAMP '2026-03-01 02:00', 'champions', 10),
        ('run1', TIMESTAMP '2026-03-01 02:00', 'at_risk', 40),
        ('run2', TIMESTAMP '2026-03-02 02:00', 'champions', 14),
        ('run2', TIMESTAMP '2026-03-02 02:00', 'at_risk', 35),
        ('run3', TIMESTAMP '2026-03-03 02:00', 'champions', 20),
        ('run3', TIMESTAMP '2026-03-03 02:00', 'at_risk', 30)) AS t(run_id, run_at, segment, size)""")
    con.execute("""CREATE TABLE segments.membership AS
        SELECT 'champions' AS segment, 'cus_' || i AS customer_id, NULL AS exited_at FROM range(20) t(i)""")
    con.execute("""CREATE TABLE ops.evaluations AS SELECT TIMESTAMP '2026-03-03' AS evaluated_at,
        0.99 AS precision, 0.98 AS recall, 0.985 AS f1""")
    con.close()
    return home


@pytest.fixture
def report_home(tmp_path):
    return build_report_fixture(tmp_path / "home")


def test_figures_come_from_the_tables(report_home):
    with connect_home(report_home, read_only=True) as con:
        data = collect(con)
    assert data.headline == {
        "events_read": 1000, "events_loaded": 900, "events_quarantined": 60, "events_duplicate": 40,
        "loads": 4, "records": 400, "customers": 100, "segments": 1,
    }
    assert data.evaluation == {"precision": 0.99, "recall": 0.98, "f1": 0.985}
    assert len(data.events_per_day.x) == 10 and data.events_per_day.x[0] == "2026-03-01"
    assert {s: sum(v) for s, v in data.events_per_day.series.items()} == {s: 100 for s in SOURCES}
    assert dict(zip(data.quarantine_reasons.labels, data.quarantine_reasons.values)) == {
        "invalid_json (web)": 30, "missing_field (app)": 20, "wrong_type (transactions)": 10}
    sizes = dict(zip(data.cluster_sizes.labels, data.cluster_sizes.values))
    assert sizes["3-5"] == 99 and sizes["21-50"] == 1 and sum(sizes.values()) == 100
    assert sum(data.match_probabilities.values) == 50  # the deterministic edge is not counted
    assert data.match_probabilities.values[:10] == [0] * 10  # nothing below 0.5
    assert dict(zip(data.source_overlap.labels, data.source_overlap.values)) == {
        "app + social + transactions + web": 90, "web": 10}
    assert data.segment_sizes.series == {"at_risk": [40, 35, 30], "champions": [10, 14, 20]}
    assert dict(zip(data.rejected_links.labels, data.rejected_links.values)) == {
        "blocked_value": 7, "limit_exceeded:user_id": 3}


def test_report_file_has_every_chart_drawn(report_home, capsys):
    assert main(["report", "--home", str(report_home)]) == 0
    assert "7 of 7 charts drawn" in capsys.readouterr().out
    html = (report_home / "reports" / "report.html").read_text()
    for chart_id, title, *_ in CHARTS:
        assert f'data-chart="{chart_id}"' in html and title in html
    assert "No data yet" not in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert 'data-figure="f1"' in html and "0.985" in html


def test_fresh_warehouse_says_no_data_yet_per_chart(tmp_path):
    connect_home(tmp_path / "empty").close()
    result = build_report(tmp_path / "empty", tmp_path / "out" / "r.html")
    assert result.charts_drawn == 0 and len(result.charts_empty) == len(CHARTS)
    html = result.path.read_text()
    assert html.count('data-empty="true"') == len(CHARTS)
    assert "run <code>cdp resolve</code>" in html


def test_single_segment_run_shows_current_sizes(report_home):
    with connect_home(report_home) as con:
        con.execute("DELETE FROM segments.runs WHERE run_id <> 'run3'")
        data = collect(con)
    assert data.segment_sizes is None
    assert dict(zip(data.segment_current.labels, data.segment_current.values)) == {
        "at_risk": 30, "champions": 20}


def test_report_reads_the_snapshot_while_a_run_holds_the_warehouse(report_home, tmp_path):
    import subprocess
    import sys

    publish_snapshot(report_home)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, duckdb; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); sys.stdin.readline()", str(report_home / "warehouse.duckdb")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = build_report(report_home, tmp_path / "r.html")
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    assert result.source.name == "latest.duckdb"
    assert "latest published snapshot" in result.path.read_text()
    assert result.charts_drawn == len(CHARTS)


def test_personal_data_and_markup_in_labels_are_escaped(tmp_path):
    con = connect(tmp_path / "warehouse.duckdb")
    con.execute("CREATE TABLE raw.quarantine AS SELECT '<script>alert(1)</script>' AS reason")
    con.close()
    html = build_report(tmp_path).path.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("peak, expected_last", [(0, 1), (7, 8), (95, 100), (1234, 1250), (0.37, 0.4)])
def test_axis_ticks_cover_the_peak_with_round_steps(peak, expected_last):
    ticks = nice_ticks(peak)
    assert ticks[0] == 0 and ticks[-1] == pytest.approx(expected_last)
