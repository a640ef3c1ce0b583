"""Identity resolution: normalization, deterministic graph, matching, clustering, stable ids, explain."""
from __future__ import annotations

import warnings

# We read query results as Arrow through execute(); the copy it warns about is small next to the
# cost of mixing execute() and sql() results on one connection (DuckDB 2.0 forbids interleaving).
warnings.filterwarnings("ignore", message="Arrow output on a DB-API result", category=UserWarning)


def resolve(home_or_con, mode: str = "incremental", settings=None, debug=None, map_parts=None, parts=None):
    """Resolve staging records into customers (see identity.resolution.resolve)."""
    from identity.resolution import resolve as _resolve

    return _resolve(home_or_con, mode=mode, settings=settings, debug=debug, map_parts=map_parts, parts=parts)


__all__ = ["resolve"]
