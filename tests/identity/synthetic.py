"""A tiny deterministic staging.customer_records synthesizer with ground truth, for identity tests.

Independent of the sample-data generator so identity tests pin exactly the cases they assert:
typos, Gmail variants, national/international phones, guest checkouts, common names shared by
different people, a shared family tablet, and placeholder identifiers typed by strangers.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

import polars as pl

FIRST = ["Maria", "José", "Juan Carlos", "Ana", "Luis", "Siti", "Budi", "Dewi", "John", "Emily",
         "Michael", "Sarah", "Carmen", "Pedro", "Agus", "Rina", "David", "Laura", "Jorge", "Putri"]
LAST = ["García", "López", "Martínez", "Rodríguez", "Santoso", "Wijaya", "Smith", "Johnson",
        "Hernández", "Pérez", "Gómez", "Saputra", "Brown", "Davis", "Sánchez", "Kusuma",
        "Fernández", "Ruiz", "Hidayat", "Miller", "Navarro", "Torres", "Ramírez", "Wilson"]
STREETS = ["Calle Mayor", "Avenida Reforma", "Jalan Sudirman", "Main Street", "Calle Sol",
           "Jalan Merdeka", "Oak Avenue", "Paseo del Prado"]
COUNTRY_PHONE = {"ES": ("+34 6{:02d} {:03d} {:03d}", 9), "MX": ("+52 55 {:04d} {:04d}", 8),
                 "ID": ("+62 812 {:04d} {:04d}", 8), "US": ("+1 (415) {:03d}-{:04d}", 7)}

COLUMNS = ["source", "stream", "record_id", "record_type", "event_time", "load_id", "anonymous_id",
           "previous_id", "user_id", "device_id", "email", "phone", "first_name", "last_name",
           "full_name", "street", "city", "postcode", "region", "country", "birth_date",
           "social_handle", "order_id"]


def _typo(rng: random.Random, s: str) -> str:
    if len(s) < 4:
        return s
    i = rng.randrange(1, len(s) - 1)
    return s[:i] + s[i + 1] + s[i] + s[i + 2:]


def _phone(rng: random.Random, country: str) -> str:
    if country == "ES":
        return f"+34 6{rng.randrange(10, 99)} {rng.randrange(100, 999)} {rng.randrange(100, 999)}"
    if country == "MX":
        return f"+52 55 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"
    if country == "ID":
        return f"+62 812 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"
    return f"+1 415 {rng.randrange(200, 999)} {rng.randrange(1000, 9999)}"


def synthesize(persons: int = 300, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(staging records, truth[source, record_id, person_id]) for `persons` people."""
    rng = random.Random(seed)
    rows: list[dict] = []
    truth: list[tuple[str, str, str | None]] = []
    t0 = datetime(2026, 1, 1)
    counter = [0]

    def add(person: str | None, **fields) -> None:
        counter[0] += 1
        row = {c: None for c in COLUMNS}
        row.update(fields)
        row["record_id"] = row.get("record_id") or f"r{counter[0]:07d}"
        row["event_time"] = t0 + timedelta(minutes=counter[0])
        row["load_id"] = "load_test"
        rows.append(row)
        truth.append((row["source"], row["record_id"], person))

    households: list[dict] = []
    for p in range(persons):
        pid = f"p{p:05d}"
        country = rng.choice(["ES", "MX", "ID", "US"])
        first = rng.choice(FIRST)
        # households: every 10th person shares the previous one's last name, address and device
        if p % 10 == 1 and households:
            home = households[-1]
            last, street, house, city, postcode = home["last"], home["street"], home["house"], home["city"], home["postcode"]
            country = home["country"]
        else:
            last = rng.choice(LAST) + (" " + rng.choice(LAST) if country in ("ES", "MX") and rng.random() < 0.4 else "")
            street, house = rng.choice(STREETS), str(rng.randrange(1, 200))
            city = rng.choice(["Madrid", "Sevilla", "Ciudad de México", "Jakarta", "Bandung", "Austin"])
            postcode = f"{rng.randrange(1000, 99999):05d}"
        if country == "ID" and rng.random() < 0.3:
            first, last = rng.choice(["Sukarno", "Suharti", "Wahyudi"]), None
        dob = f"{rng.randrange(1950, 2004)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        local = f"{first.split()[0].lower()}.{(last or 'x').split()[0].lower()}{p}"
        local = local.replace("é", "e").replace("í", "i").replace("á", "a").replace("ó", "o").replace("ú", "u")
        email = f"{local}@gmail.com"
        phone = _phone(rng, country)
        uid = f"u{p:05d}" if rng.random() < 0.7 else None
        cookie = f"a-{p}-{rng.randrange(10**6)}"
        device = f"dev-{p}"
        households.append({"last": last, "street": street, "house": house, "city": city,
                           "postcode": postcode, "country": country, "device": device, "uid": uid})
        addr = {"street": f"{street} {house}", "city": city, "postcode": postcode, "country": country}
        # web: page views on a cookie, identify with traits
        for _ in range(rng.randrange(1, 4)):
            add(pid, source="web", stream="web_events", record_type="page", anonymous_id=cookie)
        add(pid, source="web", stream="web_events", record_type="identify", anonymous_id=cookie,
            user_id=uid, email=email.upper() if rng.random() < 0.3 else email, first_name=first,
            last_name=last, phone=phone, birth_date=dob, **addr)
        # app: own device with login
        if uid:
            add(pid, source="app", stream="app_events", record_type="screen", device_id=device, user_id=uid)
            add(pid, source="app", stream="app_events", record_type="screen", device_id=device)
        # social lead: full name, gmail variant, national phone, no ids in common
        variant = local.replace(".", "") + "+promo@googlemail.com"
        full = f"{first} {last}" if last else first
        add(pid, source="social", stream="social_leads", record_type="lead",
            full_name=full.lower() if rng.random() < 0.3 else full, email=variant,
            phone=phone, city=city, country=country, social_handle=f"@{local}")
        # guest checkout: typo in the name and email, same phone/address
        oid = f"o{p:05d}"
        add(pid, source="transactions", stream="orders", record_type="order", record_id=oid,
            order_id=oid, email=_typo(rng, local) + "@gmail.com", first_name=_typo(rng, first),
            last_name=last, phone=phone if rng.random() < 0.6 else None,
            street=f"{street} {house}", city=city, postcode=postcode, country=country)
        add(pid, source="web", stream="web_events", record_type="track", anonymous_id=cookie,
            order_id=oid)
        # every 5th person: a store order at the till with no identifier in common (its order
        # never reaches the web, the email is mistyped, no phone): only matching can join it
        if p % 5 == 0:
            add(pid, source="transactions", stream="orders", record_type="order", record_id=f"s{p:05d}",
                order_id=f"s{p:05d}", email=_typo(rng, local) + "@gmail.com", first_name=first.upper(),
                last_name=last, street=f"{street} {house}", city=city, postcode=postcode, country=country)
        # a shared family tablet: this person also logs in on the previous household member's device
        if p % 10 == 1 and uid and households[-2]["uid"]:
            add(pid, source="app", stream="app_events", record_type="screen",
                device_id=households[-2]["device"], user_id=uid)
    # placeholder identifiers typed by strangers (each its own person)
    for k in range(12):
        pid = f"q{k:03d}"
        add(pid, source="transactions", stream="orders", record_type="order", record_id=f"q{k}",
            order_id=f"q{k}", email="test@test.com", phone="0000000000",
            first_name=rng.choice(FIRST), last_name=rng.choice(LAST) + "x" + str(k), country="US")
    staging = pl.DataFrame(rows, schema={c: (pl.Datetime("us") if c == "event_time" else pl.Utf8) for c in COLUMNS})
    truth_df = pl.DataFrame(truth, schema={"source": pl.Utf8, "record_id": pl.Utf8, "person_id": pl.Utf8}, orient="row")
    return staging, truth_df
