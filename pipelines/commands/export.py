"""`cdp export SEGMENT`: a segment's members as CSV, Parquet or a hashed ad-platform audience."""
from pathlib import Path
from typing import Annotated, Optional

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, run_step, writing

DESCRIPTION = (
    "Export the current members of SEGMENT. `audience` files hold only SHA-256 hashes of the normalized "
    "email and phone (Google: E.164 phone with '+'; Meta: digits without '+'). With --changes, only "
    "customers who entered or left since the last export of SEGMENT to the same destination are written, "
    "with a `change` column. Marketing segments keep only customers with marketing consent.")


def register(app: typer.Typer) -> None:
    @command(app, "export", help="export a segment (csv, parquet, or a hashed audience for Google/Meta customer match)",
             description=DESCRIPTION)
    def export_cmd(
        opts,
        segment: Annotated[str, typer.Argument(metavar="SEGMENT", help="segment name from config/segments.yaml")],
        fmt: Annotated[str, typer.Option("--format", help="csv, parquet or audience")] = "csv",
        fields: Annotated[Optional[str], typer.Option(
            help="comma-separated profile fields/traits for csv/parquet (default: customer_id, names, email, "
            "phone, country_inferred, rfm_segment, revenue, orders)")] = None,
        platform: Annotated[str, typer.Option(
            help="audience format: google (Email/Phone, phone with +) or meta (email/phone, digits only)")] = "google",
        changes: Annotated[bool, typer.Option("--changes", help="only members who entered/exited since the last export")] = False,
        destination: Annotated[Optional[str], typer.Option(
            help="name of the export state to diff against (default: the format, or audience-PLATFORM)")] = None,
        out: Annotated[Optional[Path], typer.Option(help="output file (default: HOME/exports/segments/SEGMENT/...)")] = None,
    ):
        if fmt not in ("csv", "parquet", "audience"):
            raise ValueError(f"--format {fmt}: choose csv, parquet or audience")
        if platform not in ("google", "meta"):
            raise ValueError(f"--platform {platform}: choose google or meta")
        field_list = [f.strip() for f in fields.split(",") if f.strip()] if fields else None

        def plain():
            from profiles._steps import export

            return export(opts.home, segment, fmt=fmt, fields=field_list, changes=changes, out=out,
                          platform=platform, destination=destination)

        def flow():
            from pipelines.flows.profiles import export_flow

            return export_flow(str(opts.home), segment, fmt, field_list, changes, str(out) if out else None,
                               platform, destination)

        with writing(opts):
            result = run_step(opts, plain, flow, "cdp-export")
        if opts.json:
            emit_json(result)
            return 0
        out_console = _ui.console()
        say = lambda text: out_console.print(text, markup=False)  # noqa: E731
        say(f"wrote {result['rows']} rows to {result['file']}")
        say(f"segment {result['segment']}: {result['members']} members; destination {result['destination']}")
        if changes:
            say(f"changes since last export: {result['entered']} entered, {result['exited']} exited")
        if result["consent_applied"]:
            say(f"marketing consent: {result['consent_excluded']} members left out (no consent)")
        else:
            say("marketing consent: not applied (segment not marked marketing, or no consent module)")
        if result["without_identifier"]:
            say(f"{result['without_identifier']} members without email or phone left out of the audience")
        return 0
