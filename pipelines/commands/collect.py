"""`cdp collect`: a Segment-compatible HTTP endpoint landing events for the web and app connectors."""
import sys
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from pipelines.commands._common import command, read_only_note


DESCRIPTION = (
    "Serve Segment's HTTP Tracking API (/v1/batch, /v1/track, /v1/identify, /v1/page, /v1/screen, /v1/group, "
    "/v1/alias, and analytics.js's /v1/t ... paths) plus /health. Each write key maps to a source (web or app); "
    "a request is answered 200 only once its events are fsynced to a segment file, rotated into "
    "HOME/collected/<source>/ where every `cdp ingest`/`cdp run` of the home reads them. Settings: "
    "config/collector.yaml (CDP_COLLECTOR__... overrides). Stop with Ctrl-C or SIGTERM: open segments are "
    "rotated on the way out. A long-running server, never a Prefect flow.")


def register(app: typer.Typer) -> None:
    @command(app, "collect", help="receive events from Segment/RudderStack SDKs over HTTP and land them for ingest",
             description=DESCRIPTION)
    def collect_cmd(
        opts,
        host: Annotated[Optional[str], typer.Option(help="address to listen on (default: host in config/collector.yaml)")] = None,
        port: Annotated[Optional[int], typer.Option(help="port (default: port in config; 0 picks a free one)")] = None,
        write_keys: Annotated[Optional[List[str]], typer.Option(
            "--write-key", metavar="KEY=SOURCE",
            help="accept write key KEY for source web or app (repeatable; adds to the config's keys)")] = None,
    ):
        read_only_note(opts, "is a long-running server")
        return collect(opts.home, host, port, list(write_keys or []))


def collector_settings(host: str | None = None, port: int | None = None, write_keys: list[str] | None = None):
    """config/collector.yaml (with env overrides) plus the command line's choices, validated."""
    from config.collector import CollectorSettings, load_collector_settings

    settings = load_collector_settings().with_write_keys(list(write_keys or []))
    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if overrides:
        settings = CollectorSettings.model_validate({**settings.model_dump(), **overrides})
    return settings


def collect(home: Path, host: str | None = None, port: int | None = None, write_keys: list[str] | None = None) -> int:
    """Run the collector in the foreground until stopped; the plain function the command calls."""
    from pydantic import ValidationError

    from connectors.collector.landing import CollectorRunningError
    from connectors.collector.server import serve

    try:
        settings = collector_settings(host, port, write_keys)
    except ValidationError as exc:
        for err in exc.errors():
            print(f"cdp collect: {'.'.join(map(str, err['loc'])) or '-'}: {err['msg']}", file=sys.stderr)
        return 2
    counts = {}
    for source in settings.write_keys.values():
        counts[source] = counts.get(source, 0) + 1

    def ready(bound_host: str, bound_port: int, recovery) -> None:
        for report in recovery:
            if report.segments:
                print(f"cdp collect: {report.source}: recovered {report.segments} segment(s) left by an earlier "
                      f"run ({report.torn_bytes} torn byte(s) cut)", flush=True)
        keys = ", ".join(f"{n} {source}" for source, n in sorted(counts.items()))
        print(f"cdp collect: listening on http://{bound_host}:{bound_port} (write keys: {keys}); landing into "
              f"{Path(home) / 'collected'}; Ctrl-C to stop", flush=True)

    try:
        serve(home, settings, on_ready=ready)
    except CollectorRunningError as exc:
        print(f"cdp collect: {exc}", file=sys.stderr)
        return 3
    print("cdp collect: stopped; open segments rotated", flush=True)
    return 0
