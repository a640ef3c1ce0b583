"""Prefect flow `cdp-resolve`: a thin recipe over `identity.resolve` (all work is in plain functions)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from prefect import flow, task

from identity import resolve


@task(name="resolve-identities", retries=1, retry_delay_seconds=5)
def resolve_task(home: str, mode: str, debug: bool | None) -> dict:
    return asdict(resolve(home, mode=mode, debug=debug))


@flow(name="cdp-resolve", log_prints=False)
def resolve_flow(home: str, full: bool = False, debug: bool | None = None) -> dict:
    """Staging records -> identity graph -> matching -> clusters -> stable customer ids."""
    return resolve_task(str(home), "full" if full else "incremental", debug)


if __name__ == "__main__":
    import sys

    print(resolve_flow(str(Path(sys.argv[1] if len(sys.argv) > 1 else "cdp_home")), full="--full" in sys.argv))
