"""Collector throughput and latency on loopback, and a `kill -9` run that must lose nothing.

    .venv/bin/python benchmarks/collect.py                       # 300k events, batches of 100, 8 connections
    .venv/bin/python benchmarks/collect.py --events 500000 --connections 16 --gzip
    .venv/bin/python benchmarks/collect.py --kill                # + kill -9 mid-load, restart, ingest, verify

A `cdp collect` process (the command's plain function, uvloop + httptools) listens on 127.0.0.1;
this process is the load generator: asyncio tasks (uvloop) over keep-alive HTTP/1.1 connections
of its own (a few lines; httpx cost more CPU than the collector it measured), posting Segment
batches (`/v1/batch`, Basic auth, 80% web page/track/identify, 20% app screen/track, ~600 bytes
an event, unique messageIds), optionally gzipped as the SDKs send them. Bounded in
events and seconds, loopback only. Prints events/s, request latency p50/p99/max (from send to
the 200, which means fsynced), the collector's CPU per event, and the load average beside them:
both sides share the machine's cores, so measure it as quiet as you can.

`--kill`: at half the events the collector is killed with SIGKILL while requests are in flight,
restarted on the same port (it recovers its spooled segments first), and the clients resend every
batch that got no 200 (at-least-once, as SDKs do). Then the collector is stopped, the home is
ingested (`connectors.ingest_all`, only the collected folders) and checked:
acknowledged = landed = ingested, and no duplicate left in `raw.*` after dedupe.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402

KEYS = {"bench_web_key": "web", "bench_app_key": "app"}
WEB_KEY, APP_KEY = "bench_web_key", "bench_app_key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_collector(home: Path, port: int, env: dict[str, str]) -> subprocess.Popen:
    keys = [f"{k}={v}" for k, v in KEYS.items()]
    code = ("import sys; from pipelines.commands.collect import collect; "
            f"sys.exit(collect({str(home)!r}, '127.0.0.1', {port}, {keys!r}))")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, **env})
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            if "listening on" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(120):
        proc.kill()
        raise SystemExit("the collector did not start:\n" + "".join(lines))
    proc.output = lines  # type: ignore[attr-defined]
    return proc


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Events:
    """Realistic Segment events, serialized once as templates; each copy only gets a new messageId."""

    def __init__(self, timestamp: str):
        context = {"ip": "203.0.113.7", "locale": "es-ES",
                   "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                   "page": {"path": "/p/sku-1007", "url": "https://shop.example.com/p/sku-1007",
                            "title": "Product | Shop"},
                   "library": {"name": "analytics.js", "version": "next-1.70.0"},
                   "consent": {"categoryPreferences": {"marketing": False, "analytics": True}}}
        app_context = {"device": {"id": "3f1c9a2e-8b7d-4c1e-9f2a-6d5b4e3c2a1b", "manufacturer": "Samsung",
                                  "model": "SM-A546B", "type": "android"},
                       "app": {"name": "Shop", "version": "4.12.0", "build": "41200"},
                       "os": {"name": "Android", "version": "14"}, "locale": "es-ES",
                       "library": {"name": "analytics-android", "version": "4.11.3"}}
        web = [
            {"type": "page", "anonymousId": "2df013b3-3485-419b-ad72-5fa1bb087474", "name": "Product",
             "properties": {"path": "/p/sku-1007", "url": "https://shop.example.com/p/sku-1007",
                            "title": "Product | Shop"}, "context": context},
            {"type": "track", "anonymousId": "2df013b3-3485-419b-ad72-5fa1bb087474", "userId": "acct-000123",
             "event": "Product Viewed", "properties": {"sku": "sku-1007", "price": 19.99, "currency": "EUR"},
             "context": context},
            {"type": "identify", "anonymousId": "2df013b3-3485-419b-ad72-5fa1bb087474", "userId": "acct-000123",
             "traits": {"email": "maria.garcia@example.com", "firstName": "María", "lastName": "García",
                        "phone": "+34 612 345 678", "address": {"city": "Madrid", "country": "ES"}},
             "context": context},
        ]
        app = [
            {"type": "screen", "userId": "acct-000123", "anonymousId": "8c2e7f4a-1b3d-4e5f-a6b7-c8d9e0f1a2b3",
             "name": "Cart", "properties": {"items": 2}, "context": app_context},
            {"type": "track", "userId": "acct-000123", "anonymousId": "8c2e7f4a-1b3d-4e5f-a6b7-c8d9e0f1a2b3",
             "event": "Checkout Started", "properties": {"revenue": 39.98, "currency": "EUR"},
             "context": app_context},
        ]
        # `{"messageId":"<id>",` + the rest of the event: a batch is bytes joined, no JSON encoding per event.
        self.web = [orjson.dumps({**e, "timestamp": timestamp})[1:] for e in web]
        self.app = [orjson.dumps({**e, "timestamp": timestamp})[1:] for e in app]
        self.sent_at = timestamp.encode()

    def batch(self, source: str, first_id: int, size: int, run: str) -> tuple[bytes, list[str]]:
        templates = self.web if source == "web" else self.app
        ids = [f"{run}-{source}-{first_id + i}" for i in range(size)]
        events = b",".join(b'{"messageId":"' + m.encode() + b'",' + templates[(first_id + i) % len(templates)]
                           for i, m in enumerate(ids))
        return b'{"batch":[' + events + b'],"sentAt":"' + self.sent_at + b'"}', ids


class Connection:
    """A keep-alive HTTP/1.1 connection that only POSTs (the load generator must cost little CPU:
    it shares the machine's cores with the collector it measures)."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, head: bytes, body: bytes) -> int:
        """Send one request (`head` ends before Content-Length); the status code. OSError if down."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            self.writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            response = await self.reader.readuntil(b"\r\n\r\n")
            status = int(response[9:12])
            lowered = response.lower()
            at = lowered.find(b"content-length:")
            length = int(lowered[at + 15:lowered.index(b"\r\n", at)]) if at >= 0 else 0
            if length:
                await self.reader.readexactly(length)
            if b"connection: close" in lowered:
                self.close()
            return status
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.close()
            raise OSError("connection lost") from None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Load:
    """Senders sharing one budget of batches over `connections` keep-alive connections."""

    def __init__(self, port: int, events: Events, total: int, batch: int, connections: int, deadline: float,
                 compress: bool, run: str):
        self.port = port
        self.events, self.batch_size, self.connections = events, batch, connections
        self.batches = total // batch
        self.deadline, self.compress, self.run = deadline, compress, run
        self.next_batch = 0
        self.latencies: list[float] = []
        self.acked: set[str] = set()
        self.acked_events = 0
        self.refused: dict[int, int] = {}
        self.failed_batches: list[int] = []
        encoding = b"Content-Encoding: gzip\r\n" if compress else b""
        self.heads = {
            source: (b"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Authorization: Basic " + base64.b64encode(f"{key}:".encode()) + b"\r\n" + encoding)
            for source, key in (("web", WEB_KEY), ("app", APP_KEY))}

    def _body(self, number: int) -> tuple[bytes, bytes, list[str]]:
        source = "app" if number % 5 == 4 else "web"
        body, ids = self.events.batch(source, number * self.batch_size, self.batch_size, self.run)
        if self.compress:
            body = gzip.compress(body, compresslevel=1, mtime=0)
        return self.heads[source], body, ids

    async def _sender(self, retry_failed: bool) -> None:
        """Closed loop: the next batch as soon as the last is answered; with `retry_failed`, a batch
        without a 200 is sent again (same messageIds) until it gets one, as an SDK does."""
        connection = Connection(self.port)
        try:
            while time.monotonic() < self.deadline:
                if retry_failed and self.failed_batches:
                    number = self.failed_batches.pop()
                elif self.next_batch < self.batches:
                    number, self.next_batch = self.next_batch, self.next_batch + 1
                else:
                    return
                head, body, ids = self._body(number)
                while True:
                    started = time.perf_counter()
                    try:
                        status = await connection.post(head, body)
                    except OSError:
                        status = None
                    if status == 200:
                        self.latencies.append(time.perf_counter() - started)
                        self.acked.update(ids)
                        self.acked_events += len(ids)
                        break
                    if status is not None:
                        self.refused[status] = self.refused.get(status, 0) + 1
                    if not retry_failed:
                        self.failed_batches.append(number)
                        return
                    await asyncio.sleep(0.05)  # back off, then the same batch again
                    if time.monotonic() > self.deadline:
                        self.failed_batches.append(number)
                        return
        finally:
            connection.close()

    async def run_senders(self, retry_failed: bool) -> None:
        await asyncio.gather(*(self._sender(retry_failed) for _ in range(self.connections)))

    async def run_at_rate(self, events_per_second: float) -> None:
        """Open loop: a batch is due every batch/rate seconds whatever the answers; its latency counts
        from when it was due, so a stall is not hidden by senders waiting on it. At most one request
        per connection is in flight: a batch due while all are busy waits, and the wait counts."""
        interval = self.batch_size / events_per_second
        idle: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(self.connections):
            idle.put_nowait(Connection(self.port))

        async def send(connection: Connection, number: int, due: float) -> None:
            try:
                head, body, ids = self._body(number)
                status = await connection.post(head, body)
                if status == 200:
                    self.latencies.append(time.perf_counter() - due)
                    self.acked_events += len(ids)
                else:
                    self.refused[status] = self.refused.get(status, 0) + 1
            finally:
                idle.put_nowait(connection)

        start = time.perf_counter()
        tasks = []
        for number in range(self.batches):
            due = start + number * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            connection = await idle.get()
            if time.monotonic() > self.deadline:
                break
            tasks.append(asyncio.create_task(send(connection, number, due)))
        await asyncio.gather(*tasks)
        while not idle.empty():
            idle.get_nowait().close()


def run_async(coroutine):
    """asyncio.run on uvloop when it is installed (the generator's own overhead, kept low)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def health(port: int, query: str = "") -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health{query}", timeout=10) as response:
        return json.loads(response.read())


def server_ack_ms(port: int, requests: int, fsyncs: int) -> dict:
    """The collector's own time to acknowledge its last `requests` requests, and its last `fsyncs` fsyncs."""
    answer = health(port, f"?window={requests}&fsync_window={max(fsyncs, 1)}")
    return {**answer["ack_ms"], "fsync": answer["fsync_ms"]}


def _row(label: str, load: Load, seconds: float, cpu: float, client_cpu: float, server: dict) -> str:
    rate = load.acked_events / seconds
    return (f"{label:<30} {rate:>8,.0f} {_percentile(load.latencies, 0.5) * 1e3:>6.1f} "
            f"{_percentile(load.latencies, 0.99) * 1e3:>6.1f} {max(load.latencies) * 1e3:>6.1f} "
            f"{server['p50']:>6.1f} {server['p99']:>6.1f} "
            f"{load.acked_events:>8,} {seconds:>6.2f} {cpu / max(load.acked_events, 1) * 1e6:>7.1f} "
            f"{cpu / seconds:>6.2f} {client_cpu / seconds:>6.2f} {sum(load.refused.values()):>5} "
            f"{server['fsync']['p50']:>6.1f} {server['fsync']['p99']:>6.1f} {server['fsync']['max']:>6.1f}")


def throughput_run(args, home: Path, env: dict[str, str]) -> None:
    import resource

    port = _free_port()
    proc = start_collector(home, port, env)
    events = Events(datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"))

    def measured(label: str, run_name: str, rate: float | None) -> tuple[str, float, float]:
        load = Load(port, events, args.events, args.batch, args.connections, time.monotonic() + args.seconds,
                    args.gzip, run_name)
        fsyncs_before = health(port)["fsyncs"]
        cpu_before, started = cpu_seconds(proc.pid), time.perf_counter()
        mine = resource.getrusage(resource.RUSAGE_SELF)
        run_async(load.run_at_rate(rate) if rate else load.run_senders(retry_failed=False))
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = (after.ru_utime - mine.ru_utime) + (after.ru_stime - mine.ru_stime)
        server = server_ack_ms(port, len(load.latencies), health(port)["fsyncs"] - fsyncs_before)
        return (_row(label, load, seconds, cpu_seconds(proc.pid) - cpu_before, client_cpu, server),
                load.acked_events / seconds, _percentile(load.latencies, 0.99))

    try:
        # warm-up (imports, connections), not counted
        warm = Load(port, events, args.batch * 20, args.batch, args.connections, time.monotonic() + 30,
                    args.gzip, "warm")
        run_async(warm.run_senders(retry_failed=False))
        print(f"{'':<30} {'':>8} {'as the client saw it':^20} {'collector':^13} {'':>45} {'fsync':^20}")
        print(f"{'run':<30} {'events/s':>8} {'p50 ms':>6} {'p99 ms':>6} {'max ms':>6} {'p50 ms':>6} {'p99 ms':>6} "
              f"{'events':>8} {'secs':>6} {'µs CPU':>7} {'coll.':>6} {'client':>6} {'429s':>5} "
              f"{'p50 ms':>6} {'p99 ms':>6} {'max ms':>6}")
        best: dict[str, tuple[str, float, float]] = {}
        for repetition in range(args.repeat):
            runs = [(f"closed loop, {args.connections} connections", None)] + [
                (f"open loop at {rate:,.0f} events/s", rate) for rate in args.rate]
            for label, rate in runs:
                row = measured(label, f"r{repetition}-{rate or 'max'}", rate)
                print(row[0] + (f"   (load {_load_average().split()[0]})" if args.repeat > 1 else ""), flush=True)
                # closed loop: the fastest run; open loop: the lowest p99
                if label not in best or (row[1] > best[label][1] if rate is None else row[2] < best[label][2]):
                    best[label] = row
        if args.repeat > 1:
            print(f"best of {args.repeat} (shared machine: the others are runs slowed by other work):")
            for row, _, _ in best.values():
                print(row)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    landed = sum(1 for p in (home / "collected").glob("*/events_*.ndjson*") for _ in _lines(p))
    print(f"landed lines: {landed:,} (all acknowledged, warm-up included). Client latency: from when a batch was "
          "sent (closed loop) or due (open loop) to its 200; collector latency: from the request reaching the app "
          "to its 200 (body, parse, fsync); fsync: the collector's fdatasync calls (one per group commit); "
          "µs CPU: the collector's CPU per event; coll./client: cores used")


def _lines(path: Path):
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    if data and not data.endswith(b"\n"):
        raise SystemExit(f"{path.name} ends in a partial line")
    return data.splitlines()


def kill_run(args, home: Path, env: dict[str, str]) -> bool:
    port = _free_port()
    proc = start_collector(home, port, env)
    events = Events(datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
    load = Load(port, events, args.events, args.batch, args.connections, time.monotonic() + args.seconds * 3,
                args.gzip, "kill")
    killed_at = {}

    async def main() -> None:
        senders = asyncio.create_task(load.run_senders(retry_failed=True))
        while load.acked_events < args.events // 2 and not senders.done():
            await asyncio.sleep(0.01)
        killed_at["acked"] = load.acked_events
        killed_at["t"] = time.perf_counter()
        os.kill(proc.pid, signal.SIGKILL)  # requests in flight; the senders keep retrying
        await asyncio.get_running_loop().run_in_executor(None, proc.wait)
        restarted = await asyncio.get_running_loop().run_in_executor(None, start_collector, home, port, env)
        killed_at["restart_s"] = time.perf_counter() - killed_at["t"]
        killed_at["proc"] = restarted
        await senders

    started = time.perf_counter()
    run_async(main())
    seconds = time.perf_counter() - started
    proc = killed_at["proc"]
    recovered = [line.strip() for line in proc.output if "recovered" in line]
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    if load.failed_batches:
        print(f"warning: {len(load.failed_batches)} batch(es) never acknowledged before the time limit")

    landed_lines = [orjson.loads(line)["messageId"] for p in sorted((home / "collected").glob("*/events_*.ndjson*"))
                    for line in _lines(p)]
    landed = set(landed_lines)
    from connectors import ingest_all
    from warehouse.connection import connect_home

    empty = home.parent / "no_sources"
    empty.mkdir(exist_ok=True)
    ingest_started = time.perf_counter()
    results = ingest_all(home, empty, ["web", "app"])
    ingest_seconds = time.perf_counter() - ingest_started
    con = connect_home(home, read_only=True)
    try:
        ingested = {r[0] for r in con.execute(
            "SELECT messageId FROM raw.web_events UNION ALL SELECT messageId FROM raw.app_events").fetchall()}
        rows = con.execute("SELECT (SELECT count(*) FROM raw.web_events) + (SELECT count(*) FROM raw.app_events)"
                           ).fetchall()[0][0]
        quarantined = con.execute("SELECT count(*) FROM raw.quarantine").fetchall()[0][0]
    finally:
        con.close()
    duplicates_counted = sum(r.rows_duplicate for r in results)
    ok = load.acked == landed == ingested and rows == len(ingested) and quarantined == 0
    print(f"kill -9 after {killed_at['acked']:,} acknowledged events; restarted and serving again in "
          f"{killed_at['restart_s']:.1f} s; {'; '.join(recovered) or 'no recovery message'}")
    print(f"{'sent':>9} {'acknowledged':>13} {'landed (distinct)':>18} {'landed lines':>13} {'ingested rows':>14} "
          f"{'duplicates dropped':>19} {'left after dedupe':>18} {'quarantined':>12}")
    print(f"{load.batches * args.batch:>9,} {len(load.acked):>13,} {len(landed):>18,} {len(landed_lines):>13,} "
          f"{rows:>14,} {duplicates_counted:>19,} {rows - len(ingested):>18,} {quarantined:>12,}")
    print(f"whole kill run {seconds:.1f} s (with the restart), ingest {ingest_seconds:.1f} s; "
          f"acknowledged = landed = ingested: {'yes' if ok else 'NO'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000, help="events to send (default 300,000)")
    parser.add_argument("--batch", type=int, default=100, help="events per batch (default 100)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--seconds", type=float, default=120, help="time limit of the load (default 120)")
    parser.add_argument("--rate", type=float, nargs="*", default=[17_000],
                        help="open-loop rates (events/s) to measure latency at (default 17000)")
    parser.add_argument("--repeat", type=int, default=1, help="measure N times, keep the best of each run")
    parser.add_argument("--gzip", action="store_true", help="gzip request bodies (as the SDKs do)")
    parser.add_argument("--gzip-segments", action="store_true", help="the collector gzips rotated files")
    parser.add_argument("--kill", action="store_true", help="also the kill -9 run, then ingest and verify")
    parser.add_argument("--keep", type=Path, default=None, help="keep the homes under this folder")
    args = parser.parse_args()

    env = {"CDP_COLLECTOR__SEGMENTS__GZIP": "true" if args.gzip_segments else "false",
           "CDP_COLLECTOR__BACKPRESSURE__MIN_FREE_BYTES": str(64 << 20)}
    root = Path(tempfile.mkdtemp(prefix="cdp-collect-bench-", dir=args.keep))
    print(f"collector benchmark: {args.events:,} events, batches of {args.batch}, {args.connections} connections, "
          f"{'gzip' if args.gzip else 'plain'} bodies, loopback; python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores")
    print(f"load average before: {_load_average()}")
    ok = True
    try:
        throughput_run(args, root / "throughput" / "home", env)
        print(f"load average after the throughput run: {_load_average()}")
        if args.kill:
            ok = kill_run(args, root / "kill" / "home", env)
            print(f"load average after the kill run: {_load_average()}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"homes kept in {root}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
