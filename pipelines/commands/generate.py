"""`cdp generate`: write synthetic sources with ground truth (formats: data/samples/SOURCES.md)."""
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, read_only_note

DESCRIPTION = (
    "Simulate customers and write their traces in every source, laid out as data/samples/SOURCES.md "
    "describes, with truth.parquet mapping every record to its person. The same seed gives the same bytes.")


def register(app: typer.Typer) -> None:
    @command(app, "generate", help="write synthetic web/app/social/transaction sources with ground truth",
             description=DESCRIPTION)
    def generate_cmd(
        opts,
        customers: Annotated[int, typer.Option(help="number of simulated persons")],
        seed: Annotated[int, typer.Option(help="random seed")] = 7,
        out: Annotated[Optional[Path], typer.Option(
            help="output folder (created; earlier generator output in it is replaced; default: HOME/sources)")] = None,
        broken_share: Annotated[float, typer.Option(help="share of records damaged on purpose")] = 0.02,
        start: Annotated[str, typer.Option(help="first day of events")] = "2026-01-01",
        days: Annotated[int, typer.Option(help="number of days of events")] = 60,
        no_gzip: Annotated[bool, typer.Option(
            "--no-gzip", help="write plain .ndjson/.csv instead of gzip for web, app and store orders")] = False,
        workers: Annotated[Optional[int], typer.Option(
            help="processes making records (default: one per core, at most 2); the output is the same for any number")] = None,
    ):
        from pipelines.sample_data import generate

        read_only_note(opts, "writes files, not the warehouse")
        target = out or opts.home / "sources"
        began = time.perf_counter()
        with _ui.progress(f"generate {customers:,} customers", loggers=["pipelines.sample_data"]):
            manifest = generate(target, customers, seed, broken_share=broken_share, start=start, days=days,
                                compress=not no_gzip, workers=workers)
        elapsed = time.perf_counter() - began
        if opts.json:
            emit_json({**manifest, "out": str(target), "seconds": round(elapsed, 2)})
            return 0
        _ui.console().print(
            f"generated {manifest['persons']} persons, {manifest['records']} records ({manifest['broken']} broken) "
            f"in {len(manifest['files'])} files under {target} in {elapsed:.1f}s", markup=False)
        _ui.print_table(["stream", "records", "broken"],
                        [[s, c["records"], c["broken"]] for s, c in manifest["streams"].items()])
        return 0
