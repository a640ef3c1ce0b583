"""Identity resolution on a generated warehouse at pipeline scale: a full run, then an incremental
run with a held-out share of the records (default 1%), each in a fresh process so its peak RSS is
its own. Prints wall time, peak RSS, the step times and the quality against the generator's truth.

    .venv/bin/cdp generate --customers 1000000 --out /tmp/gen1m/sources --home /tmp/gen1m/home
    .venv/bin/cdp ingest --from /tmp/gen1m/sources --home /tmp/gen1m/home
    .venv/bin/python benchmarks/resolve_warehouse.py /tmp/gen1m/home --truth /tmp/gen1m/sources/truth.parquet

With --check-full, a third run resolves every record in full with the stored model and counts
the records whose customer differs from the incremental run's (incremental = full at scale).

The home's warehouse is copied first (its staging is left as it was). The held-out records are
the same for every run: a hash of (source, record_id) picks them.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, logging, resource, sys, time
sys.path.insert(0, sys.argv[1])
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
import duckdb, os, threading
from identity.resolution import resolve

def _trace_rss(cursor, every=float(os.environ.get("RSS_EVERY", "10"))):
    # the RSS over time beside the step log, so a peak can be put on the step that made it; with
    # DuckDB's own share (its buffer manager's memory, and what it spilled), the rest is Python's
    page = os.sysconf("SC_PAGE_SIZE")
    while True:
        with open("/proc/self/statm") as f:
            rss = int(f.read().split()[1]) * page / 2**20
        held, spilled = cursor.execute("SELECT sum(memory_usage_bytes), sum(temporary_storage_bytes) "
                                       "FROM duckdb_memory()").fetchall()[0]
        logging.info("rss %.0f MB (duckdb %.0f MB, spilled %.0f MB)", rss, held / 2**20, spilled / 2**20)
        time.sleep(every)

database, mode, share, truth = sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
con = duckdb.connect(database)
threading.Thread(target=_trace_rss, args=(con.cursor(),), daemon=True).start()
con.execute("SET enable_progress_bar = false")
held = f"hash(source, record_id, 'held-out') % 100000 < {int(share * 100000)}"
settings = None
if mode == "full":
    con.execute(f"CREATE TABLE staging._held_out AS SELECT * FROM staging.customer_records WHERE {held}")
    con.execute(f"DELETE FROM staging.customer_records WHERE {held}")
elif mode == "incremental":
    con.execute("INSERT INTO staging.customer_records SELECT * FROM staging._held_out")
    con.execute("DROP TABLE staging._held_out")
else:  # "same-model": a full run over every record with the stored model, to hold the incremental one against
    from config.identity import load_identity_settings
    settings = load_identity_settings()
    settings = settings.model_copy(update={"match": settings.match.model_copy(update={"retrain": False})})
    con.execute("CREATE OR REPLACE TABLE staging._incremental_map AS SELECT source, record_id, customer_id "
                "FROM identity.record_map")
con.execute("CHECKPOINT")
started = time.perf_counter()
summary = resolve(con, mode="full" if mode == "same-model" else mode, settings=settings)
seconds = time.perf_counter() - started
out = {"mode": mode, "seconds": seconds, "records": summary.records, "new_records": summary.new_records,
       "customers": summary.customers, "steps": summary.step_seconds,
       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
if truth:  # in DuckDB, where the record map is (as a Polars frame it took 11 GB at 1M customers)
    from identity.evaluation import evaluate_relations
    quality = evaluate_relations(con, "identity.record_map", "read_parquet('" + truth.replace("'", "''") + "')")
    out["quality"] = {k: v for k, v in quality.items() if isinstance(v, (int, float))}
if mode == "same-model":
    out["records_differing"] = con.execute(
        "SELECT count(*) FROM staging._incremental_map i FULL JOIN identity.record_map m USING (source, record_id) "
        "WHERE i.customer_id IS DISTINCT FROM m.customer_id").fetchall()[0][0]
    con.execute("DROP TABLE staging._incremental_map")
print(json.dumps(out))
"""


def run(tree: Path, database: Path, mode: str, share: float, truth: str) -> dict:
    # the child's log (its steps, as they finish) goes to this stderr; its figures come on stdout
    # PYTHONPATH and cwd: the normalization workers the child starts (python -m) run the same tree
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tree), str(database), mode, str(share), truth],
                          stdout=subprocess.PIPE, text=True, env=env, cwd=tree)
    if proc.returncode:
        sys.exit(f"{mode} run failed (exit {proc.returncode}): see its log above")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("home", type=Path, help="a home whose staging.customer_records is loaded (cdp ingest)")
    parser.add_argument("--truth", default="", help="truth.parquet of the generated sources (quality figures)")
    parser.add_argument("--share", type=float, default=0.01, help="share of records the incremental run adds")
    parser.add_argument("--tree", type=Path, default=ROOT, help="source tree to run (default: this checkout)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the copy (default: a temp folder)")
    parser.add_argument("--check-full", action="store_true",
                        help="then a full run over every record with the stored model: how many records' "
                             "customer differs from the incremental run's")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="cdp-resolve-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    database = work / "warehouse.duckdb"
    database.with_name("warehouse.duckdb.wal").unlink(missing_ok=True)  # of an earlier run stopped midway
    shutil.copy(args.home / "warehouse.duckdb", database)
    load = os.getloadavg()[0]
    full = run(args.tree, database, "full", args.share, args.truth)
    inc = run(args.tree, database, "incremental", args.share, args.truth)
    runs = [full, inc]
    if args.check_full:
        runs.append(run(args.tree, database, "same-model", args.share, args.truth))
    print(f"load average at start: {load:.2f}, at end: {os.getloadavg()[0]:.2f}")
    for r in runs:
        quality = r.get("quality", {})
        q = (f"  precision {quality['precision']:.4f} recall {quality['recall']:.4f} F1 {quality['f1']:.4f}"
             if "f1" in quality else "")
        print(f"{r['mode']:<12} {r['records']:>11,} records ({r['new_records']:,} new) -> {r['customers']:,} customers: "
              f"{r['seconds']:.1f} s, peak RSS {r['peak_rss_mb']:,.0f} MB{q}")
        print("             steps: " + ", ".join(f"{k} {v:.1f}" for k, v in r["steps"].items() if v >= 0.1))
    print(f"incremental / full: {inc['seconds'] / full['seconds']:.1%}")
    if args.check_full:
        print(f"records whose customer differs between the incremental run and a full run with the same model: "
              f"{runs[2]['records_differing']:,}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
