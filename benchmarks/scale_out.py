"""Scale-out: the generated pipeline (`cdp run`), embedded against a local Dask cluster.

For each size, `cdp run --from SRC --home HOME --executor local|dask --json` runs in a fresh
process on a fresh home. A sampler thread reads the RSS of that process and of every descendant
(Dask nanny and worker processes, the temporary Prefect server) every 0.25 s, and keeps each
process's peak; the run's own summary gives the time of each stage. Prints one table row per run
and writes everything as JSON (`--out`).

    .venv/bin/python benchmarks/scale_out.py --customers 200000 --workers 2
    .venv/bin/python benchmarks/scale_out.py --customers 1000000 --source /tmp/gen1m/sources

`--source` reuses a generated folder (`cdp generate`); otherwise one is generated under `--work`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "suppressions", "resolve", "evaluate", "profiles", "segments", "consent", "syncs", "publish")


def _role(proc: psutil.Process, top: int) -> str:
    if proc.pid == top:
        return "cdp (flow, coordinator)"
    try:
        cmd = " ".join(proc.cmdline())
    except (psutil.Error, OSError):
        return "?"
    if "prefect.server" in cmd or "uvicorn" in cmd:
        return "prefect server"
    if "multiprocessing" in cmd or "spawn_main" in cmd:
        return "dask worker/nanny"
    return proc.name()


class TreeSampler(threading.Thread):
    """Peak RSS of a process and each of its descendants, sampled until `stop()`."""

    def __init__(self, pid: int, every: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peaks: dict[int, tuple[str, int]] = {}
        self.peak_total = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                top = psutil.Process(self.pid)
                procs = [top, *top.children(recursive=True)]
            except psutil.Error:
                break
            total = 0
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                role, peak = self.peaks.get(proc.pid, (None, 0))
                if role is None:
                    role = _role(proc, self.pid)
                self.peaks[proc.pid] = (role, max(peak, rss))
            self.peak_total = max(self.peak_total, total)
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def run_once(source: Path, home: Path, executor: str, workers: int, worker_memory: str) -> dict:
    shutil.rmtree(home, ignore_errors=True)
    env = dict(os.environ, CDP_PIPELINE__DASK__LOCAL_WORKERS=str(workers),
               CDP_PIPELINE__DASK__WORKER_MEMORY=worker_memory, NO_COLOR="1")
    env.pop("PREFECT_API_URL", None)  # each run starts (and stops) its own temporary server
    command = [sys.executable, "-m", "pipelines.cli", "run", "--from", str(source), "--home", str(home),
               "--executor", executor, "--json"]
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - started
    sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"cdp run --executor {executor} failed ({proc.returncode}):\n{err[-3000:]}")
    summary = json.loads(out)
    timings = summary.get("timings", {})
    steps = sum(timings.get(s, 0) for s in STAGES)
    by_role: dict[str, list[int]] = {}
    for role, peak in sampler.peaks.values():
        by_role.setdefault(role, []).append(peak)
    return {
        "executor": executor, "workers": workers if executor == "dask" else 0, "wall_s": round(wall, 1),
        "steps_s": round(steps, 1), "timings": timings,
        "share": {s: round(100 * timings.get(s, 0) / steps, 1) for s in STAGES if steps},
        "peak_rss_mb": {role: [round(p / 2**20) for p in sorted(peaks, reverse=True)] for role, peaks in by_role.items()},
        "peak_tree_rss_mb": round(sampler.peak_total / 2**20),
        "customers": (summary.get("resolve") or {}).get("customers"),
        "records": (summary.get("resolve") or {}).get("records"),
        "dask": summary.get("dask"),
    }


def _row(customers: int, r: dict) -> str:
    share = r["share"]
    top = ", ".join(f"{s} {share[s]:.0f}%" for s in sorted(share, key=share.get, reverse=True)[:4] if share[s] >= 1)
    coordinator = max(r["peak_rss_mb"].get("cdp (flow, coordinator)", [0]))
    workers = r["peak_rss_mb"].get("dask worker/nanny", [])
    return (f"| {customers:,} | {r['executor']}{' x' + str(r['workers']) if r['workers'] else ''} | {r['wall_s']:.1f} | "
            f"{r['timings'].get('ingest', 0):.1f} | {r['timings'].get('resolve', 0):.1f} | "
            f"{r['timings'].get('profiles', 0):.1f} | {coordinator:,} | "
            f"{'/'.join(f'{w:,}' for w in workers[:4]) or '-'} | {r['peak_tree_rss_mb']:,} | {top} |")


# What must be equal between an embedded run and a Dask run of the same source (as
# tests/pipelines/test_dask_executor.py asserts at 200 customers); run times and ids of runs differ.
SAME = {
    "record_map": "SELECT source, record_id, customer_id FROM identity.record_map",
    "golden": "SELECT * EXCLUDE (updated_at) FROM profiles.golden",
    "traits": "SELECT * FROM profiles.traits",
    "segments": "SELECT segment, customer_id FROM segments.membership WHERE exited_at IS NULL",
    "loads": "SELECT source, stream, rows_read, rows_loaded, rows_quarantined, rows_duplicate FROM ops.loads",
    "quarantine": "SELECT * EXCLUDE (load_id, quarantined_at) FROM raw.quarantine",
}


def compare_homes(left: Path, right: Path, work: Path) -> dict[str, dict]:
    """Rows of each SAME query in each home, and the rows only one of them has (EXCEPT ALL both
    ways, on Parquet exports: 16M record-map rows never come into Python)."""
    import duckdb

    work.mkdir(parents=True, exist_ok=True)
    for side, home in (("left", left), ("right", right)):
        con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        try:
            for name, sql in SAME.items():
                con.execute(f"COPY ({sql}) TO '{work / f'{side}_{name}.parquet'}' (FORMAT parquet)")
        finally:
            con.close()
    con = duckdb.connect()
    out = {}
    for name in SAME:
        a, b = (f"read_parquet('{work / f'{side}_{name}.parquet'}')" for side in ("left", "right"))
        rows, only_left, only_right = con.execute(
            f"SELECT (SELECT count(*) FROM {a}), (SELECT count(*) FROM (SELECT * FROM {a} EXCEPT ALL SELECT * FROM {b})), "
            f"(SELECT count(*) FROM (SELECT * FROM {b} EXCEPT ALL SELECT * FROM {a}))").fetchall()[0]
        out[name] = {"rows": rows, "only_embedded": only_left, "only_dask": only_right}
    con.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[200_000])
    parser.add_argument("--source", type=Path, help="a generated folder to reuse (one --customers value)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/scale_out"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-memory", default="6GiB")
    parser.add_argument("--executors", nargs="+", default=["local", "dask"], choices=["local", "dask"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, help="write every figure as JSON here")
    args = parser.parse_args()
    if args.source and len(args.customers) != 1:
        parser.error("--source goes with one --customers value (the size it was generated at)")
    print("| customers | executor | wall s | ingest s | resolve s | profiles s | coordinator peak MB | "
          "worker peaks MB | tree peak MB | largest stage shares |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    results = []
    for customers in args.customers:
        source = args.source or args.work / f"src{customers}"
        if not args.source and not (source / "manifest.json").exists():
            from pipelines.sample_data import generate

            generate(source, customers, args.seed)
        for executor in args.executors:
            r = run_once(source, args.work / f"home{customers}-{executor}", executor, args.workers, args.worker_memory)
            r["customers_generated"] = customers
            results.append(r)
            print(_row(customers, r), flush=True)
        if set(args.executors) == {"local", "dask"}:
            same = compare_homes(args.work / f"home{customers}-local", args.work / f"home{customers}-dask",
                                 args.work / f"compare{customers}")
            results.append({"customers_generated": customers, "equal": same})
            for name, c in same.items():
                verdict = "equal" if c["only_embedded"] == c["only_dask"] == 0 else "DIFFERENT"
                print(f"{customers:,} customers, {name}: {c['rows']:,} rows, {verdict} "
                      f"(only embedded {c['only_embedded']:,}, only dask {c['only_dask']:,})", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
