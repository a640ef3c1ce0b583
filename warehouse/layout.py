"""Where things live inside a home folder (`--home DIR` / `CDP_HOME`)."""
from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path


class HomeNotWritableError(ValueError):
    """The home folder cannot be written (read-only, permissions, disk full): a one-line user error."""


_NOT_WRITABLE = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                 errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on the device",
                 errno.EDQUOT: "disk quota exceeded"}


def not_writable_reason(exc: BaseException) -> str | None:
    """Why a write failed when the cause is the home's disk or permissions (else None)."""
    if isinstance(exc, OSError) and exc.errno in _NOT_WRITABLE:
        return _NOT_WRITABLE[exc.errno]
    if not isinstance(exc, OSError) and type(exc).__name__ != "IOException":  # DuckDB's I/O errors
        return None
    text = str(exc)
    for needle, reason in (("Read-only file system", "read-only file system"),
                           ("Permission denied", "permission denied"),
                           ("No space left on device", "no space left on the device")):
        if needle in text:
            return reason
    return None


def not_writable(home: Path, reason: str) -> HomeNotWritableError:
    return HomeNotWritableError(f"home {home} cannot be written ({reason}): free some space or fix its "
                                "permissions, or give another --home")


@dataclass(frozen=True)
class HomeLayout:
    root: Path

    @property
    def database(self) -> Path:
        """The DuckDB file: tables of every layer and the views over raw Parquet."""
        return self.root / "warehouse.duckdb"

    @property
    def raw(self) -> Path:
        """Raw Parquet: raw/<stream>/event_date=YYYY-MM-DD/<load_id>-<n>.parquet."""
        return self.root / "raw"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def snapshots(self) -> Path:
        """Published read-only copies of the warehouse for readers in other processes."""
        return self.root / "snapshots"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def collected(self) -> Path:
        """Events landed by `cdp collect`: collected/<source>/events_*.ndjson[.gz], read by every ingest."""
        return self.root / "collected"

    @property
    def lock_file(self) -> Path:
        """Held by the one pipeline run that writes the warehouse."""
        return self.root / ".cdp.lock"

    def ensure(self) -> "HomeLayout":
        """Create the home's folders; a home that cannot be written raises HomeNotWritableError."""
        try:
            for folder in (self.root, self.raw, self.exports, self.snapshots, self.reports):
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = not_writable_reason(exc)
            if reason is None:
                raise
            raise not_writable(self.root, reason) from None
        return self
