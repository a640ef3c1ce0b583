"""Settings of the event collector (`cdp collect`, `config/collector.yaml`).

Write keys map to the source whose connector reads the events (`web` or `app`). A Segment write
key is not a secret (analytics.js ships it to every browser): it names a source, it does not
guard data, so the mapping may live in the file; `CDP_COLLECTOR__WRITE_KEYS='{KEY: web}'` or
`cdp collect --write-key KEY=web` add keys without editing it.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.loader import load_config

COLLECTED_SOURCES = ("web", "app")
CollectedSource = Literal["web", "app"]

# A write key travels as the user part of HTTP Basic auth: no ':' and nothing a header mangles.
_WRITE_KEY = re.compile(r"^[A-Za-z0-9._~+/=-]{1,200}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SegmentSettings(_Strict):
    """When an open segment file is closed and handed to the connectors."""

    max_bytes: int = Field(16 << 20, ge=1 << 10, description="rotate once the open segment holds this many bytes")
    max_age_seconds: float = Field(30.0, gt=0, description="rotate a non-empty segment this old")
    gzip: bool = Field(False, description="compress rotated files (.ndjson.gz); costs CPU on the collector")


class LimitSettings(_Strict):
    """Segment's HTTP API limits (32 KB per call, 500 KB per batch)."""

    max_event_bytes: int = Field(32 << 10, ge=1 << 10)
    max_batch_bytes: int = Field(500 << 10, ge=1 << 10)

    @model_validator(mode="after")
    def _batch_holds_an_event(self) -> "LimitSettings":
        if self.max_batch_bytes < self.max_event_bytes:
            raise ValueError("max_batch_bytes must be at least max_event_bytes")
        return self


class BackpressureSettings(_Strict):
    """When the collector answers 429 (with Retry-After) instead of accepting more."""

    max_pending_bytes: int = Field(64 << 20, ge=1 << 16,
                                   description="bytes accepted but not yet on disk, over all sources")
    min_free_bytes: int = Field(256 << 20, ge=0, description="free space the landing disk must keep")
    retry_after_seconds: int = Field(5, ge=1)


class CorsSettings(_Strict):
    allow_origins: list[str] = Field(default_factory=lambda: ["*"])
    max_age_seconds: int = Field(600, ge=0)


class CollectorSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8088, ge=0, le=65535)
    write_keys: dict[str, CollectedSource] = Field(default_factory=dict)
    segments: SegmentSettings = Field(default_factory=SegmentSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    backpressure: BackpressureSettings = Field(default_factory=BackpressureSettings)
    cors: CorsSettings = Field(default_factory=CorsSettings)

    @field_validator("write_keys", mode="before")
    @classmethod
    def _none_is_empty(cls, value):
        return {} if value is None else value

    @field_validator("write_keys")
    @classmethod
    def _key_shape(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _WRITE_KEY.match(str(key)):
                raise ValueError("a write key is 1-200 characters of letters, digits and ._~+/=- (no ':')")
        return value

    def with_write_keys(self, pairs: list[str]) -> "CollectorSettings":
        """These settings plus `KEY=SOURCE` pairs (from `--write-key`), checked like the file's."""
        keys = dict(self.write_keys)
        for pair in pairs:
            key, sep, source = pair.partition("=")
            if not sep or not key:
                raise ValueError(f"--write-key wants KEY=SOURCE (SOURCE one of {', '.join(COLLECTED_SOURCES)})")
            keys[key] = source.strip()
        return type(self).model_validate({**self.model_dump(), "write_keys": keys})


CONFIG_MODEL = CollectorSettings


def load_collector_settings() -> CollectorSettings:
    return load_config("collector", CollectorSettings)


__all__ = ["CollectorSettings", "COLLECTED_SOURCES", "CONFIG_MODEL", "load_collector_settings"]
