"""Exports: chosen fields, hashed audiences per platform, changes since the last export, consent."""
from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl
import pytest

from config.profiles import load_profiles_config
from config.segments import SegmentsConfig, load_segments_config
from profiles.exports import ExportError, export_segment
from profiles.segments import run_segments
from profiles.traits import build_traits

from warehouse.connection import connect_home

from _profile_helpers import add_order, open_built

RUN1, RUN2 = dt.datetime(2026, 3, 1, 6), dt.datetime(2026, 3, 2, 6)
EVERYONE = SegmentsConfig.model_validate({"segments": {
    "everyone": {"where": {"field": "records", "op": "gt", "value": 0}},
    "buyers": {"where": {"field": "completed_orders", "op": "gt", "value": 0}},
}})


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def con(built_profile_warehouse):
    con = connect_home(built_profile_warehouse)
    run_segments(con, EVERYONE, now=RUN1)
    yield con
    con.close()


def test_csv_and_parquet_with_chosen_fields(con, built_profile_warehouse, tmp_path):
    result = export_segment(con, built_profile_warehouse, "buyers", "csv", fields=["full_name", "revenue", "order_ids"],
                            out=built_profile_warehouse / "exports" / "b.csv", marketing=False)
    frame = pl.read_csv(built_profile_warehouse / "exports" / "b.csv")
    assert frame.columns == ["customer_id", "full_name", "revenue", "order_ids"]
    assert frame["customer_id"].to_list() == ["cus_john", "cus_juan", "cus_maria"] and result["rows"] == 3
    assert frame.filter(pl.col("customer_id") == "cus_maria")["order_ids"][0] == "o-m1|o-m2|o-m3"
    export_segment(con, built_profile_warehouse, "buyers", "parquet", fields=["customer_id", "emails", "rfm_segment"],
                   out=built_profile_warehouse / "exports" / "b.parquet", marketing=False)
    parquet = pl.read_parquet(built_profile_warehouse / "exports" / "b.parquet")
    assert parquet.schema["emails"] == pl.List(pl.String) and parquet.height == 3
    # Default path lives under HOME/exports/segments/<segment>/.
    default = export_segment(con, built_profile_warehouse, "buyers", "csv", marketing=False)
    assert "/exports/segments/buyers/buyers-csv-" in default["file"]


def test_unknown_field_and_unmaterialized_segment_are_clear_errors(con, built_profile_warehouse):
    with pytest.raises(ExportError, match="unknown field 'emial'.*did you mean email"):
        export_segment(con, built_profile_warehouse, "buyers", "csv", fields=["emial"], marketing=False)
    with pytest.raises(ExportError, match="run `cdp segments"):
        export_segment(con, built_profile_warehouse, "vip", "csv")


@pytest.mark.parametrize("platform, columns, maria_email, maria_phone", [
    # Google Customer Match: gmail.com dots removed (documented), E.164 with '+'.
    ("google", ["Email", "Phone"], "mariagarcia@gmail.com", "+34612345678"),
    # Meta: the address as typed, trimmed and lowercased only; digits with country code, no '+'.
    ("meta", ["email", "phone"], "maria.garcia@gmail.com", "34612345678"),
])
def test_audience_holds_only_platform_normalized_hashes(con, built_profile_warehouse, tmp_path, platform, columns,
                                                        maria_email, maria_phone):
    out = built_profile_warehouse / "exports" / f"{platform}.csv"
    result = export_segment(con, built_profile_warehouse, "everyone", "audience", platform=platform, out=out,
                            marketing=False)
    frame = pl.read_csv(out)
    assert frame.columns == columns
    assert (sha(maria_email), sha(maria_phone)) in list(frame.iter_rows())
    # The anonymous visitor has no email or phone: left out and counted.
    assert result["rows"] == 5 and result["without_identifier"] == 1
    text = out.read_text()
    assert "@" not in text and "612345678" not in text and "maria" not in text.lower()


def test_changes_since_last_export_per_destination(con, built_profile_warehouse, tmp_path):
    first = export_segment(con, built_profile_warehouse, "buyers", "csv", changes=True, out=built_profile_warehouse / "exports" / "1.csv",
                           marketing=False)
    assert (first["entered"], first["exited"]) == (3, 0)  # first export: everyone is new
    again = export_segment(con, built_profile_warehouse, "buyers", "csv", changes=True, out=built_profile_warehouse / "exports" / "2.csv",
                           marketing=False)
    assert again["rows"] == 0
    # Budi buys, Juan's only order is refunded: one enters, one leaves.
    add_order(con, "cus_budi", "o-b1", "2026-02-28T09:00:00.000Z", 40.0)
    con.execute("UPDATE staging.orders SET status = 'refunded' WHERE order_id = 'o-jc1'")
    build_traits(con, load_profiles_config().traits)
    run_segments(con, EVERYONE, now=RUN2)
    third = export_segment(con, built_profile_warehouse, "buyers", "csv", changes=True, fields=["customer_id"],
                           out=built_profile_warehouse / "exports" / "3.csv", marketing=False)
    rows = pl.read_csv(built_profile_warehouse / "exports" / "3.csv").rows()
    assert rows == [("cus_budi", "entered"), ("cus_juan", "exited")] and (third["entered"], third["exited"]) == (1, 1)
    # Another destination has its own state: its first export still sees every member as new.
    audience = export_segment(con, built_profile_warehouse, "buyers", "audience", changes=True, out=built_profile_warehouse / "exports" / "a.csv",
                              marketing=False)
    assert (audience["entered"], audience["exited"]) == (3, 0)
    log = con.execute("SELECT destination, rows FROM segments.exports ORDER BY exported_at, destination").fetchall()
    assert ("csv", 2) in log and len(log) == 4


def test_marketing_exports_honour_consent(con, built_profile_warehouse, tmp_path):
    pytest.importorskip("profiles.consent")
    result = export_segment(con, built_profile_warehouse, "buyers", "csv", fields=["customer_id"], out=built_profile_warehouse / "exports" / "c.csv")
    # Only Maria gave marketing consent (web context); unknown consent is not consent by default.
    assert result["consent_applied"] and result["consent_excluded"] == 2
    assert pl.read_csv(built_profile_warehouse / "exports" / "c.csv")["customer_id"].to_list() == ["cus_maria"]


def test_default_segments_export_end_to_end(con, built_profile_warehouse, tmp_path):
    run_segments(con, load_segments_config(), now=RUN2)
    result = export_segment(con, built_profile_warehouse, "spanish_speaking", "audience", out=built_profile_warehouse / "exports" / "es.csv",
                            marketing=False)
    assert result["rows"] == 2 and result["members"] == 2
