"""The Prefect ingest flow: a task per connector, retried only on transient source errors."""
from __future__ import annotations

from pathlib import Path

import pipelines.flows.ingest as ingest_module
from tests.connectors.samples import write_events, write_social
from warehouse.loads import LoadResult


def test_flow_loads_each_source_and_reconciles(prefect_harness, tmp_path: Path):
    src, home = tmp_path / "src", tmp_path / "home"
    write_events(src, "web", 1)
    write_social(src, 1)
    results = ingest_module.ingest_flow(str(home), str(src), ["web", "social"])
    assert [(r.source, r.stream) for r in results] == [
        ("web", "web_events"), ("social", "social_profiles"), ("social", "social_interactions"),
        ("social", "social_leads")]
    assert all(r.status == "ok" and r.reconciles and r.rows_loaded > 0 for r in results)
    again = ingest_module.ingest_flow(str(home), str(src), ["web"])
    assert again[0].rows_loaded == 0


def test_transient_errors_are_retried_and_others_are_not(prefect_harness, tmp_path: Path, monkeypatch):
    calls: list[str] = []

    def flaky(home, source, source_dir):
        calls.append(source)
        retryable = source == "transactions" and calls.count(source) == 1
        return [LoadResult("L1", source, "orders", "partial" if retryable else "ok", retryable=retryable)]

    monkeypatch.setattr(ingest_module, "ingest_source", flaky)
    # Retries and their backoff come from config/pipeline.yaml, read when the flow runs.
    monkeypatch.setenv("CDP_PIPELINE__RETRY_DELAY_SECONDS", "0")
    results = ingest_module.ingest_flow(str(tmp_path / "home"), None, ["transactions"])
    assert calls == ["transactions", "transactions"] and results[0].status == "ok"

    def broken(home, source, source_dir):
        calls.append("broken")
        raise ValueError("a bug, not an outage")

    calls.clear()
    monkeypatch.setattr(ingest_module, "ingest_source", broken)
    try:
        ingest_module.ingest_flow(str(tmp_path / "home"), None, ["web"])
    except ValueError:
        pass
    assert calls == ["broken"]


def test_cli_no_flow_prints_a_summary_and_fails_on_refused_input(tmp_path: Path, capsys):
    from pipelines.cli import main

    src, home = tmp_path / "src", tmp_path / "home"
    write_events(src, "web", 1)
    assert main(["ingest", "--from", str(src), "--home", str(home), "--source", "web", "--no-flow"]) == 0
    out = capsys.readouterr().out
    assert "web_events" in out and "total" in out
    (src / "web" / "events_2026-01-09.ndjson.gz").write_bytes(b"not gzip")
    assert main(["ingest", "--from", str(src), "--home", str(home), "--source", "web", "--no-flow"]) == 1
    captured = capsys.readouterr()
    assert "named .gz but is not gzip" in captured.out and "with errors" in captured.err
    assert main(["ingest", "--from", str(tmp_path / "missing"), "--home", str(home), "--no-flow"]) == 2
