"""`cdp demo`: generate a sample with ground truth, run the whole pipeline on it, print the summary."""
from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from pipelines.commands._common import add_home_argument, resolve_home

DEMO_MARKER = ".cdp-demo"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="generate a sample (2,000 customers), run the whole pipeline, print the summary",
        description="A fresh demo home each time: generates sources with ground truth into "
        "HOME/sources, runs `cdp run` on them, and scores identity resolution against the truth.",
    )
    add_home_argument(parser)
    parser.add_argument("--customers", type=int, default=2000, help="simulated people (default 2000)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pipelines.commands.run import execute
    from pipelines.sample_data import generate
    from pipelines.summary import format_summary, where_to_look

    home = resolve_home(args)
    # `cdp` itself may already have made HOME/.prefect (Prefect's state for this home): that alone
    # does not make a folder someone else's.
    contents = [p for p in home.iterdir() if p.name != ".prefect"] if home.exists() else []
    if contents and not (home / DEMO_MARKER).exists():
        raise ValueError(f"{home} exists and is not a demo home: pass another --home")
    for path in contents:  # the demo starts clean so its figures are the same every time
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    home.mkdir(parents=True, exist_ok=True)
    (home / DEMO_MARKER).write_text("made by `cdp demo`; deleted and rebuilt by the next demo\n")
    sources = home / "sources"
    print(f"cdp demo: generating {args.customers:,} customers (seed {args.seed}) into {sources} …", flush=True)
    started = time.perf_counter()
    manifest = generate(sources, customers=args.customers, seed=args.seed)
    generate_seconds = time.perf_counter() - started
    print(f"  · generated in {generate_seconds:.1f} s", flush=True)
    print("cdp demo: running the pipeline (a Prefect flow; a temporary Prefect server starts first) …", flush=True)
    summary = execute(home, sources, sources / "truth.parquet")
    summary["timings"] = {"generate": round(generate_seconds, 2), **summary["timings"]}
    print()
    print(format_summary(summary))
    print()
    print(where_to_look(summary))
    return 0
