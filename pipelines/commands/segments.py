"""`cdp segments`: materialize segment membership and print sizes with who entered and left."""
from typing import Annotated, List, Optional

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, run_step, writing

DESCRIPTION = (
    "Evaluate every segment of config/segments.yaml over profiles.customer_360, update segments.membership "
    "(entered_at / exited_at) and segments.runs, and print each segment's size and how many customers "
    "entered and left since the previous run.")


def register(app: typer.Typer) -> None:
    @command(app, "segments", help="evaluate the segments of config/segments.yaml and record enter/exit changes",
             description=DESCRIPTION)
    def segments_cmd(
        opts,
        only: Annotated[Optional[List[str]], typer.Option(
            "--segment", metavar="NAME", help="only this segment (repeatable); default: all")] = None,
    ):
        def plain():
            from profiles._steps import materialize_segments

            with _ui.progress("segments", loggers=["profiles"]):
                return materialize_segments(opts.home, only=only)

        def flow():
            from pipelines.flows.profiles import segments_flow

            return segments_flow(str(opts.home), only)

        with writing(opts):
            result = run_step(opts, plain, flow, "cdp-segments")
        if opts.json:
            emit_json(result)
            return 0
        rows = [[name, r["size"], r["entered"], r["exited"]] for name, r in result["segments"].items()]
        _ui.print_table(["segment", "size", "entered", "exited"], rows, title=f"segments run {result['run_id']}")
        return 0
