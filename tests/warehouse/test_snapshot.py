"""Published snapshots: consistent, readable while a writer holds the main file, views resolve, pruned."""
import os
import subprocess
import sys
import textwrap

import pytest

from warehouse.connection import connect_home
from warehouse.layout import HomeLayout
from warehouse.snapshot import latest_snapshot_path, list_snapshots, open_latest, publish_snapshot


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Views are created with paths relative to the working folder, as a careless writer might."""
    monkeypatch.chdir(tmp_path)


def _build_home(home, cwd):
    """A small warehouse with a table, a comment and a view over raw Parquet by a RELATIVE path."""
    layout = HomeLayout(home).ensure()
    (layout.raw / "web_events").mkdir(parents=True)
    con = connect_home(home)
    con.execute(f"COPY (SELECT 'm1' AS messageId UNION ALL SELECT 'm2') TO "
                f"'{layout.raw / 'web_events' / 'part-0.parquet'}'")
    rel = os.path.relpath(layout.raw / "web_events", cwd)
    con.execute(f"CREATE VIEW raw.web_events AS SELECT * FROM read_parquet('{rel}/*.parquet')")
    con.execute("CREATE TABLE identity.customers AS SELECT 'cus_1' AS customer_id, 3 AS record_count")
    con.execute("COMMENT ON TABLE identity.customers IS 'one row per customer'")
    return con


def test_snapshot_is_a_consistent_copy_with_views_that_resolve(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.chdir(tmp_path)
    con = _build_home(home, tmp_path)
    path = publish_snapshot(con, keep=2)
    con.execute("INSERT INTO identity.customers VALUES ('cus_2', 1)")  # after publishing: not in it
    con.close()

    assert path.parent == HomeLayout(home).snapshots and path.name.startswith("warehouse-")
    monkeypatch.chdir(tmp_path.parent)  # a reader elsewhere: the relative path would not resolve
    snap = open_latest(home)
    assert snap.execute("SELECT count(*) FROM identity.customers").fetchone()[0] == 1
    assert snap.execute("SELECT count(*) FROM raw.web_events").fetchone()[0] == 2
    comment = snap.execute(
        "SELECT comment FROM duckdb_tables() WHERE table_name = 'customers'").fetchone()[0]
    assert comment == "one row per customer"
    with pytest.raises(Exception):
        snap.execute("CREATE TABLE ops.x (a INT)")  # read-only
    snap.close()


def test_keeps_last_n_and_latest_points_at_newest(tmp_path):
    home = tmp_path / "home"
    con = _build_home(home, tmp_path)
    published = []
    for n in range(4):
        con.execute("INSERT INTO identity.customers VALUES (?, 1)", [f"cus_x{n}"])
        published.append(publish_snapshot(con, keep=2))
    con.close()
    assert list_snapshots(home) == published[-2:]
    assert os.path.samefile(latest_snapshot_path(home), published[-1])
    assert (HomeLayout(home).snapshots / "LATEST").read_text().strip() == published[-1].name
    with open_latest(home) as snap:
        assert snap.execute("SELECT count(*) FROM identity.customers").fetchone()[0] == 5
    assert not list(HomeLayout(home).snapshots.glob(".*tmp*"))


def test_publish_from_home_path(tmp_path):
    home = tmp_path / "home"
    _build_home(home, tmp_path).close()
    path = publish_snapshot(home)
    assert path.exists()


def test_reader_opens_snapshot_while_another_process_writes_main_file(tmp_path):
    home = tmp_path / "home"
    _build_home(home, tmp_path).close()
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from warehouse.connection import connect_home
            from warehouse.snapshot import publish_snapshot
            con = connect_home({str(home)!r})
            con.execute("INSERT INTO identity.customers VALUES ('cus_w', 7)")
            publish_snapshot(con)
            con.execute("INSERT INTO identity.customers VALUES ('cus_later', 1)")
            print("published", flush=True)
            sys.stdin.readline()  # keep holding the main file until the test says so
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tmp_path,
    )
    try:
        assert writer.stdout.readline().strip() == "published"
        with pytest.raises(Exception, match="(?i)lock"):
            connect_home(home, read_only=True)  # the main file is held by the writer ...
        with open_latest(home) as snap:  # ... but the snapshot opens
            ids = {r[0] for r in snap.execute("SELECT customer_id FROM identity.customers").fetchall()}
        assert ids == {"cus_1", "cus_w"}
    finally:
        writer.stdin.write("\n")
        writer.stdin.flush()
        writer.wait(timeout=30)


def test_missing_snapshot_error_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the pipeline"):
        open_latest(tmp_path)
