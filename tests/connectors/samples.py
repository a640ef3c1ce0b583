"""Small hand-made source files, one writer per connector, with known good and bad records.

Each writer puts one day's files under `root/<source>/` and returns what it wrote per stream:
the number of good records and the expected quarantine reason of each bad one, keyed by record id
(`<source>/<file>:<line>` when the record has no usable id).
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Written:
    good: int = 0
    bad: dict[str, str] = field(default_factory=dict)  # record id -> reason
    files: int = 0


def _write(path: Path, text: str, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _ts(day: int, second: int = 0) -> str:
    return f"2026-01-{day:02d}T10:{second // 60 % 60:02d}:{second % 60:02d}.000Z"


def _ndjson(records: list[dict | str]) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def segment_events(source: str, day: int, n_good: int, device: bool) -> tuple[list, dict[str, str]]:
    """n_good valid events plus one bad event of each kind (lines after the good ones)."""
    events: list = []
    for i in range(n_good):
        kind = ("page" if not device else "screen", "track", "identify")[i % 3]
        e = {"messageId": f"{source}-{day}-{i}", "type": kind, "timestamp": _ts(day, i),
             "anonymousId": f"anon-{i % 5}", "context": {"ip": "10.0.0.1"}}
        if kind == "track":
            e["event"] = "Order Completed"
            e["userId"] = f"usr_{i}"
            e["properties"] = {"order_id": f"W{day:02d}{i:04d}", "revenue": 12.5, "currency": "EUR"}
        if kind == "identify":
            e["userId"] = f"usr_{i}"
            e["traits"] = {"email": f"person{i}@mail.test", "phone": "+34 600 000 000", "firstName": "Ana",
                           "lastName": "Gómez", "address": {"city": "Madrid", "country": "ES"}}
        if device:
            e["context"]["device"] = {"id": f"dev-{i % 4}", "type": "ios"}
        events.append(e)
    bad: dict[str, str] = {}
    base = {"type": "track", "event": "Product Viewed", "anonymousId": "anon-x"}
    events.append({**base, "messageId": f"{source}-{day}-bad-type", "timestamp": 12345})
    bad[f"{source}-{day}-bad-type"] = "wrong_type"
    events.append({**base, "messageId": f"{source}-{day}-future", "timestamp": "2091-01-01T00:00:00.000Z"})
    bad[f"{source}-{day}-future"] = "future_timestamp"
    events.append({**base, "messageId": f"{source}-{day}-kind", "timestamp": _ts(day), "type": "teleport"})
    bad[f"{source}-{day}-kind"] = "invalid_value"
    events.append({**base, "messageId": f"{source}-{day}-nobody", "timestamp": _ts(day), "anonymousId": None})
    bad[f"{source}-{day}-nobody"] = "missing_field"
    events.append({**base, "timestamp": _ts(day)})  # no messageId
    events.append(f'{{"messageId": "cut-off-{day}", "type": "pa')  # not JSON
    return events, bad


def write_events(root: Path, source: str, day: int, gz: bool = False, n_good: int = 30) -> dict[str, Written]:
    events, bad = segment_events(source, day, n_good, device=(source == "app"))
    name = f"events_2026-01-{day:02d}.ndjson"
    path = _write(root / source / name, _ndjson(events), gz)
    label = f"{source}/{path.name}"
    bad[f"{label}:{n_good + 5}"] = "missing_field"
    bad[f"{label}:{n_good + 6}"] = "invalid_json"
    return {f"{source}_events": Written(good=n_good, bad=bad, files=1)}


def write_social(root: Path, day: int, gz: bool = False, n_good: int = 12) -> dict[str, Written]:
    out: dict[str, Written] = {}
    profiles: list = [{"profile_id": f"P{day}-{i}", "handle": f"@user{day}_{i}", "display_name": f"User {i}",
                       "location": "Madrid", "followers": i * 10, "created_at": "2020-01-01T12:00:00Z",
                       "updated_at": _ts(day, i)} for i in range(n_good)]
    profiles.append({"profile_id": f"P{day}-bad", "handle": "@bad", "followers": "1.2k", "updated_at": _ts(day)})
    profiles.append({"handle": "@nobody", "updated_at": _ts(day)})
    path = _write(root / "social" / f"profiles_2026-01-{day:02d}.ndjson", _ndjson(profiles), gz)
    out["social_profiles"] = Written(n_good, {f"P{day}-bad": "wrong_type",
                                              f"social/{path.name}:{n_good + 2}": "missing_field"}, 1)

    inter: list = [{"interaction_id": f"I{day}-{i}", "profile_id": f"P{day}-{i}", "handle": f"@user{day}_{i}",
                    "type": "like", "post_id": "post_1", "timestamp": _ts(day, i)} for i in range(n_good)]
    inter.append({"interaction_id": f"I{day}-future", "type": "like", "timestamp": "2080-05-01T00:00:00Z"})
    inter.append(f"{{broken-{day}")
    path = _write(root / "social" / f"interactions_2026-01-{day:02d}.ndjson", _ndjson(inter), gz)
    out["social_interactions"] = Written(n_good, {f"I{day}-future": "future_timestamp",
                                                  f"social/{path.name}:{n_good + 2}": "invalid_json"}, 1)

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["lead_id", "form_id", "profile_id", "handle", "submitted_at", "full_name", "email", "phone",
                "city", "country", "consent_marketing"])
    for i in range(n_good):
        w.writerow([f"L{day}-{i}", "form_a", f"P{day}-{i}", f"@user{day}_{i}", _ts(day, i), f"Lead, {i}",
                    f"lead{i}@mail.test", "", "Jakarta", "ID", "true"])
    w.writerow([f"L{day}-maybe", "form_a", "", "", _ts(day), "X", "", "", "", "ID", "maybe"])
    w.writerow(["", "form_a", "", "", _ts(day), "Y", "", "", "", "ID", "false"])
    text = buf.getvalue() + f"only,three,fields-{day}\n"
    path = _write(root / "social" / f"leads_2026-01-{day:02d}.csv", text, gz)
    out["social_leads"] = Written(n_good, {f"L{day}-maybe": "wrong_type",
                                           f"social/{path.name}:{n_good + 3}": "missing_field",
                                           f"social/{path.name}:{n_good + 4}": "malformed_row"}, 1)
    return out


ORDER_COLUMNS = ["order_id", "channel", "created_at", "updated_at", "status", "amount", "currency", "items",
                 "customer_account_id", "email", "phone", "first_name", "last_name", "billing_street",
                 "billing_city", "billing_postcode", "billing_region", "billing_country"]


def order_row(order_id: str, channel: str, created: str, updated: str | None = None, status: str = "completed",
              amount: str | float = "10.50", account: str = "") -> list:
    return [order_id, channel, created, updated or created, status, amount, "EUR",
            json.dumps([{"sku": "SKU-1", "name": "Item", "qty": 1, "unit_price": 10.5}]), account,
            f"{order_id.lower()}@mail.test", "+34 600 000 001", "Ana", "Gómez", "Calle 1", "Madrid", "28001",
            "Madrid", "ES"]


def write_store_orders(root: Path, day: int, gz: bool = False, n_good: int = 10) -> Written:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ORDER_COLUMNS)
    for i in range(n_good):
        w.writerow(order_row(f"S{day:02d}{i:04d}", "store", _ts(day, i)))
    w.writerow(order_row(f"S{day:02d}-abc", "store", _ts(day), amount="abc"))
    w.writerow(order_row("", "store", _ts(day)))
    w.writerow(order_row(f"S{day:02d}-future", "store", "2099-01-01T00:00:00Z"))
    path = _write(root / "transactions" / f"orders_2026-01-{day:02d}.csv", buf.getvalue(), gz)
    return Written(n_good, {f"S{day:02d}-abc": "wrong_type",
                            f"transactions/{path.name}:{n_good + 3}": "missing_field",
                            f"S{day:02d}-future": "future_timestamp"}, 1)


def shop_database(root: Path) -> Path:
    path = root / "transactions" / "shop.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE IF NOT EXISTS orders (" + ", ".join(
        f"{c} NUMERIC" if c == "amount" else f"{c} TEXT" for c in ORDER_COLUMNS) + ")")
    con.commit()
    con.close()
    return path


def shop_insert(root: Path, rows: list[list]) -> None:
    con = sqlite3.connect(shop_database(root))
    con.executemany(f"INSERT INTO orders VALUES ({', '.join('?' * len(ORDER_COLUMNS))})", rows)
    con.commit()
    con.close()


def write_transactions(root: Path, day: int, gz: bool = False, n_good: int = 10) -> dict[str, Written]:
    store = write_store_orders(root, day, gz, n_good)
    web_rows = [order_row(f"W{day:02d}{i:04d}", "web", _ts(day, i), amount=10.5 + i, account=f"usr_{i}")
                for i in range(n_good)]
    web_rows.append(order_row(f"W{day:02d}-abc", "web", _ts(day), amount="abc"))
    shop_insert(root, web_rows)
    store.good += n_good
    store.bad[f"W{day:02d}-abc"] = "wrong_type"
    return {"orders": store}


WRITERS = {
    "web": lambda root, day, gz=False: write_events(root, "web", day, gz),
    "app": lambda root, day, gz=False: write_events(root, "app", day, gz),
    "social": write_social,
    "transactions": write_transactions,
}
