"""The connection factory: no extension downloads, and DuckDB's memory capped (spilling beyond)."""
from warehouse.connection import connect


def _setting(con, name):
    return con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0]


def test_connections_cap_duckdb_memory_and_never_install_extensions(monkeypatch):
    monkeypatch.delenv("CDP_DUCKDB_MEMORY_LIMIT", raising=False)
    con = connect()
    assert _setting(con, "memory_limit") in ("3.7 GiB", "4.0 GB", "3.7GiB")
    assert _setting(con, "autoinstall_known_extensions") is False
    monkeypatch.setenv("CDP_DUCKDB_MEMORY_LIMIT", "512MB")
    assert _setting(connect(), "memory_limit") in ("488.2 MiB", "512.0 MB", "488.2MiB")
