"""A warehouse held by a reader, and a home that cannot be written, each say so in one line."""
from __future__ import annotations

import errno
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.cli import main
from warehouse.connection import WarehouseBusyError, connect, connect_home


def _src(tmp_path: Path) -> Path:
    web = tmp_path / "src" / "web"
    web.mkdir(parents=True)
    event = {"messageId": "m-1", "type": "page", "anonymousId": "a", "timestamp": "2026-01-01T10:00:00Z"}
    (web / "events_2026-01-01.ndjson").write_text(json.dumps(event) + "\n")
    return tmp_path / "src"


def _hold(database: Path, seconds: float) -> subprocess.Popen:
    """Another process (an analyst's notebook) holding the file open, read-only, for `seconds`."""
    code = (f"import duckdb, time; c = duckdb.connect({str(database)!r}, read_only=True); print('open', flush=True); "
            f"time.sleep({seconds})")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "open"
    return holder


def test_a_reader_holding_the_file_gets_one_line_and_exit_3(tmp_path, capsys):
    home = tmp_path / "home"
    connect_home(home).close()
    holder = _hold(home / "warehouse.duckdb", 60)
    try:
        started = time.monotonic()
        code = main(["ingest", "--home", str(home), "--from", str(_src(tmp_path))])
        err = capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert code == 3
    assert "is open in another process (pid" in err and "snapshots" in err and "Traceback" not in err
    assert time.monotonic() - started >= 4  # it retried a little before saying so


def test_a_short_read_is_waited_out(tmp_path):
    database = tmp_path / "w.duckdb"
    connect(database).close()
    holder = _hold(database, 1.0)
    try:
        connect(database, busy_retry_seconds=20).close()  # the reader lets go after ~1 s: we get in
    finally:
        holder.kill()
        holder.wait()
    with pytest.raises(WarehouseBusyError):
        holder = _hold(database, 30)
        try:
            connect(database, busy_retry_seconds=0.5)
        finally:
            holder.kill()
            holder.wait()


@pytest.mark.parametrize("code, reason", [(errno.EROFS, "read-only file system"),
                                          (errno.ENOSPC, "no space left on the device")])
def test_a_home_that_cannot_be_written_says_so_in_one_line(tmp_path, monkeypatch, capsys, code, reason):
    home = tmp_path / "home"
    real_mkdir = Path.mkdir

    def mkdir(self, *args, **kwargs):  # as root no chmod stops a write: refuse like the kernel would
        if str(self).startswith(str(home)):
            raise OSError(code, "nope", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.delenv("PREFECT_HOME", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    for argv in (["ingest", "--home", str(home), "--from", str(tmp_path)], ["run", "--home", str(home)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"cannot be written ({reason})" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) <= 2
    # Prefect's state elsewhere: the warehouse itself is the first thing written.
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    assert main(["ingest", "--home", str(home), "--from", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"cannot be written ({reason})" in err and "Traceback" not in err
