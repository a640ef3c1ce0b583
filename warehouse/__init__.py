"""The DuckDB/Parquet warehouse: connection factory, home layout, schema layers, loads, cursors, snapshots.

Knows nothing of identity or profiles: other packages create their own tables through it.
"""
