"""A Segment-compatible event collector: tracking SDKs post events, the collector lands them.

The collector only lands events durably; checking and loading stay the connectors' job. Events of
a write key mapped to source `web` (or `app`) are appended to an open segment file under
`HOME/collected/.spool/<source>/`, fsynced in groups before any request is acknowledged, and
rotated by size and age into `HOME/collected/<source>/events_*.ndjson[.gz]`: the files the web and
app connectors read on every ingest of that home, next to their configured folders.

- `connectors.collector.landing`: segment files (group commit, rotation, crash recovery).
- `connectors.collector.events`: request bodies -> NDJSON lines (limits, gzip, stamps).
- `connectors.collector.app`: the FastAPI app on Segment's HTTP Tracking API routes.
- `connectors.collector.server`: `serve(home, settings)`, uvicorn with uvloop and httptools.

Nothing here is imported by ingest: the runner only needs `collected_folder` (warehouse layout).
"""
