"""Where things live inside a home folder (`--home DIR` / `CDP_HOME`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
        for folder in (self.root, self.raw, self.exports, self.snapshots, self.reports):
            folder.mkdir(parents=True, exist_ok=True)
        return self
