"""Where each source lives and how it is read (`config/sources.yaml`).

Secrets never live in the file: a database is named by the environment variable holding its URL.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from config.loader import ConfigError, load_config

_ALPHA2 = re.compile(r"^[A-Z]{2}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _alpha2(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().upper()
    if not _ALPHA2.match(value):
        raise ValueError(f"{value!r} is not an ISO-3166 alpha-2 code; use e.g. ES, MX, ID, US")
    return value


class LoadingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch_bytes: int = Field(64 << 20, ge=1 << 16)
    sql_batch_rows: int = Field(50_000, ge=1)
    future_tolerance_minutes: int = Field(60, ge=0)
    memory_limit: str | None = "2GB"
    # What happens to a top-level field (a CSV/SQL column) a stream does not declare, per stream
    # name (key `default` for the rest): evolve (kept in the `extra` JSON column), discard (dropped,
    # counted in ops.loads.values_discarded) or freeze (the record quarantined: unexpected_field).
    schema_contract: dict[str, Literal["evolve", "discard", "freeze"]] = Field(default_factory=dict)

    def contract(self, stream: str) -> str:
        return self.schema_contract.get(stream, self.schema_contract.get("default", "evolve"))


class SourceSettings(BaseModel):
    """What every source has: a folder, and the defaults for records that name no country."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    default_phone_region: str | None = None
    default_country: str | None = None

    @field_validator("default_phone_region", "default_country")
    @classmethod
    def _country_code(cls, value: str | None) -> str | None:
        return _alpha2(value)


class EventSourceSettings(SourceSettings):
    files: list[str] = Field(default_factory=lambda: ["events_*.ndjson", "events_*.ndjson.gz"], min_length=1)


class SocialSourceSettings(SourceSettings):
    profiles_files: list[str] = Field(default_factory=lambda: ["profiles_*.ndjson", "profiles_*.ndjson.gz"])
    interactions_files: list[str] = Field(
        default_factory=lambda: ["interactions_*.ndjson", "interactions_*.ndjson.gz"])
    leads_files: list[str] = Field(default_factory=lambda: ["leads_*.csv", "leads_*.csv.gz"])


class TransactionSourceSettings(SourceSettings):
    files: list[str] = Field(default_factory=lambda: ["orders_*.csv", "orders_*.csv.gz"])
    database_url_env: str | None = "CDP_SHOP_DATABASE_URL"
    sqlite_file: str | None = "shop.sqlite"
    table: str = "orders"
    cursor_column: str = "updated_at"

    @field_validator("database_url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("must be the NAME of an environment variable (e.g. CDP_SHOP_DATABASE_URL), "
                             "not a URL: secrets never go in config files")
        return value

    @field_validator("table", "cursor_column")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$", value):
            raise ValueError("must be a plain SQL identifier (letters, digits, underscore; schema.table allowed)")
        return value

    def database_url(self, folder: Path | None = None) -> str | None:
        """The shop database URL: from the named env variable, else the SQLite file in the folder."""
        if self.database_url_env and os.environ.get(self.database_url_env):
            return os.environ[self.database_url_env]
        if self.sqlite_file:
            path = (folder or self.path) / self.sqlite_file
            if path.exists():
                return f"sqlite:///{path.resolve()}"
        return None


class SourcesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    loading: LoadingSettings = Field(default_factory=LoadingSettings)
    web: EventSourceSettings
    app: EventSourceSettings
    social: SocialSourceSettings
    transactions: TransactionSourceSettings


CONFIG_MODEL = SourcesConfig


def load_sources_config() -> SourcesConfig:
    return load_config("sources", SourcesConfig)


__all__ = ["SourcesConfig", "load_sources_config", "ConfigError", "CONFIG_MODEL"]
