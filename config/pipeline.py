"""Settings of the whole-pipeline run (`config/pipeline.yaml`): schedule, retries, run lock, snapshots.

Checked when loaded, so a typo in the cron expression or time zone fails at `cdp config check`
rather than at 2 a.m. when the scheduler first tries to use it.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from config.loader import load_config


def _check_cron(expression: str) -> str:
    """A standard 5-field cron expression, checked by cronsim (the parser Prefect's stack ships)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"a cron expression has 5 fields (minute hour day month weekday), got {len(fields)}; "
            'e.g. "0 2 * * *" for every day at 02:00'
        )
    try:
        from cronsim import CronSim, CronSimError
    except ImportError:  # pragma: no cover - cronsim comes with prefect
        return expression
    try:
        CronSim(expression, datetime(2026, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"not a valid cron expression ({exc}); e.g. \"0 2 * * *\"") from None
    return expression


class ScheduleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cron: str = "0 2 * * *"
    timezone: str = "UTC"
    deployment_name: str = Field("nightly", min_length=1)
    tags: list[str] = Field(default_factory=lambda: ["cdp"])
    source_dir: Path | None = None
    home: Path | None = None

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        return _check_cron(value.strip())

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as UTC or Europe/Madrid"
            ) from None
        return value


class LockSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wait_seconds: float = Field(600, ge=0)


class SnapshotSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep: int = Field(3, ge=1)


class PipelineSettings(BaseModel):
    """The root of `config/pipeline.yaml`."""

    model_config = ConfigDict(extra="forbid")

    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    retries: int = Field(2, ge=0, le=20)
    retry_delay_seconds: float = Field(30, ge=0)
    lock: LockSettings = Field(default_factory=LockSettings)
    snapshots: SnapshotSettings = Field(default_factory=SnapshotSettings)


def load_pipeline_settings(path: Path | None = None) -> PipelineSettings:
    """The pipeline settings from `config/pipeline.yaml` plus `CDP_PIPELINE__...` overrides."""
    return load_config("pipeline", PipelineSettings, path)
