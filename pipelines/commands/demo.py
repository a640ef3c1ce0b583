"""`cdp demo`: generate a sample with ground truth, run the whole pipeline on it, print the summary."""
import shutil
import time
from typing import Annotated

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command

DEMO_MARKER = ".cdp-demo"
DESCRIPTION = ("A fresh demo home each time: generates sources with ground truth into HOME/sources, runs "
               "`cdp run` on them (a Prefect flow), and scores identity resolution against the truth.")


def register(app: typer.Typer) -> None:
    @command(app, "demo", help="generate a sample (2,000 customers), run the whole pipeline, print the summary",
             description=DESCRIPTION)
    def demo_cmd(
        opts,
        customers: Annotated[int, typer.Option(help="simulated people")] = 2000,
        seed: Annotated[int, typer.Option(help="generator seed")] = 7,
    ):
        import pipelines.commands.run as run_command
        import pipelines.sample_data as sample_data

        home = opts.home
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
        _ui.note(f"generating {customers:,} customers (seed {seed}) into {sources} …", "demo")
        started = time.perf_counter()
        with _ui.progress("generate", loggers=["pipelines.sample_data"], enabled=False):
            sample_data.generate(sources, customers=customers, seed=seed)
        generate_seconds = time.perf_counter() - started
        _ui.note(f"  · generated in {generate_seconds:.1f} s", "demo")
        summary = run_command.execute(home, sources, sources / "truth.parquet", lock_wait=opts.lock_wait)
        summary["timings"] = {"generate": round(generate_seconds, 2), **summary["timings"]}
        run_command.show(summary, opts.json)
        return 0
