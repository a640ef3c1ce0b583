"""Synthetic CDP sources with ground truth: web, app, social and transactions of simulated persons.

Persons are made in chunks; each chunk's records are sorted per day file, appended to the open
files, and mapped to their person in `truth.parquet`. Everything random comes from the seed and
the chunk index, so the same seed gives the same bytes.
"""
from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import random
import shutil
from collections import Counter, defaultdict, deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from operator import itemgetter
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.sample_data.noise import (
    PLACEHOLDER_EMAILS, PLACEHOLDER_PHONES, ascii_fold, case_and_space, email_variant,
    name_variant, phone_variant,
)
from pipelines.sample_data.people import Person, Registry, make_persons
from pipelines.sample_data.pools import COUNTRY_NAME, CURRENCY, WEB_LOCALE
from pipelines.sample_data.sinks import (
    LEAD_COLUMNS, ORDER_COLUMNS, TRUTH_SCHEMA, FileSet, ShopDatabase, TruthWriter, csv_blob, gzip_member,
)

log = logging.getLogger(__name__)

GENERATOR_VERSION = 1
DAY_MS = 86_400_000
CHUNK_PERSONS = 5_000
# Ids of orders, leads and interactions are chunk_index * ID_BLOCK + n: unique without a shared
# counter, and chunk 0 numbers from 1 as a single sequential run would.
ID_BLOCK = 1_000_000
ALL_SOURCES = ("web", "app", "social", "transactions")
EVENT_DAMAGE = ("invalid_json", "missing_field", "wrong_type", "future_timestamp")
ROW_DAMAGE = ("missing_field", "wrong_type", "future_timestamp")
OUTPUT_DIRS = ("web", "app", "social", "transactions")
OUTPUT_FILES = ("truth.parquet", "manifest.json")

SHOP_URL = "https://shop.example.com"
PAGES = (
    ("Home", "/", "Home | Shop"), ("Category", "/c/shoes", "Shoes | Shop"),
    ("Category", "/c/bags", "Bags | Shop"), ("Product", "/p/", "Product | Shop"),
    ("Search", "/search", "Search | Shop"), ("Offers", "/offers", "Offers | Shop"),
)
SCREENS = ("Home", "Search", "Product Detail", "Cart", "Profile", "Offers")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
# (sku, name, price in USD)
CATALOG = (
    ("SKU-1001", "Running Shoes", 89.0), ("SKU-1002", "Leather Bag", 129.0), ("SKU-1003", "Cotton T-Shirt", 19.0),
    ("SKU-1004", "Denim Jacket", 74.0), ("SKU-1005", "Sunglasses", 39.0), ("SKU-1006", "Wool Scarf", 24.0),
    ("SKU-1007", "Sneakers", 64.0), ("SKU-1008", "Backpack", 55.0), ("SKU-1009", "Watch", 149.0),
    ("SKU-1010", "Socks (3 pack)", 9.0),
)
# "HH:MM:SS" for every second of a day: one lookup instead of formatting three numbers per record.
_CLOCK = tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400))
USD_RATE = {"EUR": 0.92, "MXN": 17.0, "IDR": 15500.0, "USD": 1.0}
COMMENTS = ("Love it!", "Where can I buy this?", "Precioso 😍", "Bagus banget!", "Is this on sale?",
            "Me encanta", "Great quality", "Ada size M?", "¿Hacen envíos?", "🔥🔥🔥")


class _Buffer:
    """One chunk's records grouped by file, before sorting and line numbering."""

    def __init__(self) -> None:
        self.by_file: dict[str, list[tuple]] = defaultdict(list)

    def add(self, rel: str, ts: str, payload, source: str, stream: str, record_id: str | None,
            person: Person | None, broken: str | None) -> None:
        self.by_file[rel].append((
            ts, payload, source, stream, record_id,
            person.person_id if person else None, person.household_id if person else None, broken,
        ))


@dataclass(frozen=True)
class _Settings:
    """What every chunk needs to know about the run; sent once to each worker process."""

    broken_share: float
    period_ms: int
    sources: tuple[str, ...]
    gz: str
    day_names: tuple[str, ...]
    # Level 3: twice as fast as 6 for files ~19% larger (measured on web events); the writing
    # workers are the bottleneck of a large run.
    compress_level: int = 3


class _ChunkMaker:
    """Builds every record of one chunk of persons."""

    def __init__(self, cfg: _Settings, chunk_index: int, rng: random.Random):
        self.cfg = cfg
        self.chunk_index = chunk_index
        self.rng = rng
        self.buf = _Buffer()
        self.by_file = self.buf.by_file  # the hottest path appends here directly
        self.seq: Counter = Counter()

    def next_id(self, kind: str) -> int:
        """A run-wide unique number that depends only on the chunk, so chunks can be made in any order."""
        self.seq[kind] += 1
        n = self.seq[kind]
        if n >= ID_BLOCK:
            raise RuntimeError(f"chunk {self.chunk_index} made {n} {kind} ids; lower chunk_persons")
        return self.chunk_index * ID_BLOCK + n

    # ---- helpers -------------------------------------------------------------------------
    def ts(self, ms: int) -> str:
        day, rem = divmod(ms, DAY_MS)
        sec, milli = divmod(rem, 1000)
        return f"{self.cfg.day_names[day]}T{_CLOCK[sec]}.{milli:03d}Z"

    def day(self, ms: int) -> str:
        return self.cfg.day_names[ms // DAY_MS]

    def future(self, ts: str, years: int | None = None) -> str:
        """The same instant `years` (default: 5 to 70) later, like a device with a broken clock."""
        year = int(ts[:4]) + (years or self.rng.randint(5, 70))
        out = f"{year}{ts[4:]}"
        return out.replace("-02-29", "-02-28")

    def damage(self, kinds: tuple[str, ...]) -> str | None:
        if self.cfg.broken_share and self.rng.random() < self.cfg.broken_share:
            return self.rng.choice(kinds)
        return None

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:]}"

    def session_start(self) -> int:
        return int(self.rng.random() * (self.cfg.period_ms - 3 * 3_600_000))

    def gap(self, low: int, high: int) -> int:
        """Milliseconds between two events of a session (cheaper than randrange)."""
        return low + int(self.rng.random() * (high - low))

    # ---- Segment events (web and app) --------------------------------------------------------
    def emit_event(self, source: str, event: dict, person: Person | None) -> None:
        ts = event["timestamp"]
        rel = f"{source}/events_{ts[:10]}.ndjson{self.cfg.gz}"
        kind = self.damage(EVENT_DAMAGE)
        record_id = event["messageId"]
        if kind == "missing_field":
            field = self.rng.choice(("messageId", "messageId", "timestamp", "type"))
            del event[field]
            if field == "messageId":
                record_id = None
        elif kind == "wrong_type":
            event["timestamp"] = self.rng.randrange(1, 10**6)
        elif kind == "future_timestamp":
            event["timestamp"] = self.future(ts)
        line = orjson.dumps(event)
        if kind == "invalid_json":
            line = line[: self.rng.randrange(8, len(line) - 1)]
            record_id = None
        # A new exact-size bytes: orjson's own result keeps its 4 KiB buffer (measured: 277 MiB
        # held by one 5,000-person chunk instead of ~45 MiB).
        line += b"\n"
        self.by_file[rel].append((ts, line, source, f"{source}_events", record_id,
                                  person.person_id if person else None,
                                  person.household_id if person else None, kind))

    def traits(self, p: Person, with_email: bool = True) -> dict:
        rng = self.rng
        traits: dict = {}
        placeholder = rng.random() < 0.01
        if with_email:
            traits["email"] = rng.choice(PLACEHOLDER_EMAILS) if placeholder else email_variant(p.email, rng)
        first, last = name_variant(p.first, p.last, rng)
        roll = rng.random()
        if roll < 0.55 or placeholder:
            traits["firstName"] = first
            if last:
                traits["lastName"] = last
        elif roll < 0.85:
            traits["name"] = f"{first} {last}".strip()
        if placeholder or rng.random() < 0.55:
            traits["phone"] = phone_variant(p.locale, p.phone, rng)
        if rng.random() < 0.3:
            traits["birthday"] = p.dob
        if placeholder or rng.random() < 0.3:
            traits["address"] = {"street": case_and_space(p.street, rng), "city": p.city,
                                 "postalCode": p.postcode, "state": p.region, "country": p.country}
        return traits

    def web(self, p: Person) -> None:
        rng = self.rng
        consent = {"categoryPreferences": {"marketing": p.consent_marketing, "analytics": p.consent_analytics}}
        locale = WEB_LOCALE[p.locale]
        browsers = {c: (f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                        rng.choice(USER_AGENTS)) for c in p.cookies}
        n_sessions = max(len(p.cookies), 1 + sum(rng.random() < 0.5 for _ in range(4)))
        starts = sorted(self.session_start() for _ in range(n_sessions))
        order_sessions = Counter(rng.randrange(n_sessions) for _ in range(p.web_orders))
        will_identify = {c: rng.random() < 0.98 for c in p.cookies}
        seen: set[str] = set()
        logged_in: set[str] = set()
        contexts: dict[tuple[str, str], dict] = {}

        def event(kind: str, t: int, cookie: str, uid: str | None, page: tuple | None = None, **fields) -> int:
            ip, agent = browsers[cookie]
            name, path, title = page or rng.choice(PAGES)
            if path == "/p/":
                path = f"/p/{rng.choice(CATALOG)[0].lower()}"
            ev = {"messageId": self.uuid(), "type": kind, "timestamp": self.ts(t), "anonymousId": cookie}
            if uid:
                ev["userId"] = uid
            ev.update(fields)
            if kind == "page":
                ev["name"] = name
                ev["properties"] = {"path": path, "url": SHOP_URL + path, "title": title}
            context = contexts.get((cookie, path))
            if context is None:  # shared between events: orjson writes it again each time
                context = contexts[(cookie, path)] = {
                    "ip": ip, "userAgent": agent, "locale": locale,
                    "page": {"path": path, "url": SHOP_URL + path, "title": title}, "consent": consent}
            ev["context"] = context
            self.emit_event("web", ev, p)
            return t + self.gap(5_000, 180_000)

        for s, t in enumerate(starts):
            cookie = p.cookies[s] if s < len(p.cookies) else rng.choice(p.cookies)
            first_visit = cookie not in seen
            seen.add(cookie)
            uid = p.account_id if (cookie in logged_in and rng.random() < 0.85) else None
            for _ in range(1 + int(rng.random() * 3)):
                t = event("page", t, cookie, uid)
            if first_visit and will_identify[cookie]:
                if p.account_id:
                    uid = p.account_id
                    logged_in.add(cookie)
                    if rng.random() < 0.4:
                        t = event("alias", t, cookie, uid, previousId=cookie)
                    t = event("identify", t, cookie, uid, traits=self.traits(p, with_email=rng.random() < 0.9))
                else:
                    t = event("identify", t, cookie, None, traits=self.traits(p))
            for _ in range(int(rng.random() * 3)):
                sku, name, usd = rng.choice(CATALOG)
                t = event("track", t, cookie, uid, event="Product Viewed",
                          properties={"product_id": sku, "name": name, "price": usd})
            for _ in range(order_sessions.get(s, 0)):
                items, amount, currency = self.basket(p)
                t = event("track", t, cookie, uid, event="Checkout Started",
                          properties={"revenue": amount, "currency": currency})
                if uid is None and rng.random() < 0.5:
                    t = event("identify", t, cookie, None, traits=self.traits(p))
                order_id = f"W{self.next_id('web_order'):09d}"
                t = event("track", t, cookie, uid, event="Order Completed",
                          properties={"order_id": order_id, "revenue": amount, "currency": currency,
                                      "products": [{"sku": i["sku"], "quantity": i["qty"]} for i in items]})
                if "transactions" in self.cfg.sources:
                    self.order(p, order_id, "web", t, uid, items, amount, currency)

    def app(self, p: Person) -> None:
        rng = self.rng
        consent = {"categoryPreferences": {"marketing": p.consent_marketing, "analytics": p.consent_analytics}}
        for dev in p.devices:
            device = {"id": dev.device_id, "manufacturer": "Apple" if dev.os == "ios" else "Samsung",
                      "model": dev.model, "type": dev.os}
            context = {"app": {"name": "Shop", "version": "5.2.1", "build": "5210"}, "device": device,
                       "os": {"name": "iOS" if dev.os == "ios" else "Android", "version": "17.5" if dev.os == "ios" else "14"},
                       "locale": WEB_LOCALE[p.locale], "consent": consent}
            n_sessions = 1 + sum(rng.random() < 0.5 for _ in range(4))
            starts = sorted(self.session_start() for _ in range(n_sessions))

            def event(kind: str, t: int, uid: str | None, **fields) -> int:
                ev = {"messageId": self.uuid(), "type": kind, "timestamp": self.ts(t), "anonymousId": dev.install_id}
                if uid:
                    ev["userId"] = uid
                ev.update(fields)
                ev["context"] = context
                self.emit_event("app", ev, p)
                return t + self.gap(3_000, 120_000)

            if not dev.shared or dev.owner_idx == p.idx:
                event("track", max(0, starts[0] - rng.randrange(60_000, 3_600_000)), None,
                      event="Application Installed", properties={"version": "5.2.1", "build": "5210"})
            for s, t in enumerate(starts):
                if s == 0 or dev.shared:
                    t = event("identify", t, p.account_id, traits=self.traits(p, with_email=rng.random() < 0.7))
                for _ in range(1 + int(rng.random() * 3)):
                    t = event("screen", t, p.account_id, name=rng.choice(SCREENS), properties={})
                if rng.random() < 0.4:
                    sku, name, usd = rng.choice(CATALOG)
                    event("track", t, p.account_id, event="Product Viewed",
                          properties={"product_id": sku, "name": name, "price": usd})

    # ---- social ----------------------------------------------------------------------------------
    def emit_json_row(self, rel_prefix: str, stream: str, row: dict, key: str, ts_field: str,
                      person: Person, wrong: tuple[str, object]) -> None:
        ts = row[ts_field]
        rel = f"social/{rel_prefix}_{ts[:10]}.ndjson"
        kind = self.damage(EVENT_DAMAGE)
        record_id = row[key]
        if kind == "missing_field":
            del row[key]
            record_id = None
        elif kind == "wrong_type":
            row[wrong[0]] = wrong[1]
        elif kind == "future_timestamp":
            row[ts_field] = self.future(ts)
        line = orjson.dumps(row)
        if kind == "invalid_json":
            line = line[: self.rng.randrange(8, len(line) - 1)]
            record_id = None
        # A new exact-size bytes: orjson's own result keeps its 4 KiB buffer (measured: 277 MiB
        # held by one 5,000-person chunk instead of ~45 MiB).
        line += b"\n"
        self.buf.add(rel, ts, line, "social", stream, record_id, person, kind)

    def social(self, p: Person) -> None:
        rng = self.rng
        first, last = name_variant(p.first, p.last, rng, fold_rate=0.2)
        roll = rng.random()
        if not p.lead or roll < 0.7:
            display = f"{first} {last}".strip()
        elif roll < 0.85:
            display = f"{first} {last[:1]}." if last else first
        else:
            display = f"{first} ✨"
        location = rng.choice((p.city, f"{p.city}, {COUNTRY_NAME[p.locale]}", p.city.upper(), "" if p.lead else p.city))
        updated = self.session_start()
        created = f"{rng.randrange(2012, 2026)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T12:00:00Z"
        profile = {"profile_id": p.profile_id, "handle": p.handle, "display_name": display, "location": location,
                   "followers": int(rng.paretovariate(1.2) * 20), "created_at": created, "updated_at": self.ts(updated)}
        self.emit_json_row("profiles", "social_profiles", profile, "profile_id", "updated_at", p, ("followers", "1.2k"))
        for _ in range(min(8, int(rng.expovariate(0.5)))):
            kind = rng.choice(("follow", "like", "like", "comment", "share"))
            row = {"interaction_id": f"i{self.next_id('interaction'):010d}", "profile_id": p.profile_id,
                   "handle": p.handle, "type": kind, "post_id": f"post_{rng.randrange(1, 500):04d}"}
            if kind == "comment":
                row["text"] = rng.choice(COMMENTS)
            row["timestamp"] = self.ts(self.session_start())
            self.emit_json_row("interactions", "social_interactions", row, "interaction_id", "timestamp", p,
                               ("timestamp", rng.randrange(1, 10**6)))
        if p.lead:
            self.lead(p)

    def lead(self, p: Person) -> None:
        rng = self.rng
        first, last = name_variant(p.first, p.last, rng)
        email = email_variant(p.email, rng)
        phone = phone_variant(p.locale, p.phone, rng) if rng.random() < 0.8 else ""
        if rng.random() < 0.03:
            email = rng.choice(PLACEHOLDER_EMAILS)
            phone = phone or phone_variant(p.locale, p.phone, rng)
        elif phone and rng.random() < 0.03:
            phone = rng.choice(PLACEHOLDER_PHONES)
        submitted = self.ts(self.session_start())
        row = [f"L{self.next_id('lead'):09d}", rng.choice(("form_spring_sale", "form_newsletter", "form_giveaway")),
               p.profile_id, p.handle, submitted, f"{first} {last}".strip(), email, phone,
               p.city if rng.random() < 0.8 else "", p.country, "true" if p.consent_marketing else "false"]
        kind = self.damage(ROW_DAMAGE)
        record_id = row[0]
        if kind == "missing_field":
            row[0], record_id = "", None
        elif kind == "wrong_type":
            row[10] = "maybe"
        elif kind == "future_timestamp":
            row[4] = self.future(submitted)
        self.buf.add(f"social/leads_{submitted[:10]}.csv", submitted, row, "social", "social_leads", record_id, p, kind)

    # ---- transactions -------------------------------------------------------------------------
    def basket(self, p: Person) -> tuple[list[dict], float, str]:
        rng = self.rng
        currency = CURRENCY[p.locale]
        rate = USD_RATE[currency]
        items = []
        for _ in range(1 + int(rng.random() < 0.4) + int(rng.random() < 0.15)):
            sku, name, usd = rng.choice(CATALOG)
            price = round(usd * rate, 0 if currency == "IDR" else 2)
            items.append({"sku": sku, "name": name, "qty": 1 + int(rng.random() < 0.2), "unit_price": price})
        amount = round(sum(i["qty"] * i["unit_price"] for i in items), 2)
        return items, amount, currency

    def order(self, p: Person | None, order_id: str, channel: str, t: int, account_id: str | None,
              items: list[dict], amount: float, currency: str, test: bool = False) -> None:
        rng = self.rng
        created = self.ts(t)
        roll = rng.random()
        status = "completed" if roll < 0.88 else ("refunded" if roll < 0.96 else "cancelled")
        updated = created if status == "completed" else self.ts(min(t + rng.randrange(3_600_000, 20 * DAY_MS), self.cfg.period_ms - 1))
        if test:
            email, phone, first, last, address = "test@test.com", "0000000000", "Test", "Test", ("", "", "", "", "")
        else:
            store = channel == "store"
            first, last = name_variant(p.first, p.last, rng, typo_rate=0.04 if store else 0.02)
            if store:
                first, last = case_and_space(first, rng, 0.15), case_and_space(last, rng, 0.15)
            email = email_variant(p.email, rng) if (not store or rng.random() < 0.65) else ""
            phone = phone_variant(p.locale, p.phone, rng) if rng.random() < (0.7 if not store else 0.6) else ""
            if store and not (email or phone or account_id):
                phone = phone_variant(p.locale, p.phone, rng)
            if store and not email and rng.random() < 0.12:
                email = rng.choice(PLACEHOLDER_EMAILS)
            if store and not phone and rng.random() < 0.12:
                phone = rng.choice(PLACEHOLDER_PHONES)
            if not store or rng.random() < 0.4:
                address = (case_and_space(p.street, rng), p.city, p.postcode, p.region, p.country)
            else:
                address = ("", "", "", "", "")
        items_json = json.dumps(items, ensure_ascii=False, separators=(",", ":"))
        row = [order_id, channel, created, updated, status, f"{amount:.2f}", currency, items_json,
               account_id or "", email, phone, first, last, *address]
        kind = self.damage(ROW_DAMAGE)
        record_id = order_id
        if kind == "missing_field":
            row[0], record_id = "", None
        elif kind == "wrong_type":
            row[5] = "abc"
        elif kind == "future_timestamp":
            years = self.rng.randint(5, 70)
            row[2], row[3] = self.future(created, years), self.future(updated, years)
        if channel == "store":
            rel = f"transactions/orders_{created[:10]}.csv{self.cfg.gz}"
        else:
            rel = "transactions/shop.sqlite"
            if kind != "wrong_type":
                row[5] = amount
            if kind == "missing_field":
                row[0] = None
        self.buf.add(rel, created, row, "transactions", "orders", record_id, p, kind)

    def store_orders(self, p: Person) -> None:
        for _ in range(p.store_orders):
            items, amount, currency = self.basket(p)
            account = p.account_id if (p.account_id and self.rng.random() < 0.4) else None
            order_id = f"S{self.next_id('store_order'):09d}"
            self.order(p, order_id, "store", self.session_start(), account, items, amount, currency)

    def test_traffic(self, count: int) -> None:
        """QA records of nobody: placeholder identifiers that many real persons also typed."""
        rng = self.rng
        for _ in range(count):
            t = self.session_start()
            cookie = self.uuid()
            for kind in ("page", "identify"):
                ev = {"messageId": self.uuid(), "type": kind, "timestamp": self.ts(t), "anonymousId": cookie}
                if kind == "identify":
                    ev["traits"] = {"email": "test@test.com", "firstName": "Test", "lastName": "User",
                                    "phone": "0000000000"}
                else:
                    ev["name"] = "Home"
                    ev["properties"] = {"path": "/", "url": SHOP_URL + "/", "title": "Home | Shop"}
                ev["context"] = {"ip": "10.0.0.1", "userAgent": USER_AGENTS[0], "locale": "en-US",
                                 "page": {"path": "/", "url": SHOP_URL + "/", "title": "Home | Shop"},
                                 "consent": {"categoryPreferences": {"marketing": False, "analytics": True}}}
                self.emit_event("web", ev, None)
                t += 10_000
            if "transactions" in self.cfg.sources and rng.random() < 0.5:
                items = [{"sku": "SKU-TEST", "name": "Test item", "qty": 1, "unit_price": 1.0}]
                self.order(None, f"S{self.next_id('store_order'):09d}", "store", t, None, items, 1.0, "USD", test=True)


@dataclass
class _ChunkSpec:
    """One chunk's persons and the state of its random stream after they were made."""

    index: int
    count: int
    persons: list[Person]
    rng_state: tuple


@dataclass
class _ChunkResult:
    """One chunk's output, ready to append: per file (in name order) the bytes or SQLite rows."""

    index: int
    files: list[tuple[str, bytes | list[tuple], int, int]]  # rel, payload, records, broken
    truth: pa.Table  # record_id null where the record has none; filled in as file:line
    missing: list[tuple[str, int]]  # (rel, line within this chunk's part) per null record_id
    stream_records: Counter
    stream_broken: Counter
    broken_kinds: Counter


_WORKER_SETTINGS: _Settings | None = None


def _init_worker(cfg: _Settings) -> None:
    global _WORKER_SETTINGS
    _WORKER_SETTINGS = cfg
    gc.disable()  # see run_generator


def _build_in_worker(spec: _ChunkSpec) -> _ChunkResult:
    assert _WORKER_SETTINGS is not None
    return _build_chunk(_WORKER_SETTINGS, spec)


def _build_chunk(cfg: _Settings, spec: _ChunkSpec) -> _ChunkResult:
    """Every record of one chunk, sorted per file by time, serialized and (for .gz) compressed.

    Depends only on the spec and settings, so any process can make any chunk.
    """
    rng = random.Random()
    rng.setstate(spec.rng_state)
    maker = _ChunkMaker(cfg, spec.index, rng)
    sources = cfg.sources
    for p in spec.persons:
        if "web" in sources and p.web:
            maker.web(p)
        if "app" in sources and p.app:
            maker.app(p)
        if "social" in sources and p.social:
            maker.social(p)
        if "transactions" in sources:
            maker.store_orders(p)
    maker.test_traffic(1 + spec.count // 1000)

    truth = {k: [] for k in ("source", "stream", "record_id", "person_id", "household_id", "file", "broken")}
    files: list[tuple[str, bytes | list[tuple], int, int]] = []
    missing: list[tuple[str, int]] = []
    stream_records: Counter = Counter()
    stream_broken: Counter = Counter()
    broken_kinds: Counter = Counter()
    by_file = maker.buf.by_file
    for rel in sorted(by_file):
        entries = by_file[rel]
        entries.sort(key=itemgetter(0))
        payload: bytes | list[tuple]
        if rel.endswith(".sqlite"):
            payload = [tuple(e[1]) for e in entries]
        else:
            if ".csv" in rel:
                payload = csv_blob([e[1] for e in entries], None)
            else:
                payload = b"".join([e[1] for e in entries])  # each line ends in \n
            if rel.endswith(".gz"):
                payload = gzip_member(payload, cfg.compress_level)
        # Column-wise: one zip per file instead of seven appends per record.
        _, _, sources_, streams, record_ids, person_ids, household_ids, brokens = zip(*entries)
        truth["source"].extend(sources_)
        truth["stream"].extend(streams)
        truth["record_id"].extend(record_ids)
        truth["person_id"].extend(person_ids)
        truth["household_id"].extend(household_ids)
        truth["file"].extend([rel] * len(entries))
        truth["broken"].extend(brokens)
        if None in record_ids:
            missing.extend((rel, n) for n, record_id in enumerate(record_ids, 1) if record_id is None)
        stream_records.update(streams)
        n_broken = 0
        for stream, broken in zip(streams, brokens):
            if broken:
                n_broken += 1
                stream_broken[stream] += 1
                broken_kinds[broken] += 1
        files.append((rel, payload, len(entries), n_broken))
    return _ChunkResult(spec.index, files, pa.table(truth, schema=TRUTH_SCHEMA), missing,
                        stream_records, stream_broken, broken_kinds)


class _Run:
    """State that spans chunks, kept by the one process that writes: files, counts."""

    def __init__(self, out: Path, compress_level: int, sources: tuple[str, ...]):
        self.files = FileSet(out, compress_level=compress_level)
        self.shop = ShopDatabase(out / "transactions" / "shop.sqlite") if "transactions" in sources else None
        self.truth = TruthWriter(out / "truth.parquet")
        self.file_records: Counter = Counter()
        self.file_broken: Counter = Counter()
        self.broken_kinds: Counter = Counter()
        self.stream_records: Counter = Counter()
        self.stream_broken: Counter = Counter()
        self.households = 0
        self.persons = 0

    def append(self, result: _ChunkResult) -> None:
        """Append one chunk's part to each file, and its truth with `file:line` for missing ids."""
        before: dict[str, int] = {}
        for rel, payload, records, broken in result.files:
            if rel.endswith(".sqlite"):
                before[rel] = self.shop.rows
                self.shop.insert(payload)
                self.shop.rows += records
            else:
                header = (ORDER_COLUMNS if "orders_" in rel else LEAD_COLUMNS) if ".csv" in rel else None
                before[rel] = self.files.append(rel, payload, records, header)
            self.file_records[rel] += records
            self.file_broken[rel] += broken
        self.stream_records.update(result.stream_records)
        self.stream_broken.update(result.stream_broken)
        self.broken_kinds.update(result.broken_kinds)
        truth = result.truth
        if result.missing:
            record_id = truth.column("record_id").combine_chunks()
            filled = pa.array([f"{rel}:{before[rel] + n}" for rel, n in result.missing], pa.string())
            record_id = pc.replace_with_mask(record_id, pc.is_null(record_id), filled)
            truth = truth.set_column(truth.schema.get_field_index("record_id"), "record_id", record_id)
        self.truth.write_table(truth)

    def close(self) -> None:
        self.files.close()
        if self.shop:
            self.shop.close()
        self.truth.close()


def default_workers() -> int:
    """One worker process per core, at most 2: past that the single writing process is the limit."""
    return max(1, min(2, os.cpu_count() or 1))


def _prepare_out(out: Path) -> None:
    """Start from a clean folder: day files of an earlier run would otherwise linger."""
    out.mkdir(parents=True, exist_ok=True)
    present = {p.name for p in out.iterdir()}
    foreign = present - set(OUTPUT_DIRS) - set(OUTPUT_FILES)
    if foreign:
        raise ValueError(f"{out} holds {len(foreign)} entries that are not generator output "
                         f"(e.g. {sorted(foreign)[0]!r}); choose an empty or new folder")
    for name in OUTPUT_DIRS:
        if (out / name).is_dir():
            shutil.rmtree(out / name)
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)


def _progress(written: int, customers: int) -> None:
    """Persons written so far, for whoever shows progress (the `cdp generate` bar listens)."""
    log.debug("persons written: %d of %d", written, customers, extra={"cdp_progress": {
        "task": "generate", "description": "generate persons", "completed": written, "total": customers}})


def run_generator(out_dir: str | Path, customers: int, seed: int, broken_share: float = 0.02,
                  start: date | str = date(2026, 1, 1), days: int = 60, compress: bool = True,
                  sources: tuple[str, ...] = ALL_SOURCES, chunk_persons: int = CHUNK_PERSONS,
                  workers: int | None = None) -> dict:
    """Write the sources, truth and manifest; return the manifest.

    `workers` processes make the chunks' records (default: up to 2, one per core); the bytes
    depend only on the seed and parameters, never on the number of workers.
    """
    if customers < 1:
        raise ValueError(f"--customers must be at least 1 (got {customers})")
    if not 0 <= broken_share < 0.5:
        raise ValueError(f"--broken-share must be in [0, 0.5) (got {broken_share})")
    if not 1 <= chunk_persons <= ID_BLOCK // 10:
        raise ValueError(f"chunk_persons must be in [1, {ID_BLOCK // 10}] (got {chunk_persons})")
    if days < 1:
        raise ValueError(f"--days must be at least 1 (got {days})")
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start)
        except ValueError:
            raise ValueError(f"--start must be a date like 2026-01-01 (got {start!r})") from None
    unknown = set(sources) - set(ALL_SOURCES)
    if unknown:
        raise ValueError(f"unknown sources {sorted(unknown)}; choose from {list(ALL_SOURCES)}")
    if workers is None:
        workers = default_workers()
    if workers < 1:
        raise ValueError(f"--workers must be at least 1 (got {workers})")
    out = Path(out_dir)
    _prepare_out(out)
    epoch = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
    cfg = _Settings(broken_share=broken_share, period_ms=days * DAY_MS, sources=tuple(sources),
                    gz=".gz" if compress else "",
                    day_names=tuple((epoch + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(days + 1)))
    # Millions of short-lived dicts and tuples and no reference cycles: the cyclic collector
    # would only rescan the live chunk buffers again and again (measured: ~30% of the time).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    pool = None
    if workers > 1 and customers > chunk_persons:
        # spawn, not fork: the caller may hold threads or open connections that a fork would copy.
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(cfg,))
    run = _Run(out, cfg.compress_level, cfg.sources)
    registry = Registry()
    in_flight: deque = deque()
    written = 0
    try:
        for index, chunk_start in enumerate(range(0, customers, chunk_persons)):
            count = min(chunk_persons, customers - chunk_start)
            # Persons are made here, in order, because email and handle uniqueness spans chunks;
            # their records (most of the work) are made by the workers.
            rng = random.Random(f"{seed}:{chunk_start}")
            persons = make_persons(chunk_start, count, seed, registry, rng)
            run.households += len({p.household_id for p in persons})
            run.persons += count
            spec = _ChunkSpec(index, count, persons, rng.getstate())
            if pool is None:
                run.append(_build_chunk(cfg, spec))
                _progress(written := written + count, customers)
                continue
            in_flight.append((count, pool.submit(_build_in_worker, spec)))
            # Bounded: a chunk waits in memory only while the ones before it are being written.
            while len(in_flight) > 2 * workers:
                done, future = in_flight.popleft()
                run.append(future.result())
                _progress(written := written + done, customers)
        while in_flight:
            done, future = in_flight.popleft()
            run.append(future.result())
            _progress(written := written + done, customers)
    finally:
        for _, future in in_flight:
            future.cancel()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if gc_was_enabled:
            gc.enable()
        run.close()
    if run.shop:
        run.file_records["transactions/shop.sqlite"] += 0  # listed even when empty
    manifest = {
        "generator": "pipelines.sample_data",
        "generator_version": GENERATOR_VERSION,
        "parameters": {"customers": customers, "seed": seed, "broken_share": broken_share,
                       "start": start.isoformat(), "days": days, "compress": compress,
                       "sources": list(sources)},
        "persons": run.persons,
        "households": run.households,
        "records": sum(run.stream_records.values()),
        "broken": sum(run.stream_broken.values()),
        "broken_by_kind": dict(sorted(run.broken_kinds.items())),
        "streams": {s: {"records": run.stream_records[s], "broken": run.stream_broken[s]}
                    for s in sorted(run.stream_records)},
        "files": {rel: {"records": run.file_records[rel], "broken": run.file_broken[rel]}
                  for rel in sorted(run.file_records)},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest
