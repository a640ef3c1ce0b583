"""Durable landing of collected events: open segment files, group commit, rotation, recovery.

One `SegmentWriter` per source owns a thread and the source's open segment
`HOME/collected/.spool/<source>/events_<UTC time>_<seq>.ndjson`. Requests hand it whole lines;
the thread takes everything queued since its last round, appends it with one write, fsyncs once
(group commit: one fsync acknowledges every request of the round, so throughput holds under
concurrency), then settles the requests' futures. A request is acknowledged only after that.

A segment is rotated once it holds `max_bytes` or its first line is `max_age_seconds` old: it is
closed and moved (or gzip-compressed, then moved) into `HOME/collected/<source>/` under the same
name. The connectors only read that folder, and only names matching `events_*.ndjson[.gz]`, so an
open segment is never read. Names sort by time, then sequence, and never go back in time (a clock
stepping back reuses the latest time seen), so every new file sorts after the earlier ones.

A crash can leave at most the end of the open segment unacknowledged: a partial last line, or whole
lines of requests never answered (clients retry those, and ingest dedupes on `messageId`). On
start, `recover()` truncates each spooled segment after its last newline and rotates it.

Only one collector lands into a home at a time (`HOME/collected/.collector.lock`, an flock the
kernel releases when the process dies, even by `kill -9`).
"""
from __future__ import annotations

import asyncio
import fcntl
import gzip
import logging
import os
import re
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from config.collector import COLLECTED_SOURCES, CollectorSettings, SegmentSettings
from warehouse.layout import HomeLayout

log = logging.getLogger(__name__)

_SEGMENT_NAME = re.compile(r"^events_(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z)_(\d+)\.ndjson(\.gz)?$")
_TAIL_CHUNK = 1 << 16


class LandingError(RuntimeError):
    """Events could not be made durable (disk error): nothing was acknowledged; retry later."""


class LandingBusy(RuntimeError):
    """The queue or the landing disk is full: answer 429 with Retry-After."""


class CollectorRunningError(RuntimeError):
    """Another collector holds the home's landing folder."""


def collected_folder(home: str | Path, source: str) -> Path:
    """Where rotated segments of `source` land: the folder its connector reads besides its own."""
    return HomeLayout(Path(home)).collected / source


def spool_folder(home: str | Path, source: str) -> Path:
    return HomeLayout(Path(home)).collected / ".spool" / source


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


_sync = getattr(os, "fdatasync", os.fsync)


def truncate_partial_line(path: Path) -> int:
    """Cut `path` after its last newline; the number of bytes removed (a torn, unacknowledged line)."""
    size = path.stat().st_size
    keep = 0
    with open(path, "r+b") as handle:
        end = size
        while end > 0:
            start = max(0, end - _TAIL_CHUNK)
            handle.seek(start)
            block = handle.read(end - start)
            index = block.rfind(b"\n")
            if index >= 0:
                keep = start + index + 1
                break
            end = start
        if keep < size:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
    return size - keep


@dataclass
class RecoveryReport:
    source: str
    segments: int = 0  # spooled segments found at start
    rotated: int = 0  # of them moved into the collected folder
    torn_bytes: int = 0  # bytes of partial last lines removed (never acknowledged)
    names: list[str] = field(default_factory=list)


@dataclass
class _Request:
    data: bytes
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


def _settle(requests: list[_Request], error: BaseException | None) -> None:
    for request in requests:
        if request.future.done():  # the client went away; its lines landed all the same
            continue
        if error is None:
            request.future.set_result(None)
        else:
            request.future.set_exception(error)


class SegmentWriter:
    """The open segment of one source and the thread that appends, fsyncs and rotates it."""

    def __init__(self, source: str, spool_dir: Path, out_dir: Path, settings: SegmentSettings,
                 sync_log: deque | None = None):
        self.source = source
        self.spool_dir = spool_dir
        self.out_dir = out_dir
        self.settings = settings
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._pending = 0
        self._stopping = False
        self._rotate_requested = False
        self._broken: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._opened_at = 0.0
        self._last_stamp = ""
        self._seq = 0
        self._finish_lock = threading.Lock()
        self._closed: deque[Path] = deque()
        self.landed_lines = 0
        self.rotated_files = 0
        # recent fsync durations (shared by the writers of one Landing), for /health
        self.sync_seconds: deque[float] = sync_log if sync_log is not None else deque(maxlen=10_000)
        self.fsyncs = 0

    # -- start and stop -------------------------------------------------------------------------
    def recover(self) -> RecoveryReport:
        """Before accepting anything: finish what a previous process left in the spool."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.out_dir.glob(".events_*.tmp"):  # a compression cut short
            stale.unlink()
        for path in list(self.out_dir.iterdir()) + list(self.spool_dir.iterdir()):
            self._note_name(path.name)
        report = RecoveryReport(self.source)
        for path in sorted(self.spool_dir.glob("events_*.ndjson"), key=lambda p: p.name):
            report.segments += 1
            if (self.out_dir / path.name).exists() or (self.out_dir / f"{path.name}.gz").exists():
                path.unlink()  # finished before the crash, only the spooled copy was left
                continue
            torn = truncate_partial_line(path)
            report.torn_bytes += torn
            if torn:
                log.warning("collector %s: removed a partial last line (%d bytes, never acknowledged) "
                            "from segment %s", self.source, torn, path.name)
            if path.stat().st_size == 0:
                path.unlink()
                continue
            self._finish(path)
            report.rotated += 1
            report.names.append(path.name)
        _fsync_dir(self.spool_dir)
        return report

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"cdp-collect-{self.source}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Land what is queued, rotate the open segment, and end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        self._finish_closed()

    # -- the request side -----------------------------------------------------------------------
    @property
    def pending_bytes(self) -> int:
        return self._pending

    @property
    def failed(self) -> bool:
        """The disk failed in a way the writer could not undo: it refuses events until restart."""
        return self._broken is not None

    def submit(self, data: bytes, loop: asyncio.AbstractEventLoop, future: asyncio.Future) -> None:
        with self._cond:
            if self._broken is not None:
                raise LandingError(f"collector {self.source}: the landing disk failed "
                                   f"({type(self._broken).__name__}); restart the collector")
            if self._stopping:
                raise LandingBusy("the collector is shutting down")
            self._queue.append(_Request(data, loop, future))
            self._pending += len(data)
            self._cond.notify()

    def rotate_soon(self) -> None:
        """Rotate the open segment at the next round (tests, benchmarks, shutdown)."""
        with self._cond:
            self._rotate_requested = True
            self._cond.notify()

    # -- the writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping and not self._rotate_requested:
                    if self._fd is not None and self._size:
                        left = self._opened_at + self.settings.max_age_seconds - time.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                    else:
                        self._cond.wait()
                batch, self._queue = self._queue, []
                stopping, rotate = self._stopping, self._rotate_requested
                self._rotate_requested = False
            if batch:
                self._commit(batch)
            if self._fd is not None and (rotate or stopping or self._size >= self.settings.max_bytes
                                         or time.monotonic() - self._opened_at >= self.settings.max_age_seconds):
                self._rotate()
            if stopping:
                with self._cond:
                    if not self._queue:
                        return

    def _commit(self, batch: list[_Request]) -> None:
        data = b"".join(r.data for r in batch)
        error: BaseException | None = None
        try:
            if self._broken is not None:
                raise LandingError(f"collector {self.source}: the landing disk failed earlier")
            if self._fd is None:
                self._open_segment()
            try:
                _write_all(self._fd, data)
                synced = time.perf_counter()
                _sync(self._fd)
                self.sync_seconds.append(time.perf_counter() - synced)
                self.fsyncs += 1
            except OSError as exc:
                self._undo_partial_write(exc)
                raise LandingError(f"collector {self.source}: could not write to the landing disk "
                                   f"({type(exc).__name__}: errno {exc.errno}); nothing of this request "
                                   "was acknowledged") from None
            self._size += len(data)
            self.landed_lines += data.count(b"\n")
        except LandingError as exc:
            error = exc
        except OSError as exc:  # opening the segment failed
            error = LandingError(f"collector {self.source}: cannot open a segment file "
                                 f"({type(exc).__name__}: errno {exc.errno})")
        finally:
            with self._cond:
                self._pending -= len(data)
        by_loop: dict[int, tuple[asyncio.AbstractEventLoop, list[_Request]]] = {}
        for request in batch:
            by_loop.setdefault(id(request.loop), (request.loop, []))[1].append(request)
        for loop, requests in by_loop.values():
            try:
                loop.call_soon_threadsafe(_settle, requests, error)
            except RuntimeError:  # that loop is closed: nobody is waiting
                pass

    def _undo_partial_write(self, exc: OSError) -> None:
        """Cut the segment back to its last acknowledged byte, so a failed write leaves no half line."""
        try:
            os.ftruncate(self._fd, self._size)
            os.fsync(self._fd)
        except OSError:
            self._broken = exc
            log.error("collector %s: write failed and the segment could not be cut back; refusing "
                      "events until restart (recovery will cut the partial line)", self.source)

    def _note_name(self, name: str) -> None:
        match = _SEGMENT_NAME.match(name)
        if match:
            self._last_stamp = max(self._last_stamp, match.group(1))
            self._seq = max(self._seq, int(match.group(2)))

    def _open_segment(self) -> None:
        stamp = max(datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ"), self._last_stamp)
        self._last_stamp = stamp
        self._seq += 1
        path = self.spool_dir / f"events_{stamp}_{self._seq:06d}.ndjson"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        _fsync_dir(self.spool_dir)  # the file's name survives a crash, not only its bytes
        self._path, self._size, self._opened_at = path, 0, time.monotonic()

    def _rotate(self) -> None:
        fd, path, size = self._fd, self._path, self._size
        self._fd, self._path, self._size = None, None, 0
        try:
            os.close(fd)
        except OSError:
            pass
        if not size:
            path.unlink(missing_ok=True)
            return
        with self._finish_lock:
            self._closed.append(path)
        # Compression runs off the writer thread, so requests are not held up by it.
        threading.Thread(target=self._finish_closed, name=f"cdp-rotate-{self.source}", daemon=True).start()

    def _finish_closed(self) -> None:
        with self._finish_lock:
            while self._closed:
                path = self._closed[0]
                try:
                    self._finish(path)
                except OSError as exc:
                    log.error("collector %s: could not rotate segment %s (%s); it stays spooled and is "
                              "retried at the next rotation or restart", self.source, path.name,
                              type(exc).__name__)
                    return
                self._closed.popleft()

    def _finish(self, path: Path) -> None:
        """Move a closed, fully written segment into the collected folder (compressed if configured)."""
        if self.settings.gzip:
            final = self.out_dir / f"{path.name}.gz"
            tmp = self.out_dir / f".{path.name}.gz.tmp"
            with open(path, "rb") as src, open(tmp, "wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=3, mtime=0) as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                raw.flush()
                os.fsync(raw.fileno())
            os.rename(tmp, final)
            _fsync_dir(self.out_dir)
            path.unlink()
            _fsync_dir(self.spool_dir)
        else:
            os.rename(path, self.out_dir / path.name)
            _fsync_dir(self.out_dir)
            _fsync_dir(self.spool_dir)
        self.rotated_files += 1


class Landing:
    """Every source's writer, the home's collector lock, and the back-pressure checks."""

    def __init__(self, home: str | Path, settings: CollectorSettings):
        self.home = Path(home)
        self.settings = settings
        self.root = HomeLayout(self.home).collected
        self.sync_seconds: deque[float] = deque(maxlen=10_000)
        self.writers = {
            source: SegmentWriter(source, spool_folder(home, source), collected_folder(home, source),
                                  settings.segments, self.sync_seconds)
            for source in COLLECTED_SOURCES
        }
        self._lock_handle = None
        self._free_checked_at = 0.0
        self._free_bytes = 0
        self.recovery: list[RecoveryReport] = []

    def open(self) -> list[RecoveryReport]:
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.root / ".collector.lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise CollectorRunningError(f"another cdp collect is landing events into {self.root}; stop it "
                                        "first (one collector per home)") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_handle = handle
        self.recovery = [writer.recover() for writer in self.writers.values()]
        for writer in self.writers.values():
            writer.start()
        return self.recovery

    def close(self) -> None:
        for writer in self.writers.values():
            writer.stop()
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    @property
    def pending_bytes(self) -> int:
        return sum(w.pending_bytes for w in self.writers.values())

    def free_bytes(self) -> int:
        now = time.monotonic()
        if now - self._free_checked_at > 0.25:
            self._free_bytes = shutil.disk_usage(self.root).free
            self._free_checked_at = now
        return self._free_bytes

    def refusal(self, size: int) -> str | None:
        """Why `size` more bytes cannot be accepted now (429), or None."""
        pressure = self.settings.backpressure
        if self.pending_bytes + size > pressure.max_pending_bytes:
            return "the collector's write queue is full"
        if self.free_bytes() - self.pending_bytes - size < pressure.min_free_bytes:
            return "the landing disk is below its free-space floor"
        return None

    async def append(self, source: str, data: bytes) -> None:
        """Return once `data` (whole NDJSON lines) is on disk; raise LandingBusy or LandingError."""
        reason = self.refusal(len(data))
        if reason:
            raise LandingBusy(reason)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.writers[source].submit(data, loop, future)
        await future

    def rotate_all(self) -> None:
        for writer in self.writers.values():
            writer.rotate_soon()


__all__ = ["Landing", "SegmentWriter", "LandingBusy", "LandingError", "CollectorRunningError",
           "collected_folder", "spool_folder", "truncate_partial_line", "RecoveryReport"]
