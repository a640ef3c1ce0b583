"""Settings of the CRM syncs (reverse ETL) and of consent, validated from `config/sync.yaml`.

A target is one CRM destination: a file drop, a SQL table or an HTTP API. Secrets (database URLs,
API tokens) are never in the file: the file names the environment variable that holds them.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.loader import load_config

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileTargetSettings(_Strict):
    format: Literal["ndjson", "csv"] = "ndjson"
    gzip: bool = False


class SqlTargetSettings(_Strict):
    url_env: str = Field(description="environment variable holding the SQLAlchemy URL")
    table: str = "crm_contacts"
    key_column: str = "customer_id"
    batch_size: int = Field(1000, ge=1)

    @field_validator("table", "key_column")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("must be a plain identifier (letters, digits, underscore)")
        return value


class HttpTargetSettings(_Strict):
    url: str | None = Field(None, description="base URL of the CRM API (or use url_env)")
    url_env: str | None = Field(None, description="environment variable holding the base URL")
    token_env: str | None = Field(None, description="environment variable holding a bearer token")
    path: str = "/contacts/batch"
    batch_size: int = Field(100, ge=1)
    max_attempts: int = Field(5, ge=1)
    backoff_seconds: float = Field(0.5, ge=0)
    max_backoff_seconds: float = Field(30.0, ge=0)
    timeout_seconds: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _one_url(self) -> "HttpTargetSettings":
        if not self.url and not self.url_env:
            raise ValueError("set `url` or `url_env` (the name of an environment variable)")
        return self


class TargetSettings(_Strict):
    kind: Literal["file", "sql", "http"]
    enabled: bool = True
    purpose: Literal["marketing", "analytics", "operational"] = Field(
        "operational", description="marketing targets only receive customers who consented to marketing, "
        "analytics targets those who consented to analytics"
    )
    purposes: list[Literal["marketing", "analytics"]] | None = Field(
        None, description="consent purposes this target's use needs, all of them (default: from `purpose`)"
    )
    mapping: dict[str, str] = Field(
        description="CRM field <- profile field (a `profiles.golden` column, a `profiles.traits` "
        "column, or `traits.NAME`)"
    )
    file: FileTargetSettings | None = None
    sql: SqlTargetSettings | None = None
    http: HttpTargetSettings | None = None

    @field_validator("mapping")
    @classmethod
    def _mapping(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("map at least one CRM field")
        for crm_field in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", crm_field):
                raise ValueError(f"CRM field {crm_field!r} must be a plain identifier")
            if crm_field in ("customer_id", "op", "reason", "merged_into"):
                raise ValueError(f"CRM field {crm_field!r} is reserved by the change feed")
        return value

    @property
    def consent_purposes(self) -> list[str]:
        """The consent purposes a customer must have granted to be sent to this target."""
        if self.purposes is not None:
            return sorted(set(self.purposes))
        return [self.purpose] if self.purpose in ("marketing", "analytics") else []

    @model_validator(mode="after")
    def _settings_for_kind(self) -> "TargetSettings":
        if self.kind == "file" and self.file is None:
            self.file = FileTargetSettings()
        if self.kind == "sql" and self.sql is None:
            raise ValueError("a `sql` target needs a `sql:` block with at least `url_env`")
        if self.kind == "http" and self.http is None:
            raise ValueError("an `http` target needs an `http:` block with `url` or `url_env`")
        return self


class ConsentSettings(_Strict):
    unknown_allows_marketing: bool = Field(
        False, description="whether a customer with no recorded consent may receive marketing"
    )
    unknown_allows_analytics: bool = Field(
        False, description="whether a customer with no recorded consent may be used for analytics"
    )

    def unknown_allows(self, purpose: str) -> bool:
        return bool(getattr(self, f"unknown_allows_{purpose}"))


class SyncSettings(_Strict):
    consent: ConsentSettings = ConsentSettings()
    targets: dict[str, TargetSettings] = {}

    @field_validator("targets")
    @classmethod
    def _names(cls, value: dict[str, TargetSettings]) -> dict[str, TargetSettings]:
        for name in value:
            if not _NAME.match(name):
                raise ValueError(
                    f"target name {name!r} must be lowercase letters, digits and underscores "
                    "(it becomes a folder name and a CDP_SYNC__TARGETS__NAME env prefix)"
                )
        return value


def load_sync_settings() -> SyncSettings:
    return load_config("sync", SyncSettings)
