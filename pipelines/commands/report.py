"""`cdp report`: write the run report, one self-contained HTML file."""
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, run_step


def register(app: typer.Typer) -> None:
    @command(app, "report", help="write the run report (self-contained HTML with charts)",
             description="Write an HTML report of the warehouse: loads, quarantine, freshness, identity "
             "(match weights with the threshold, m and u per comparison level, quality and customers over "
             "runs, step times), consent coverage, segments and sync status. One file, no scripts, no network.")
    def report_cmd(
        opts,
        out: Annotated[Optional[Path], typer.Option(help="HTML file to write (default: HOME/reports/report.html)")] = None,
    ):
        from pipelines.report import build_report

        def flow():
            from pipelines.flows.report import report_flow

            return report_flow(str(opts.home), str(out) if out else None)

        with _ui.progress("report", loggers=["pipelines.report"]):
            result = run_step(opts, lambda: build_report(opts.home, out), flow, "cdp-report")
        if opts.json:
            emit_json({"path": str(result.path), "source": str(result.source), "charts_drawn": result.charts_drawn,
                       "charts_empty": result.charts_empty})
            return 0
        _ui.console().print(f"report written to {result.path} ({result.charts_drawn} of "
                            f"{result.charts_drawn + len(result.charts_empty)} charts drawn)", markup=False)
        if result.charts_empty:
            _ui.note(f"no data yet for: {', '.join(result.charts_empty)}", "report")
        return 0
