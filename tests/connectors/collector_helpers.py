"""Collectors for tests: in a thread of the test process, or a `cdp collect` subprocess to kill."""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

from config.collector import CollectorSettings
from connectors.collector.landing import collected_folder, spool_folder

REPO_ROOT = Path(__file__).resolve().parents[2]
WRITE_KEYS = {"wk_web_test": "web", "wk_app_test": "app"}
WEB_KEY, APP_KEY = "wk_web_test", "wk_app_test"


def settings(**overrides) -> CollectorSettings:
    base = {"host": "127.0.0.1", "port": 0, "write_keys": dict(WRITE_KEYS)}
    return CollectorSettings.model_validate({**base, **overrides})


class ThreadedCollector:
    """uvicorn serving the collector app on 127.0.0.1:<free port> in a thread; stopping it rotates."""

    def __init__(self, home: Path, **overrides):
        import uvicorn

        from connectors.collector.app import create_app
        from connectors.collector.server import _fastest

        self.home = Path(home)
        self.settings = settings(**overrides)
        self.app = create_app(self.home, self.settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, loop=_fastest("loop"), http=_fastest("http"),
                                lifespan="on", log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="test-collector", daemon=True)

    def __enter__(self) -> "ThreadedCollector":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test collector did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def landing(self):
        return self.app.state.landing

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def __exit__(self, *exc) -> None:
        self.stop()


def start_collector_process(home: Path, *, env: dict | None = None, extra_args: tuple[str, ...] = ()):
    """`cdp collect --port 0` in a subprocess; returns (process, port) once it listens."""
    # The command's plain function, as `cdp collect --home HOME --port 0 --write-key ...` calls it.
    keys = [f"{key}={source}" for key, source in WRITE_KEYS.items()]
    code = ("import sys; from pipelines.commands.collect import collect; "
            f"sys.exit(collect({str(home)!r}, '127.0.0.1', 0, {keys!r}))")
    proc = subprocess.Popen([sys.executable, "-c", code, *extra_args], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, **(env or {})})
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    deadline = time.monotonic() + 90
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if "listening on http://" in line:
            port = int(line.split("listening on http://", 1)[1].split()[0].rsplit(":", 1)[1])
            proc.output_lines = seen  # type: ignore[attr-defined]
            return proc, port
    proc.kill()
    raise RuntimeError("cdp collect did not start: " + "".join(seen))


def collected_files(home: Path, source: str) -> list[Path]:
    folder = collected_folder(home, source)
    return sorted(folder.glob("events_*.ndjson*")) if folder.is_dir() else []


def spooled_files(home: Path, source: str) -> list[Path]:
    folder = spool_folder(home, source)
    return sorted(folder.glob("events_*.ndjson")) if folder.is_dir() else []


def collected_events(home: Path, source: str) -> list[dict]:
    import gzip

    events = []
    for path in collected_files(home, source):
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        assert data == b"" or data.endswith(b"\n"), f"{path.name} ends in a partial line"
        events += [orjson.loads(line) for line in data.splitlines() if line]
    return events


def ingest_collected(home: Path, tmp_path: Path, sources=("web", "app")):
    """Ingest `home` reading only what was collected (the configured folders replaced by an empty one)."""
    from connectors import ingest_all

    empty = tmp_path / "no_sources"
    empty.mkdir(exist_ok=True)
    return ingest_all(home, empty, list(sources))
