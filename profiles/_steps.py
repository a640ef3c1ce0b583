"""The plain functions the profile flows and commands call: open the home's warehouse, do one step.

Why separate from the flows: tests (and any other orchestrator) run these without Prefect.
"""
from __future__ import annotations

from pathlib import Path

from config.loader import config_path
from config.profiles import load_profiles_config
from config.segments import load_segments_config
from warehouse.connection import connect_home
from warehouse.partitions import MapParts, work_dir


def build_profiles(home: str | Path, map_parts: MapParts | None = None, parts: int | None = None) -> dict:
    """Golden profiles, then traits (and the customer_360 view), then accounts (from group calls)
    for the warehouse at `home`. With `map_parts`, the per-customer work runs in `parts`
    customer-id hash partitions (golden survivorship, activity and order aggregates; Parquet under
    HOME/_parts/, removed after); tables are written here."""
    import shutil

    from profiles.accounts import build_accounts
    from profiles.golden import build_golden
    from profiles.traits import build_traits

    config = load_profiles_config()
    work = work_dir(home, "profiles") if map_parts is not None else None
    con = connect_home(home)
    try:
        golden = build_golden(con, config.golden, map_parts=map_parts, parts=parts,
                              work=work / "golden" if work else None)
        traits = build_traits(con, config.traits, config_path("profiles"), map_parts=map_parts, parts=parts,
                              work=work / "traits" if work else None)
        accounts = build_accounts(con)
    finally:
        con.close()
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    return {"golden": golden, "traits": traits, "accounts": accounts}


def materialize_segments(home: str | Path, only: list[str] | None = None) -> dict:
    """Evaluate the configured segments and record who entered and who left."""
    from profiles.segments import run_segments

    config = load_segments_config()
    con = connect_home(home)
    try:
        return run_segments(con, config, config_path("segments"), only=only)
    finally:
        con.close()


def export(home: str | Path, segment: str, **options) -> dict:
    """One export of `segment` (see `profiles.exports.export_segment` for the options)."""
    from profiles.exports import export_segment

    config = load_segments_config()
    definition = config.segments.get(segment)
    # The segment's declared consent purposes, plus any the caller asks for (e.g. `--purpose`).
    declared = definition.consent_purposes if definition is not None else ["marketing"]
    if "marketing" in options and not options.pop("marketing"):
        declared = [p for p in declared if p != "marketing"]
    purposes = sorted(set(declared) | set(options.pop("purposes", None) or []))
    con = connect_home(home)
    try:
        return export_segment(con, home, segment, purposes=purposes, **options)
    finally:
        con.close()
