"""The run report: figures from a fixture warehouse with data for every chart, and graceful gaps."""
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.report import CHARTS, build_report
from pipelines.report.data import collect
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
    # 8 segments over 3 runs, the last two in the same minute (their labels must still differ).
    con.execute("""CREATE TABLE segments.runs AS
        SELECT 'run' || r AS run_id, [TIMESTAMP '2026-03-01 02:00:00', TIMESTAMP '2026-03-02 02:00:05',
                                     TIMESTAMP '2026-03-02 02:00:40'][r] AS run_at,
               SEGMENTS[s] AS segment, 10 * s + r AS size
        FROM range(1, 4) a(r), range(1, 9) b(s),
             (SELECT ['app_users', 'at_risk', 'engaged_on_social_no_email', 'high_value', 'new_customers',
                      'social_leads_not_buyers', 'spanish_speaking', 'window_shoppers'] AS SEGMENTS)""")
    con.execute("""CREATE TABLE segments.membership AS
        SELECT 'champions' AS segment, 'cus_' || i AS customer_id, NULL AS exited_at FROM range(20) t(i)""")
    con.execute("""CREATE TABLE ops.evaluations AS SELECT * FROM (VALUES
        (TIMESTAMP '2026-03-02', 0.97, 0.96, 0.965), (TIMESTAMP '2026-03-03', 0.99, 0.98, 0.985))
        AS t(evaluated_at, precision, recall, f1)""")
    # The model: m and u per level, with the prior; two resolve runs in the same minute.
    con.execute("""CREATE TABLE identity.match_weights AS SELECT * FROM (VALUES
        ('_prior', -1, 'P(two random records match)', 0.001, NULL, -9.97, 'res_2'),
        ('first_name', 2, 'exact', 0.9, 0.01, 6.49, 'res_2'), ('first_name', 0, 'else', 0.1, 0.99, -3.3, 'res_2'),
        ('birth_date', 1, 'exact', 0.95, 0.001, 9.89, 'res_2'), ('birth_date', 0, 'else', 0.05, 0.999, -4.3, 'res_2'),
        ('first_name', 2, 'exact', 0.8, 0.02, 5.3, 'res_1'))
        AS t(comparison, level, level_name, m_probability, u_probability, match_weight, run_id)""")
    con.execute("""CREATE TABLE identity.runs AS SELECT * FROM (VALUES
        ('res_1', TIMESTAMP '2026-03-03 02:00:01', 96, 400, '{"normalize": 0.5, "scoring": 0.2}'),
        ('res_2', TIMESTAMP '2026-03-03 02:00:31', 100, 400, '{"normalize": 0.4, "scoring": 0.1}'))
        AS t(run_id, finished_at, customers, records, step_seconds)""")
    con.execute("""CREATE TABLE profiles.golden AS SELECT DISTINCT customer_id FROM identity.record_map""")
    con.execute("""CREATE TABLE profiles.consent AS
        SELECT customer_id, 'marketing' AS purpose, c % 3 = 0 AS granted
        FROM (SELECT customer_id, row_number() OVER (ORDER BY customer_id) AS c FROM profiles.golden) LIMIT 60""")
    con.execute("""CREATE TABLE ops.sync_runs AS SELECT * FROM (VALUES
        ('s1', 'crm_file', 'file', TIMESTAMP '2026-03-03 02:01', 'ok', 100, 0, 0, 0, 0),
        ('s2', 'crm_api', 'http', TIMESTAMP '2026-03-03 02:02', 'partial', 80, 5, 1, 14, 0))
        AS t(run_id, target, kind, finished_at, status, new_count, updated_count, deleted_count, failed_count,
             unchanged_count)""")
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
        "loads": 4, "records": 400, "customers": 100, "profiles": 100, "segments": 1,
    }
    assert data.evaluation == {"precision": 0.99, "recall": 0.98, "f1": 0.985}
    assert [e["f1"] for e in data.evaluations] == [0.965, 0.985]
    assert len(data.events_per_day.x) == 10 and data.events_per_day.x[0] == "2026-03-01"
    assert {s: sum(v) for s, v in data.events_per_day.series.items()} == {s: 100 for s in SOURCES}
    assert dict(zip(data.quarantine_reasons.labels, data.quarantine_reasons.values)) == {
        "invalid_json (web)": 30, "missing_field (app)": 20, "wrong_type (transactions)": 10}
    sizes = dict(zip(data.cluster_sizes.labels, data.cluster_sizes.values))
    assert sizes["3-5"] == 99 and sizes["21-50"] == 1 and sum(sizes.values()) == 100
    assert sum(data.match_probabilities.values) == 50  # the deterministic edge is not counted
    assert data.match_probabilities.values[:10] == [0] * 10  # nothing below 0.5
    # No histogram stored and no weights on the fixture's edges: no weight chart, no failure.
    assert data.match_weights is None
    assert [(r["comparison"], r["level_name"]) for r in data.m_u] == [
        ("birth_date", "exact"), ("birth_date", "else"), ("first_name", "exact"), ("first_name", "else")]
    assert data.prior_weight == -9.97
    assert [r["label"] for r in data.runs] == ["1: 03-03 02:00:01", "2: 03-03 02:00:31"]
    assert data.runs[1]["step_seconds"] == {"normalize": 0.4, "scoring": 0.1}
    assert {r["purpose"]: (r["granted"], r["refused"], r["unknown"]) for r in data.consent} == {
        "marketing": (20, 40, 40)}
    assert [(r["target"], r["failed"], r["status"]) for r in data.syncs] == [
        ("crm_api", 14, "partial"), ("crm_file", 0, "ok")]
    assert {r["source"] for r in data.freshness} == set(SOURCES)
    assert dict(zip(data.source_overlap.labels, data.source_overlap.values)) == {
        "app + social + transactions + web": 90, "web": 10}
    assert len(data.segment_sizes.series) == 8 and data.segment_sizes.series["at_risk"] == [21, 22, 23]
    assert data.segment_sizes.x == ["1: 03-01 02:00", "2: 03-02 02:00:05", "3: 03-02 02:00:40"]
    assert dict(zip(data.rejected_links.labels, data.rejected_links.values)) == {
        "blocked_value": 7, "limit_exceeded:user_id": 3}


def test_report_file_has_every_chart_drawn(report_home, capsys):
    assert main(["report", "--home", str(report_home)]) == 0
    drawn = len(CHARTS) - 1  # every chart but the match weights (the fixture's edges carry none)
    assert f"{drawn} of {len(CHARTS)} charts drawn" in capsys.readouterr().out
    html = (report_home / "reports" / "report.html").read_text()
    for chart_id, title, *_ in CHARTS:
        assert f'data-chart="{chart_id}"' in html and title in html
    assert html.count("No data yet") == 1
    # No scripts, nothing fetched: the only URLs are the SVG and XLink namespace names.
    namespaces = html.replace("http://www.w3.org/2000/svg", "").replace("http://www.w3.org/1999/xlink", "")
    assert "<script" not in html and "http://" not in namespaces and "https://" not in namespaces
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
    assert dict(zip(data.segment_current.labels, data.segment_current.values))["at_risk"] == 23


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
    assert result.charts_drawn == len(CHARTS) - 1


def test_personal_data_and_markup_in_labels_are_escaped(tmp_path):
    con = connect(tmp_path / "warehouse.duckdb")
    con.execute("CREATE TABLE raw.quarantine AS SELECT '<script>alert(1)</script>' AS reason")
    con.close()
    html = build_report(tmp_path).path.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_match_weights_come_from_the_stored_histogram_with_its_threshold(report_home):
    with connect_home(report_home) as con:
        con.execute("""CREATE TABLE identity.match_weight_histogram AS
            SELECT b - 20.0 AS bin_low, b - 19.0 AS bin_high, CAST(1000 / (1 + abs(b - 8)) AS BIGINT) AS pairs,
                   'res_2' AS run_id, 0.95 AS threshold FROM range(40) t(b)""")
        data = collect(con, threshold_probability=0.99)
    mw = data.match_weights
    assert len(mw["bins"]) == 40 and mw["bins"][0][0] == -20.0
    assert mw["threshold"] == pytest.approx(4.248, abs=0.01)  # the stored threshold wins: log2(0.95 / 0.05)
    assert "every scored candidate pair" in mw["scope"]


def test_without_a_histogram_the_weights_of_links_made_and_refused_are_drawn(report_home):
    with connect_home(report_home) as con:
        con.execute("ALTER TABLE identity.edges ADD COLUMN match_weight DOUBLE")
        con.execute("UPDATE identity.edges SET match_weight = 5 + right(left_record_id, 1)::INT "
                    "WHERE edge_kind = 'probabilistic'")
        data = collect(con, threshold_probability=0.97)
    mw = data.match_weights
    assert sum(n for _, _, n in mw["bins"]) == 50 and "links made" in mw["scope"]
    assert mw["threshold"] == pytest.approx(5.01, abs=0.01)
