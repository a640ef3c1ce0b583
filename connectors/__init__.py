"""Source connectors: web, app, social and transactions into the raw layer and staging.

`ingest_all(home, source_dir=None, sources=None) -> list[LoadResult]` loads whatever is new; see
`connectors.base` for the connector contract and `warehouse.loads` for what a load guarantees.
"""
from connectors.runner import CONNECTORS, SOURCE_NAMES, TransientIngestError, build_connector, ingest_all, ingest_source
from warehouse.loads import LoadResult

__all__ = ["CONNECTORS", "SOURCE_NAMES", "LoadResult", "TransientIngestError", "build_connector", "ingest_all",
           "ingest_source"]
