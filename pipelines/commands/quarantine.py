"""`cdp quarantine list|show|replay`: what was refused, one record up close, and replay after a fix."""
import json
from typing import Annotated, List, Optional

import typer

from pipelines.commands import _ui
from pipelines.commands._common import command, emit_json, read_only_note, run_step, writing

REPLAY_HELP = (
    "Re-check open quarantine rows with the stream's checks and load those that now pass through the normal "
    "load path (a new load in ops.loads: read = loaded + duplicate); mark them resolved with that load's id "
    "in the same transaction. Fix payloads first either in place with your own SQL client, "
    "`UPDATE raw.quarantine SET fixed_payload = ... WHERE ...` (the original payload stays), or with "
    "--patch, a JSON merge patch applied to every selected JSON payload. Rows quarantined as `suppressed` "
    "(forgotten people) are never replayed. Run `cdp resolve` (or `cdp run`) afterwards so the records "
    "reach their customers.")


def _selection(ids, source, stream, reason, load_id, include_resolved=False):
    from pipelines.quarantine import Selection

    return Selection(ids=list(ids or []), source=source, stream=stream, reason=reason, load_id=load_id,
                     include_resolved=include_resolved)


def _open(opts):
    from warehouse.connection import connect_home

    return connect_home(opts.home, read_only=True)


Source = Annotated[Optional[str], typer.Option(help="only this source (web, app, social, transactions)")]
Stream = Annotated[Optional[str], typer.Option(help="only this stream (web_events, orders, ...)")]
Reason = Annotated[Optional[str], typer.Option(help="only this reason (wrong_type, future_timestamp, ...)")]
Load = Annotated[Optional[str], typer.Option("--load", help="only rows of this load id")]


def register(app: typer.Typer) -> None:
    q_app = typer.Typer(help="list, inspect and replay quarantined records", no_args_is_help=True)
    app.add_typer(q_app, name="quarantine", help="list, inspect and replay quarantined records")

    @command(q_app, "list", group="quarantine", help="open quarantine by source, stream, reason and field (--rows: the rows, with ids)")
    def list_cmd(
        opts,
        source: Source = None, stream: Stream = None, reason: Reason = None, load_id: Load = None,
        rows: Annotated[bool, typer.Option("--rows", help="list rows (ids, file:line, reason) instead of counts")] = False,
        all_rows: Annotated[bool, typer.Option("--all", help="include rows already resolved by a replay")] = False,
        limit: Annotated[int, typer.Option(help="rows to list with --rows")] = 50,
    ):
        from pipelines import quarantine as q

        read_only_note(opts)
        selection = _selection(None, source, stream, reason, load_id, all_rows)
        con = _open(opts)
        try:
            found = q.rows(con, selection, limit) if rows else q.summary(con, selection)
        finally:
            con.close()
        if opts.json:
            emit_json(found)
            return 0
        if not found:
            _ui.console().print("no open quarantine" + (" matching the filters" if any(
                (source, stream, reason, load_id)) else ""), markup=False)
            return 0
        if rows:
            _ui.print_table(["id", "source", "stream", "file:line", "reason", "detail", "age", "fix", "resolved"],
                            [[r["id"], r["source"], r["stream"], f"{r['file']}:{r['line'] if r['line'] is not None else '-'}",
                              r["reason"], r["detail"] or "", q.age(r["quarantined_at"]), "yes" if r["fixed"] else "",
                              f"{r['resolution']} ({r['resolved_load_id']})" if r["resolved_at"] else ""]
                             for r in found], title=f"Quarantine rows (first {limit})")
            _ui.note("`cdp quarantine show ID` shows one record with its payload", "quarantine")
        else:
            _ui.print_table(["source", "stream", "reason", "field", "open", "resolved", "last quarantined"],
                            [[r["source"], r["stream"], r["reason"], r["detail"], r["open"], r["resolved"],
                              q.age(r["last_at"]) + " ago"] for r in found],
                            title=f"Open quarantine: {sum(r['open'] for r in found):,} record(s)")
        return 0

    @command(q_app, "show", group="quarantine", help="one quarantined record with its payload (may hold personal data)")
    def show_cmd(
        opts,
        quarantine_id: Annotated[str, typer.Argument(metavar="ID", help="a row id from `cdp quarantine list --rows`")],
    ):
        from pipelines import quarantine as q

        read_only_note(opts)
        con = _open(opts)
        try:
            row = q.show(con, quarantine_id)
        finally:
            con.close()
        if opts.json:
            emit_json(row)
            return 0
        out = _ui.console()
        for key in ("id", "source", "stream", "file", "line", "record_id", "reason", "detail", "quarantined_at",
                    "load_id", "resolution", "resolved_load_id", "resolved_at"):
            if row.get(key) is not None:
                out.print(f"{key:<16} {row[key]}", markup=False, highlight=False)
        for key in ("payload", "fixed_payload"):
            text = row.get(key)
            if text is None:
                continue
            try:
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
            except (ValueError, TypeError):
                pass
            out.print(f"{key}:", style="bold", markup=False)
            out.print(text, markup=False, highlight=False)
        return 0

    @command(q_app, "replay", group="quarantine", help="re-check open quarantine rows (after a fix) and load those that now pass",
             description=REPLAY_HELP)
    def replay_cmd(
        opts,
        ids: Annotated[Optional[List[str]], typer.Argument(metavar="[ID]...", help="row ids (default: every open row matching the filters)")] = None,
        source: Source = None, stream: Stream = None, reason: Reason = None, load_id: Load = None,
        patch: Annotated[Optional[str], typer.Option(
            help='JSON merge patch applied to each selected JSON payload, e.g. \'{"timestamp": "2026-02-01T10:00:00Z"}\'')] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="re-check and report, load nothing")] = False,
    ):
        from pipelines import quarantine as q

        selection = _selection(ids, source, stream, reason, load_id)

        def plain():
            return q.replay(opts.home, selection, patch=patch, dry_run=dry_run)

        def flow():
            from pipelines.flows.quarantine import replay_flow

            return replay_flow(str(opts.home), selection.__dict__, patch, dry_run)

        with writing(opts, publish=not dry_run):
            with _ui.progress("replay quarantine", loggers=["warehouse.loads"]):
                results = run_step(opts, plain, flow, "cdp-quarantine-replay")
        if opts.json:
            emit_json(q.as_dicts(results))
            return 0
        if not results:
            _ui.console().print("nothing to replay: no open quarantine row matches", markup=False)
            return 0
        _ui.print_table(["source", "stream", "load", "re-checked", "loaded", "duplicate", "still failing", "not replayed"],
                        [[r.source, r.stream, r.load_id or ("(dry run)" if r.dry_run else "-"), r.replayed,
                          r.loaded, r.duplicate, ", ".join(f"{k} {v:,}" for k, v in r.still_failing.items()) or "0",
                          f"suppressed {r.skipped_suppressed:,}" if r.skipped_suppressed else ""] for r in results],
                        title="Quarantine replay" + (" (dry run: nothing loaded)" if dry_run else ""),
                        numeric=[3, 4, 5])
        if not dry_run and any(r.loaded for r in results):
            _ui.note("run `cdp resolve` (or `cdp run`) so the replayed records reach their customers", "quarantine")
        return 0
