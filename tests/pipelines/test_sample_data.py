"""The synthetic source generator: determinism, complete truth, formats, and the noise it promises.

Plain-function tests (no Prefect): they read the files back the way a connector would.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import sqlite3
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.sample_data import generate, generate_web_events
from pipelines.sample_data.generator import run_generator
from pipelines.sample_data.sinks import LEAD_COLUMNS, ORDER_COLUMNS

CUSTOMERS = 1500
SEED = 11
BROKEN_SHARE = 0.05
PLACEHOLDER_EMAILS = {"test@test.com", "null", "anonymous", "n/a"}


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")


def _digest_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("gen") / "src"
    # Several chunks in two worker processes: ids, line numbers and gzip members span chunks.
    manifest = run_generator(out, CUSTOMERS, SEED, broken_share=BROKEN_SHARE, days=20,
                             chunk_persons=400, workers=2)
    return out, manifest


@pytest.fixture(scope="module")
def truth(generated) -> dict[str, dict]:
    out, _ = generated
    table = pq.read_table(out / "truth.parquet").to_pylist()
    return {(row["file"], row["record_id"]): row for row in table}


@pytest.fixture(scope="module")
def records(generated, truth):
    """Every record read back: (file, record_id, parsed value or None, truth row)."""
    out, _ = generated
    rows = []
    for path in sorted(out.rglob("*")):
        rel = str(path.relative_to(out))
        if ".ndjson" in rel:
            for n, line in enumerate(_read_text(path).splitlines(), 1):
                try:
                    value = json.loads(line)
                except json.JSONDecodeError:
                    value = None
                key_field = ("interaction_id" if "interactions_" in rel else
                             "profile_id" if "profiles_" in rel else "messageId")
                key = value.get(key_field) if isinstance(value, dict) else None
                record_id = key if isinstance(key, str) else f"{rel}:{n}"
                rows.append((rel, record_id, value, truth.get((rel, record_id))))
        elif ".csv" in rel:
            reader = csv.DictReader(io.StringIO(_read_text(path)))
            for n, value in enumerate(reader, 2):
                key = value.get("order_id") if "orders_" in rel else value.get("lead_id")
                record_id = key or f"{rel}:{n}"
                rows.append((rel, record_id, value, truth.get((rel, record_id))))
        elif rel.endswith(".sqlite"):
            con = sqlite3.connect(path)
            con.row_factory = sqlite3.Row
            for row in con.execute("SELECT rowid AS _rowid, * FROM orders ORDER BY rowid"):
                value = dict(row)
                record_id = value["order_id"] or f"{rel}:{value['_rowid']}"
                rows.append((rel, record_id, value, truth.get((rel, record_id))))
            con.close()
    return rows


def test_same_seed_gives_same_bytes_and_another_seed_does_not(tmp_path):
    first = _digest_tree(Path(generate(tmp_path / "a", 400, 3, days=10) and tmp_path / "a"))
    second = _digest_tree(Path(generate(tmp_path / "b", 400, 3, days=10) and tmp_path / "b"))
    other = _digest_tree(Path(generate(tmp_path / "c", 400, 4, days=10) and tmp_path / "c"))
    assert len(first) > 20
    assert first == second
    assert first["truth.parquet"] != other["truth.parquet"]
    assert first["transactions/shop.sqlite"] != other["transactions/shop.sqlite"]


def test_bytes_do_not_depend_on_the_number_of_worker_processes(tmp_path):
    inline = run_generator(tmp_path / "one", 500, 3, days=10, chunk_persons=150, workers=1)
    pooled = run_generator(tmp_path / "two", 500, 3, days=10, chunk_persons=150, workers=2)
    assert inline == pooled
    assert _digest_tree(tmp_path / "one") == _digest_tree(tmp_path / "two")
    # Chunk 3 numbers its orders from its own block, so no two chunks can share an id.
    orders = [line.split(",")[0] for p in sorted((tmp_path / "one" / "transactions").glob("orders_*"))
              for line in _read_text(p).splitlines()[1:] if not line.startswith(",")]
    assert len(orders) == len(set(orders)) > 100
    assert any(o.startswith("S003") for o in orders) and any(o.startswith("S000") for o in orders)


def test_generating_again_into_the_same_folder_replaces_the_output(tmp_path):
    generate(tmp_path / "x", 100, 1, days=30)
    generate(tmp_path / "x", 100, 1, days=5)
    days = {p.name[len("events_"):][:10] for p in (tmp_path / "x" / "web").iterdir()}
    assert len(days) <= 5


def test_refuses_a_folder_holding_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not generator output"):
        generate(tmp_path, 10, 1)


def test_every_record_is_in_truth_once_and_counts_match_manifest(generated, truth, records):
    out, manifest = generated
    missing = [(rel, rid) for rel, rid, _, row in records if row is None]
    assert missing == []
    assert len(records) == len(truth) == manifest["records"]
    per_file = defaultdict(int)
    for rel, *_ in records:
        per_file[rel] += 1
    assert dict(per_file) == {rel: c["records"] for rel, c in manifest["files"].items()}
    persons = {row["person_id"] for row in truth.values() if row["person_id"]}
    assert len(persons) == CUSTOMERS  # everyone simulated leaves a trace somewhere


def test_broken_share_is_respected_and_each_kind_occurs(generated, truth):
    _, manifest = generated
    broken = [row["broken"] for row in truth.values() if row["broken"]]
    share = len(broken) / len(truth)
    assert 0.8 * BROKEN_SHARE < share < 1.2 * BROKEN_SHARE
    assert set(broken) == {"invalid_json", "missing_field", "wrong_type", "future_timestamp"}
    assert manifest["broken"] == len(broken)


def test_zero_broken_share_gives_clean_files(tmp_path):
    manifest = generate(tmp_path, 200, 5, broken_share=0.0, days=10)
    assert manifest["broken"] == 0
    truth = pq.read_table(tmp_path / "truth.parquet")
    assert truth.column("broken").null_count == truth.num_rows


def _is_iso(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


def test_events_have_required_fields_unless_marked_broken(records):
    seen_types = defaultdict(set)
    for rel, rid, value, row in records:
        if not rel.startswith(("web/", "app/")):
            continue
        if value is None:
            assert row["broken"] == "invalid_json", (rel, rid)
            continue
        if row["broken"] == "missing_field":
            assert not {"messageId", "type", "timestamp"} <= value.keys()
            continue
        assert {"messageId", "type", "timestamp"} <= value.keys(), (rel, rid)
        assert value.get("anonymousId") or value.get("userId")
        if row["broken"] == "wrong_type":
            assert not isinstance(value["timestamp"], str)
            continue
        assert _is_iso(value["timestamp"]), (rel, rid)
        year = int(value["timestamp"][:4])
        assert (year > 2027) == (row["broken"] == "future_timestamp")
        seen_types[rel.split("/")[0]].add(value["type"])
        if value["type"] == "identify":
            assert isinstance(value["traits"], dict)
        if rel.startswith("app/"):
            assert value["context"]["device"]["id"]
        else:
            assert isinstance(value["context"]["consent"]["categoryPreferences"]["marketing"], bool)
    assert seen_types["web"] == {"page", "track", "identify", "alias"}
    assert seen_types["app"] == {"screen", "track", "identify"}


def test_orders_match_the_contract(generated, records):
    out, _ = generated
    con = sqlite3.connect(out / "transactions" / "shop.sqlite")
    columns = [r[1] for r in con.execute("PRAGMA table_info(orders)")]
    con.close()
    assert tuple(columns) == ORDER_COLUMNS
    order_ids, web_order_events = [], set()
    for rel, rid, value, row in records:
        if rel.startswith("transactions/"):
            if ".csv" in rel:
                assert tuple(value.keys()) == ORDER_COLUMNS
            assert value["channel"] == ("web" if rel.endswith(".sqlite") else "store")
            if row["broken"] == "missing_field":
                assert not value["order_id"]
                continue
            order_ids.append(value["order_id"])
            if row["broken"] == "wrong_type":
                assert value["amount"] == "abc"
                continue
            assert float(value["amount"]) > 0
            assert value["currency"] in {"EUR", "MXN", "IDR", "USD"}
            assert all({"sku", "name", "qty", "unit_price"} <= i.keys() for i in json.loads(value["items"]))
            assert value["updated_at"] >= value["created_at"]
        elif rel.startswith("web/") and value and value.get("event") == "Order Completed":
            web_order_events.add(value["properties"]["order_id"])
    assert len(order_ids) == len(set(order_ids))  # unique across CSV drops and the shop database
    # An Order Completed event points at a shop order, unless that row lost its order_id.
    rows_without_id = sum(1 for rel, _, _, row in records
                          if rel.endswith(".sqlite") and row["broken"] == "missing_field")
    assert len(web_order_events) > 100
    assert len(web_order_events - set(order_ids)) <= rows_without_id
    statuses = {v["status"] for rel, _, v, _ in records if rel.startswith("transactions/")}
    assert statuses == {"completed", "refunded", "cancelled"}


def test_social_files_match_the_contract(records):
    kinds = defaultdict(int)
    for rel, rid, value, row in records:
        if not rel.startswith("social/") or row["broken"]:
            continue
        if "leads_" in rel:
            assert tuple(value.keys()) == LEAD_COLUMNS
            assert value["consent_marketing"] in {"true", "false"}
            assert value["email"] or value["phone"]
        elif "profiles_" in rel:
            assert value["handle"].startswith("@") and isinstance(value["followers"], int)
        else:
            assert value["type"] in {"follow", "comment", "like", "share"}
            assert ("text" in value) == (value["type"] == "comment")
        kinds[rel.split("/")[1].split("_")[0]] += 1
    assert set(kinds) == {"leads", "profiles", "interactions"}


def _clean_email(email: str) -> str:
    local, _, domain = email.strip().lower().partition("@")
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        return local.replace(".", "") + "@gmail.com"
    return f"{local}@{domain}"


def _emails(value: dict) -> list[str]:
    found = []
    if "email" in value and isinstance(value["email"], str):
        found.append(value["email"])
    traits = value.get("traits") or {}
    if isinstance(traits.get("email"), str):
        found.append(traits["email"])
    return [e for e in found if e]


def test_placeholders_are_shared_by_unrelated_persons_and_real_emails_are_not(records):
    persons_by_email = defaultdict(set)
    for rel, rid, value, row in records:
        if value is None:
            continue
        for email in _emails(value):
            persons_by_email[_clean_email(email)].add(row["person_id"])
    placeholders = {e: p for e, p in persons_by_email.items() if e in PLACEHOLDER_EMAILS}
    assert max(len(p - {None}) for p in placeholders.values()) >= 3
    assert None in placeholders["test@test.com"]  # QA traffic of nobody
    shared_real = {e for e, p in persons_by_email.items() if e not in PLACEHOLDER_EMAILS and len(p) > 1}
    # Only typos can make two persons meet on one address; at most a handful.
    assert len(shared_real) <= 3


def test_a_family_tablet_is_shared_by_two_persons_each_with_their_own_user_id(records):
    persons_by_device = defaultdict(set)
    user_ids_by_device = defaultdict(set)
    for rel, rid, value, row in records:
        if rel.startswith("app/") and value and "context" in value:
            device = value["context"]["device"]["id"]
            persons_by_device[device].add(row["person_id"])
            if value.get("userId"):
                user_ids_by_device[device].add(value["userId"])
    shared = [d for d, p in persons_by_device.items() if len(p) == 2]
    assert shared
    assert all(len(user_ids_by_device[d]) == 2 for d in shared)
    assert max(len(p) for p in persons_by_device.values()) == 2


def test_distinct_persons_share_very_common_full_names(records):
    from unidecode import unidecode

    persons_by_name = defaultdict(set)
    for rel, rid, value, row in records:
        if rel.startswith("transactions/") and value and row["person_id"]:
            name = unidecode(f"{value['first_name']} {value['last_name']}").lower().split()
            persons_by_name[" ".join(name)].add(row["person_id"])
    assert any(len(persons_by_name[n]) >= 2 for n in ("maria garcia", "muhammad rizki", "james smith",
                                                      "mary johnson", "juan hernandez", "jose fernandez"))


def test_noise_kinds_are_present(records):
    phones, emails, firsts = [], [], []
    for rel, rid, value, row in records:
        if rel.startswith("transactions/") and value and not row["broken"]:
            phones.append(value["phone"])
            emails.append(value["email"])
            firsts.append(value["first_name"])
    assert any(p.startswith("+34 ") for p in phones) and any(p.startswith("08") and "-" in p for p in phones)
    assert any(p.startswith("(") for p in phones) and any(p.isdigit() and len(p) == 9 for p in phones)
    assert any("googlemail.com" in e for e in emails) and any("+" in e for e in emails)
    assert any(e != e.strip() for e in emails) and any(e != e.lower() for e in emails)
    assert "0000000000" in phones
    assert any(f.isupper() for f in firsts if len(f) > 2)


def test_households_share_an_address_but_not_a_person(truth, records):
    by_household_address = defaultdict(set)
    for rel, rid, value, row in records:
        if rel.endswith(".sqlite") and not row["broken"]:
            by_household_address[(row["household_id"], value["billing_city"])].add(row["person_id"])
    assert any(len(p) >= 2 for p in by_household_address.values())


def test_web_only_generator_for_benchmarks(tmp_path):
    manifest = generate_web_events(tmp_path, 20_000, seed=1)
    assert set(manifest["streams"]) == {"web_events"}
    assert 15_000 < manifest["records"] < 25_000
    assert all(not p.name.endswith(".gz") for p in (tmp_path / "web").iterdir())
    assert not (tmp_path / "transactions").exists()


def test_cli_reports_counts(tmp_path, capsys):
    from pipelines.cli import main

    assert main(["generate", "--customers", "50", "--seed", "2", "--out", str(tmp_path / "o"), "--days", "5"]) == 0
    assert "generated 50 persons" in capsys.readouterr().out
    assert main(["generate", "--customers", "0", "--out", str(tmp_path / "p")]) == 2
    assert "--customers must be at least 1" in capsys.readouterr().err
