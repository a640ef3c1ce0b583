"""A Segment event whose only ids are blank identifies nobody: it is quarantined, not loaded."""
import json

from connectors import ingest_all
from warehouse.connection import connect_home


def test_blank_anonymous_and_user_ids_are_a_missing_field(tmp_path):
    web = tmp_path / "src" / "web"
    web.mkdir(parents=True)
    events = [
        {"messageId": "ok-1", "type": "page", "anonymousId": "a-1", "timestamp": "2026-01-01T10:00:00Z"},
        {"messageId": "blank-1", "type": "page", "anonymousId": "", "userId": "  ", "timestamp": "2026-01-01T10:01:00Z"},
        {"messageId": "user-1", "type": "track", "event": "X", "anonymousId": "", "userId": "u-1",
         "timestamp": "2026-01-01T10:02:00Z"},
    ]
    (web / "events_2026-01-01.ndjson").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    [result] = ingest_all(tmp_path / "home", source_dir=tmp_path / "src", sources=["web"])
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    con = connect_home(tmp_path / "home", read_only=True)
    try:
        assert con.execute("SELECT record_id, reason, detail FROM raw.quarantine").fetchall() == [
            ("blank-1", "missing_field", "anonymousId")]
    finally:
        con.close()
