"""Simulated persons and households: the ground truth every generated record points back to.

Identifiers that are unique in real life (email, phone, account id, device id) are unique here
by construction (bijections over the person index, registries for emails and handles), so any
two records sharing one of them truly belong to one person, except placeholders and shared
family devices, which are the deliberate traps.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from pipelines.sample_data.noise import ascii_fold
from pipelines.sample_data.pools import (
    COMMON_FULL_NAMES, COUNTRY, EMAIL_DOMAINS, LOCALE_WEIGHTS, LOCALES, locale_pools,
)

US_AREA_CODES = ("212", "305", "312", "415", "512", "617", "713", "206", "404", "702")
MX_AREA_CODES = ("55", "33", "81", "222", "664")
# Odd, not a multiple of 5: coprime with every power-of-ten modulus, so idx -> (A*idx+B) % M
# is a bijection and distinct persons never share a phone number or account id.
_PERM_MULTIPLIER = 7_654_321


def _perm(idx: int, modulus: int, offset: int) -> int:
    return (_PERM_MULTIPLIER * idx + offset) % modulus


@dataclass(slots=True)
class Device:
    device_id: str
    install_id: str  # the app's anonymousId for this install
    os: str  # ios / android
    model: str
    shared: bool = False  # a family tablet used by two persons of one household
    owner_idx: int = -1


@dataclass(slots=True)
class Person:
    idx: int
    person_id: str
    household_id: str
    locale: str
    sex: str
    first: str
    last: str
    dob: str
    street: str
    city: str
    postcode: str
    region: str
    country: str
    email: str
    phone: str  # national significant number, digits only
    account_id: str | None
    consent_marketing: bool
    consent_analytics: bool
    web: bool
    app: bool
    social: bool
    lead: bool
    store_orders: int
    web_orders: int
    cookies: list[str] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    handle: str = ""
    profile_id: str = ""


class Registry:
    """Taken emails and handles across all chunks, keyed by their normalized form."""

    def __init__(self) -> None:
        self.emails: set[str] = set()
        self.handles: set[str] = set()


def _slug(text: str) -> str:
    return ascii_fold(text).lower().replace(" ", "").replace("'", "").replace("-", "")


def _mailbox_key(local: str, domain: str) -> str:
    """Gmail ignores dots; two persons must never land on one mailbox."""
    if domain == "gmail.com":
        return local.replace(".", "") + "@gmail.com"
    return f"{local}@{domain}"


def make_email(first: str, last: str, locale: str, birth_year: int, rng: random.Random,
               registry: Registry) -> str:
    f = _slug(first) or "user"
    l = _slug(last.split(" ")[0]) if last else ""
    if l:
        patterns = (f"{f}.{l}", f"{f}{l}", f"{f[0]}{l}", f"{f}_{l}", f"{f}.{l}{birth_year % 100:02d}",
                    f"{l}.{f}")
    else:
        patterns = (f"{f}{birth_year % 100:02d}", f"{f}{birth_year}", f"{f}.{rng.randrange(10, 999)}")
    local = rng.choice(patterns)
    domains, weights = zip(*EMAIL_DOMAINS[locale])
    domain = rng.choices(domains, weights)[0]
    candidate = local
    while _mailbox_key(candidate, domain) in registry.emails:
        candidate = f"{local}{rng.randrange(1, 9999)}"
    registry.emails.add(_mailbox_key(candidate, domain))
    return f"{candidate}@{domain}"


def make_handle(first: str, last: str, rng: random.Random, registry: Registry) -> str:
    f = _slug(first) or "user"
    l = _slug(last.split(" ")[0]) if last else ""
    base = rng.choice((f"{f}.{l}", f"{f}{l}", f"{f}_{l}", f"{f}.{l}.official")) if l else rng.choice((f, f"its{f}", f"{f}_"))
    candidate = base
    while candidate in registry.handles:
        candidate = f"{base}{rng.randrange(1, 9999)}"
    registry.handles.add(candidate)
    return "@" + candidate


def national_phone(locale: str, idx: int, offset: int, rng: random.Random) -> str:
    if locale == "es_ES":
        return f"6{_perm(idx, 10**8, offset):08d}"
    if locale == "es_MX":
        area = rng.choice(MX_AREA_CODES)
        return f"{area}{_perm(idx, 10**(10 - len(area)), offset):0{10 - len(area)}d}"
    if locale == "id_ID":
        return f"81{rng.randrange(1, 4)}{_perm(idx, 10**8, offset):08d}"
    return f"{rng.choice(US_AREA_CODES)}{2_000_000 + _perm(idx, 8_000_000, offset)}"


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


ANDROID_MODELS = ("SM-A546E", "Redmi Note 12", "Pixel 7", "moto g54", "SM-T220", "CPH2579")
IOS_MODELS = ("iPhone14,5", "iPhone15,2", "iPhone16,1", "iPad13,18", "iPhone12,1")


def _device(rng: random.Random, owner_idx: int, tablet: bool = False) -> Device:
    if rng.random() < 0.45:
        model = "iPad13,18" if tablet else rng.choice(IOS_MODELS)
        return Device(_uuid(rng).upper(), _uuid(rng), "ios", model, owner_idx=owner_idx)
    model = "SM-T220" if tablet else rng.choice(ANDROID_MODELS)
    return Device(f"{rng.getrandbits(64):016x}", _uuid(rng), "android", model, owner_idx=owner_idx)


def make_persons(start_idx: int, count: int, seed: int, registry: Registry,
                 rng: random.Random) -> list[Person]:
    """`count` persons with global indexes from `start_idx`, grouped into whole households."""
    np_rng = np.random.default_rng([seed, start_idx, 1])
    pools = locale_pools()
    offset = (seed * 2_654_435_761) % 10**8
    # Household sizes 1..4; the last household is cut at the chunk edge.
    sizes = np_rng.choice(np.array([1, 2, 3, 4]), size=count, p=[0.5, 0.28, 0.13, 0.09])
    locale_codes = np_rng.choice(len(LOCALES), size=count, p=LOCALE_WEIGHTS)
    sexes = np_rng.random(count) < 0.5
    first_pick = np_rng.integers(0, 1 << 30, size=count)
    last_pick = np_rng.integers(0, 1 << 30, size=(count, 2))
    place_pick = np_rng.integers(0, 1 << 30, size=count)
    birth_days = np_rng.integers(0, 365 * 57, size=count)  # 1950-01-01 + days
    birth_base = np.datetime64("1950-01-01")
    dobs = np.datetime_as_string(birth_base + birth_days.astype("timedelta64[D]"), unit="D")
    uniform = np_rng.random((count, 8))

    persons: list[Person] = []
    i = 0
    h = 0
    while i < count:
        size = int(min(sizes[h], count - i))
        locale = LOCALES[int(locale_codes[h])]
        pool = pools[locale]
        household_id = f"h{start_idx + i:08d}"
        family_last = _surname(locale, pool.last, last_pick[i])
        street, city, postcode, region = pool.places[int(place_pick[h]) % len(pool.places)]
        house_number = str(1 + int(place_pick[i]) % 180)
        members: list[Person] = []
        for k in range(size):
            j = i + k
            idx = start_idx + j
            sex = "F" if sexes[j] else "M"
            names = pool.first_female if sex == "F" else pool.first_male
            first = names[int(first_pick[j]) % len(names)]
            last = family_last if (k == 0 or uniform[j, 0] < 0.8) else _surname(locale, pool.last, last_pick[j])
            if uniform[j, 1] < 0.006:  # a very common full name, shared by many distinct persons
                first, last, sex = rng.choice(COMMON_FULL_NAMES[locale])
            if locale == "id_ID" and uniform[j, 2] < 0.3 and not (first == "Muhammad" and last == "Rizki"):
                last = ""  # Indonesian single name
            has_account = bool(uniform[j, 3] < 0.6)
            web = bool(uniform[j, 4] < (0.95 if has_account else 0.7))
            app = has_account and bool(uniform[j, 5] < 0.5)
            social = bool(uniform[j, 6] < 0.35)
            dob = str(dobs[j])
            person = Person(
                idx=idx, person_id=f"p{idx:08d}", household_id=household_id, locale=locale, sex=sex,
                first=first, last=last, dob=dob,
                street=f"{street} {house_number}" if locale != "en_US" else f"{house_number} {street}",
                city=city, postcode=postcode, region=region, country=COUNTRY[locale],
                email=make_email(first, last, locale, int(dob[:4]), rng, registry),
                phone=national_phone(locale, idx, offset, rng),
                account_id=f"usr_{_perm(idx, 1 << 40, offset):010x}" if has_account else None,
                consent_marketing=bool(uniform[j, 7] < 0.6), consent_analytics=bool(uniform[j, 7] < 0.85),
                web=web, app=app, social=social, lead=social and rng.random() < 0.9,
                store_orders=int(np_rng.poisson(1.2)) if rng.random() < 0.6 else 0,
                web_orders=int(np_rng.poisson(1.0)) if web and rng.random() < 0.55 else 0,
            )
            if not (web or app or social or person.store_orders):
                person.store_orders = 1  # everyone simulated leaves at least one trace
            if web:
                person.cookies = [_uuid(rng) for _ in range(1 + int(rng.random() < 0.45) + int(rng.random() < 0.15))]
            if app:
                person.devices = [_device(rng, idx) for _ in range(1 + int(rng.random() < 0.25))]
            if social:
                person.handle = make_handle(first, last, rng, registry)
                person.profile_id = f"{10**11 + _perm(idx, 9 * 10**11, offset)}"
            members.append(person)
        app_users = [m for m in members if m.app]
        if len(app_users) >= 2 and rng.random() < 0.4:
            # A family tablet: two persons, one device and one app install, each logging in.
            tablet = _device(rng, app_users[0].idx, tablet=True)
            tablet.shared = True
            app_users[0].devices.append(tablet)
            app_users[1].devices.append(tablet)
        persons.extend(members)
        i += size
        h += 1
    return persons


def _surname(locale: str, pool: tuple[str, ...], picks: np.ndarray) -> str:
    first = pool[int(picks[0]) % len(pool)]
    if locale in ("es_ES", "es_MX") and picks[1] % 10 < 7:
        second = pool[int(picks[1]) % len(pool)]
        if second != first:
            return f"{first} {second}"
    return first
