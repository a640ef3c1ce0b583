"""Run the collector: `serve(home, settings)` is the plain function behind `cdp collect`.

One process, one event loop (uvloop and the httptools parser when installed): the HTTP side
parses and stamps events, one writer thread per source appends and fsyncs them, so the two cores
of a small machine are both busy. The landing folder is opened (locked, recovered) before the
port is bound, so a second collector on the same home fails at once with a clear message.
"""
from __future__ import annotations

import gc
import importlib.util
import logging
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from config.collector import CollectorSettings
from connectors.collector.landing import Landing, RecoveryReport

log = logging.getLogger(__name__)


def _fastest(kind: str) -> str:
    module = {"loop": "uvloop", "http": "httptools"}[kind]
    return module if importlib.util.find_spec(module) else ("asyncio" if kind == "loop" else "h11")


def serve(home: str | Path, settings: CollectorSettings,
          on_ready: Callable[[str, int, list[RecoveryReport]], None] | None = None) -> None:
    """Land events posted to `settings.host:settings.port` into `home` until SIGINT/SIGTERM.

    `on_ready(host, port, recovery)` is called once the port is bound (port 0 picks a free one).
    On shutdown the requests in flight are answered, then every open segment is rotated.
    """
    import uvicorn

    from connectors.collector.app import create_app

    if not settings.write_keys:
        raise ValueError("no write keys: add `write_keys: {KEY: web}` to config/collector.yaml or pass "
                         "--write-key KEY=web (or KEY=app); without one every request would get 401")
    landing = Landing(home, settings)
    recovery = landing.open()
    try:
        app = create_app(home, settings, landing)
        # Everything imported so far (FastAPI, pydantic, the connectors' DuckDB and Arrow modules) lives
        # as long as the process: out of the collector's way, a full collection of what requests leave
        # behind takes well under a millisecond instead of ~60 ms that held up every request in flight.
        gc.collect()
        gc.freeze()
        config = uvicorn.Config(app, host=settings.host, port=settings.port, loop=_fastest("loop"),
                                http=_fastest("http"), lifespan="on", access_log=False, log_level="warning",
                                timeout_graceful_shutdown=10, server_header=False)

        class _Server(uvicorn.Server):
            async def startup(self, sockets=None) -> None:
                await super().startup(sockets)
                if self.started and on_ready is not None:
                    bound = self.servers[0].sockets[0].getsockname()
                    on_ready(settings.host, bound[1], recovery)

        with _signals_end_serving():
            _Server(config).run()
    finally:
        landing.close()


@contextmanager
def _signals_end_serving():
    """SIGINT/SIGTERM end the server, then the open segments are rotated.

    uvicorn re-raises the signal it caught once it has stopped; with the default handlers that
    would end the process (SIGTERM) or raise KeyboardInterrupt before the landing is closed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: None)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["serve"]
