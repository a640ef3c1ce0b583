"""Exports stay inside HOME/exports, forget cleans every one, audiences hash as each platform
documents, and every declared consent purpose (analytics too) is honoured."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from config.segments import SegmentsConfig
from config.sync import SyncSettings
from profiles.crm_sync import sync
from profiles.exports import ExportError, export_segment
from profiles.privacy import forget
from profiles.segments import run_segments
from warehouse.connection import connect_home

RUN1 = dt.datetime(2026, 3, 1, 6)
SEGMENTS = SegmentsConfig.model_validate({"segments": {
    "everyone": {"where": {"field": "records", "op": "gt", "value": 0}},
    "tracked": {"purposes": ["analytics"], "where": {"field": "records", "op": "gt", "value": 0}},
}})


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def con(built_profile_warehouse):
    con = connect_home(built_profile_warehouse)
    run_segments(con, SEGMENTS, now=RUN1)
    yield con
    con.close()


@pytest.mark.parametrize("destination", ["../../x", "a/b", "..", "/tmp/x", ".hidden"])
def test_a_destination_that_is_a_path_is_refused(con, built_profile_warehouse, destination):
    with pytest.raises(ExportError, match="a destination is a name"):
        export_segment(con, built_profile_warehouse, "everyone", "csv", destination=destination, marketing=False)
    assert not list(built_profile_warehouse.parent.rglob("x*.csv"))


def test_an_out_file_outside_the_export_folder_is_refused(con, built_profile_warehouse, tmp_path):
    for out in (tmp_path / "elsewhere.csv", built_profile_warehouse / "exports" / ".." / "x.csv",
                built_profile_warehouse / "warehouse.csv"):
        with pytest.raises(ExportError, match="outside .*exports"):
            export_segment(con, built_profile_warehouse, "everyone", "csv", out=out, marketing=False)
    inside = export_segment(con, built_profile_warehouse, "everyone", "csv", marketing=False,
                            out=built_profile_warehouse / "exports" / "mine" / "all.csv")
    assert Path(inside["file"]).exists()


def test_forget_cleans_every_logged_export_even_one_outside_the_home(con, built_profile_warehouse, tmp_path):
    inside = export_segment(con, built_profile_warehouse, "everyone", "csv", marketing=False)
    # A file an older version wrote outside the home, still logged in segments.exports.
    legacy = tmp_path / "legacy" / "everyone.csv"
    legacy.parent.mkdir()
    legacy.write_text(Path(inside["file"]).read_text())
    con.execute("INSERT INTO segments.exports (segment, destination, format, file, rows) VALUES "
                "('everyone', 'old', 'csv', ?, 6)", [str(legacy)])
    con.close()
    forget(built_profile_warehouse, email="maria.garcia@gmail.com", republish_snapshot=False)
    for path in (Path(inside["file"]), legacy):
        text = path.read_text().lower()
        assert "maria" not in text and "612345678" not in text
        assert "john.smith@acme-corp.com" in text


def test_audience_hashes_follow_each_platform_from_the_address_as_typed(con, built_profile_warehouse):
    # As typed: capitals, a space, dots; our matching key is mariagarcia@gmail.com.
    con.execute("UPDATE staging.customer_records SET email = ' Maria.Garcia@GMAIL.com' "
                "WHERE email = 'maria.garcia@gmail.com'")
    con.execute("UPDATE profiles.golden SET email = 'mariagarcia@gmail.com' WHERE customer_id = 'cus_maria'")
    con.execute("UPDATE staging.customer_records SET email = 'Siti.Nur+shop@googlemail.com' WHERE email = 'siti@gmail.com'")
    hashes = {}
    for platform in ("google", "meta"):
        result = export_segment(con, built_profile_warehouse, "everyone", "audience", platform=platform,
                                marketing=False)
        hashes[platform] = set(pl.read_csv(result["file"]).to_series(0).to_list())
    # Google: dots before @ dropped for gmail.com/googlemail.com only; +tags and the domain kept.
    assert sha("mariagarcia@gmail.com") in hashes["google"]
    assert sha("sitinur+shop@googlemail.com") in hashes["google"]
    assert sha("john.smith@acme-corp.com") in hashes["google"]
    # Meta: trimmed and lowercased, nothing else.
    assert sha("maria.garcia@gmail.com") in hashes["meta"]
    assert sha("siti.nur+shop@googlemail.com") in hashes["meta"]
    assert sha("mariagarcia@gmail.com") not in hashes["meta"]


def test_analytics_consent_is_honoured_by_segments_exports_and_sync_targets(con, built_profile_warehouse):
    # Only Maria stated analytics consent (granted, on the web); unknown is not consent.
    tracked = export_segment(con, built_profile_warehouse, "tracked", "csv", fields=["customer_id"],
                             purposes=["analytics"])
    assert pl.read_csv(tracked["file"])["customer_id"].to_list() == ["cus_maria"]
    assert tracked["purposes"] == ["analytics"] and tracked["consent_excluded"] == 5
    con.execute("UPDATE profiles.consent SET granted = false WHERE customer_id = 'cus_maria' AND purpose = 'analytics'")
    refused = export_segment(con, built_profile_warehouse, "tracked", "csv", fields=["customer_id"],
                             purposes=["analytics", "marketing"])
    assert refused["rows"] == 0
    con.execute("UPDATE profiles.consent SET granted = true WHERE customer_id = 'cus_maria'")
    cfg = SyncSettings.model_validate({"targets": {"bi": {"kind": "file", "purposes": ["analytics"],
                                                          "mapping": {"email": "email"}}}})
    first = sync(con, "bi", cfg)
    lines = [json.loads(line) for path in first.files for line in Path(path).read_text().splitlines()]
    assert [row["customer_id"] for row in lines] == ["cus_maria"]


def test_segment_declared_purposes_apply_to_its_exports(built_profile_warehouse, monkeypatch, tmp_path):
    from profiles._steps import export

    (tmp_path / "segments.yaml").write_text(
        "segments:\n  tracked:\n    purposes: [analytics]\n    where: {field: records, op: gt, value: 0}\n")
    monkeypatch.setenv("CDP_CONFIG_DIR", str(tmp_path))
    con = connect_home(built_profile_warehouse)
    run_segments(con, SEGMENTS, now=RUN1)
    con.close()
    result = export(built_profile_warehouse, "tracked", fmt="csv", fields=["customer_id"])
    assert result["purposes"] == ["analytics"] and result["rows"] == 1
