"""Value pools drawn once from Faker, then sampled with numpy.

Calling Faker per record is far too slow for millions of records, so each locale's names,
streets and places are drawn once (Faker's own weights survive as repeats in the pool) and
persons pick from them by index. The pool seed is fixed: pools are reference data, the
generator seed decides who gets what.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

LOCALES: tuple[str, ...] = ("es_ES", "es_MX", "id_ID", "en_US")
# Share of persons per locale (same order as LOCALES).
LOCALE_WEIGHTS: tuple[float, ...] = (0.30, 0.25, 0.20, 0.25)
COUNTRY = {"es_ES": "ES", "es_MX": "MX", "id_ID": "ID", "en_US": "US"}
COUNTRY_NAME = {"es_ES": "España", "es_MX": "México", "id_ID": "Indonesia", "en_US": "USA"}
CURRENCY = {"es_ES": "EUR", "es_MX": "MXN", "id_ID": "IDR", "en_US": "USD"}
WEB_LOCALE = {"es_ES": "es-ES", "es_MX": "es-MX", "id_ID": "id-ID", "en_US": "en-US"}

# Very common full names given on purpose to several distinct persons: a resolver must not
# merge them on the name alone.
COMMON_FULL_NAMES = {
    "es_ES": [("María", "García", "F"), ("José", "Fernández", "M")],
    "es_MX": [("María", "García", "F"), ("Juan", "Hernández", "M")],
    "id_ID": [("Muhammad", "Rizki", "M"), ("Siti", "Nurhaliza", "F")],
    "en_US": [("James", "Smith", "M"), ("Mary", "Johnson", "F")],
}

EMAIL_DOMAINS = {
    "es_ES": (("gmail.com", 0.45), ("hotmail.com", 0.2), ("yahoo.es", 0.1), ("outlook.es", 0.15), ("telefonica.net", 0.1)),
    "es_MX": (("gmail.com", 0.5), ("hotmail.com", 0.25), ("yahoo.com.mx", 0.1), ("outlook.com", 0.1), ("prodigy.net.mx", 0.05)),
    "id_ID": (("gmail.com", 0.65), ("yahoo.co.id", 0.2), ("ymail.com", 0.05), ("outlook.com", 0.1)),
    "en_US": (("gmail.com", 0.45), ("yahoo.com", 0.2), ("outlook.com", 0.15), ("aol.com", 0.05), ("icloud.com", 0.15)),
}

POOL_SIZES = {"first": 1500, "last": 1500, "place": 800}
POOL_SEED = 20260101


@dataclass(frozen=True)
class LocalePool:
    first_female: tuple[str, ...]
    first_male: tuple[str, ...]
    last: tuple[str, ...]
    # (street name, city, postcode, region)
    places: tuple[tuple[str, str, str, str], ...]


@lru_cache(maxsize=1)
def locale_pools() -> dict[str, LocalePool]:
    from faker import Faker

    pools: dict[str, LocalePool] = {}
    for locale in LOCALES:
        fake = Faker(locale)
        fake.seed_instance(POOL_SEED)
        first_f = tuple(fake.first_name_female() for _ in range(POOL_SIZES["first"]))
        first_m = tuple(fake.first_name_male() for _ in range(POOL_SIZES["first"]))
        last = tuple(fake.last_name() for _ in range(POOL_SIZES["last"]))
        places = tuple(
            (fake.street_name(), fake.city(), fake.postcode()[:5], fake.state())
            for _ in range(POOL_SIZES["place"])
        )
        pools[locale] = LocalePool(first_f, first_m, last, places)
    return pools
