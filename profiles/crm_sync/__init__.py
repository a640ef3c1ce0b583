"""CRM sync (reverse ETL): a change feed of golden profiles to file, SQL and HTTP targets.

`sync(con_or_home, target_name)` sends what changed since that target's last sync; state in
`ops.sync_state`, one row per run in `ops.sync_runs`. See `feed.py` for the rules.
"""
from profiles.crm_sync.feed import ChangeFeed, compute_change_feed, ensure_state_tables, queue_deletes
from profiles.crm_sync.runner import SyncResult, enabled_targets, sync, sync_connection
from profiles.crm_sync.targets import BatchOutcome, FileTarget, HttpTarget, SqlTarget, idempotency_key

__all__ = [
    "BatchOutcome", "ChangeFeed", "FileTarget", "HttpTarget", "SqlTarget", "SyncResult",
    "compute_change_feed", "enabled_targets", "ensure_state_tables", "idempotency_key",
    "queue_deletes", "sync", "sync_connection",
]
