"""`cdp collect`: a Segment-compatible HTTP endpoint landing events for the web and app connectors."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Written against argparse on its own (no shared helpers), so it registers the same way under the
# argparse CLI and under the typer CLI's wrapper for argparse-style modules.


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "collect",
        help="receive events from Segment/RudderStack SDKs over HTTP and land them for ingest",
        description="Serve Segment's HTTP Tracking API (/v1/batch, /v1/track, /v1/identify, /v1/page, "
        "/v1/screen, /v1/group, /v1/alias, and analytics.js's /v1/t ... paths) plus /health. Each "
        "write key maps to a source (web or app); a request is answered 200 only once its events are "
        "fsynced to a segment file, rotated into HOME/collected/<source>/ where every `cdp ingest`/`cdp "
        "run` of the home reads them. Settings: config/collector.yaml (CDP_COLLECTOR__... overrides). "
        "Stop with Ctrl-C or SIGTERM: open segments are rotated on the way out.",
    )
    parser.add_argument("--home", type=Path, default=None,
                        help="folder holding the warehouse and its state (default: $CDP_HOME, else ./cdp_home); "
                        "events land in HOME/collected/")
    parser.add_argument("--host", default=None, help="address to listen on (default: host in config/collector.yaml)")
    parser.add_argument("--port", type=int, default=None, help="port (default: port in config; 0 picks a free one)")
    parser.add_argument("--write-key", dest="write_keys", action="append", default=[], metavar="KEY=SOURCE",
                        help="accept write key KEY for source web or app (repeatable; adds to the config's keys)")
    parser.set_defaults(func=run)


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


def run(args: argparse.Namespace) -> int:
    from config import default_home

    home = Path(args.home) if args.home else default_home()
    return collect(home, args.host, args.port, args.write_keys)
