"""Settings of the whole-pipeline run (`config/pipeline.yaml`): schedule, retries, run lock, snapshots,
and the executor (embedded, or partitions mapped over a Dask cluster).

Checked when loaded, so a typo in the cron expression or time zone fails at `cdp config check`
rather than at 2 a.m. when the scheduler first tries to use it.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


EXECUTORS = ("local", "dask")


class DaskSettings(BaseModel):
    """Where the parts of a `dask` run go: an existing scheduler, or a local cluster of processes."""

    model_config = ConfigDict(extra="forbid")

    # An existing scheduler, e.g. "tcp://10.0.0.5:8786" (its workers must see this home's folder).
    address: str | None = None
    # Else a `distributed.LocalCluster` of this many worker processes, one thread each.
    local_workers: int | None = Field(None, ge=1, le=256)
    # Memory limit of each local worker (Dask pauses, then restarts, a worker past it).
    worker_memory: str = "4GiB"
    # Parts per stage: about this many per worker, so a slow part does not hold the rest back.
    parts_per_worker: int = Field(2, ge=1, le=64)

    @field_validator("address")
    @classmethod
    def _valid_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if "://" not in value or not value.split("://", 1)[1]:
            raise ValueError(f"a scheduler address looks like tcp://HOST:8786, got {value!r}")
        return value

    @field_validator("worker_memory")
    @classmethod
    def _valid_memory(cls, value: str) -> str:
        from dask.utils import parse_bytes

        try:
            if parse_bytes(value) < 256 * 2**20:
                raise ValueError
        except (ValueError, TypeError):
            raise ValueError(f"worker_memory is a size of at least 256MiB such as \"4GiB\", got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _one_place(self) -> "DaskSettings":
        if self.address and self.local_workers:
            raise ValueError("give either dask.address (an existing scheduler) or dask.local_workers "
                             "(a local cluster), not both")
        return self

    @property
    def workers(self) -> int:
        """Local workers to start: the configured number, else 2."""
        return self.local_workers or 2


class PipelineSettings(BaseModel):
    """The root of `config/pipeline.yaml`."""

    model_config = ConfigDict(extra="forbid")

    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    retries: int = Field(2, ge=0, le=20)
    retry_delay_seconds: float = Field(30, ge=0)
    lock: LockSettings = Field(default_factory=LockSettings)
    snapshots: SnapshotSettings = Field(default_factory=SnapshotSettings)
    # `local`: every step in this process (the default). `dask`: naturally parallel stages mapped
    # as Prefect tasks over a Dask cluster (`cdp run --executor dask` overrides this).
    executor: Literal["local", "dask"] = "local"
    dask: DaskSettings = Field(default_factory=DaskSettings)


def check_executor(name: str) -> str:
    """`name` if it is an executor, else a ValueError that lists them (for `--executor`)."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}")
    return name


def load_pipeline_settings(path: Path | None = None) -> PipelineSettings:
    """The pipeline settings from `config/pipeline.yaml` plus `CDP_PIPELINE__...` overrides."""
    return load_config("pipeline", PipelineSettings, path)
