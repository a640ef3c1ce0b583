"""Prefect flows for the profile layer: thin recipes over `profiles._steps`."""
from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from profiles import _steps


@task(name="build-golden-profiles-and-traits", retries=1, retry_delay_seconds=5)
def build_profiles_task(home: str) -> dict:
    return _steps.build_profiles(home)


@task(name="materialize-segments", retries=1, retry_delay_seconds=5)
def materialize_segments_task(home: str, only: list[str] | None = None) -> dict:
    return _steps.materialize_segments(home, only=only)


@flow(name="cdp-profiles", log_prints=False)
def profiles_flow(home: str) -> dict:
    """Golden profiles (survivorship + provenance), then computed traits."""
    return build_profiles_task(str(home))


@flow(name="cdp-segments", log_prints=False)
def segments_flow(home: str, only: list[str] | None = None) -> dict:
    """Segment membership with enter/exit history."""
    return materialize_segments_task(str(home), only)


@flow(name="cdp-profiles-and-segments", log_prints=False)
def profiles_and_segments_flow(home: str) -> dict:
    profiles = build_profiles_task(str(home))
    segments = materialize_segments_task(str(home), wait_for=[profiles])
    return {"profiles": profiles, "segments": segments}


if __name__ == "__main__":
    import sys

    print(profiles_and_segments_flow(str(Path(sys.argv[1] if len(sys.argv) > 1 else "cdp_home"))))
