"""Synthetic CDP source data with ground truth; see `data/samples/SOURCES.md` for the formats."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from pipelines.sample_data.generator import run_generator

# Measured: 1,046,157 web events for 100,000 persons (persons without web included).
WEB_EVENTS_PER_PERSON = 10.5


def generate(out_dir: str | Path, customers: int, seed: int, broken_share: float = 0.02,
             start: date | str = date(2026, 1, 1), days: int = 60, compress: bool = True,
             workers: int | None = None) -> dict:
    """Write all four sources, `truth.parquet` and `manifest.json` under `out_dir`; return the manifest.

    `workers` (default: one per core, at most 2) changes the speed, never the bytes.
    """
    return run_generator(out_dir, customers, seed, broken_share=broken_share, start=start, days=days,
                         compress=compress, workers=workers)


def generate_web_events(out_dir: str | Path, n_events: int, seed: int, broken_share: float = 0.0,
                        days: int = 30, compress: bool = False) -> dict:
    """About `n_events` web events only (plain NDJSON by default), with truth and manifest.

    Meant for the ingest benchmark: it skips the other sources, so it is fast.
    """
    customers = max(1, round(n_events / WEB_EVENTS_PER_PERSON))
    return run_generator(out_dir, customers, seed, broken_share=broken_share, days=days,
                         compress=compress, sources=("web",))


__all__ = ["generate", "generate_web_events"]
