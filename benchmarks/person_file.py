"""A flat customer file with known duplicates, for benchmarking `cdp resolve-file` beside Splink.

    .venv/bin/python benchmarks/person_file.py --records 1000000 --seed 7 --out /tmp/person-1m [--full-name]

Not the pipeline's generator (pipelines/sample_data, events from four sources): this is the
customer export a shop or CRM hands over, one row per customer record, about 30% of them
duplicates. Columns: id, first_name, last_name (or one full_name with --full-name), dob, email,
phone, street (house number included, written as each country writes it), city, postcode,
country, gender. Files written: data.csv, truth.parquet (record_id -> person_id),
mapping.yaml (for `cdp resolve-file`), spec.json (for benchmarks/splink_baseline.py),
manifest.json (parameters and counts).

People: es_ES 30%, es_MX 25%, id_ID 20%, en_US 25%. Names are drawn from Faker's name lists with
skewed weights (a few very common names, as in life); Spanish and Mexican people have two
surnames, a third of Indonesians a single name. Each person has one record (63.6%), two (30%)
or three (6.4%), so that (records - persons) / records is about 0.30.

Traps for a matcher:
- households (20% of people): same surname(s) and address as another person, their own first
  name and birth date; a fifth of them share the household's phone, 5% its email;
- namesakes (2% of people): the full name and gender of another person of the same country,
  nothing else in common; plus the common names the skewed draws give;
- noise on records (rates for duplicates, originals in brackets): first-name and last-name typos
  12% [2%] each (delete, substitute, insert, transpose), first/last swapped 4% [0.5%], second
  surname dropped 25% of Spanish-speakers' records, accents dropped 25%, upper or lower case
  15%; email missing 30%, upper case 5%, a different address on 10% of duplicates; phone
  missing 20%, written in national or international spellings at random; birth date missing
  8%, day/month swapped or a day off 3% [0], a year off 2% [0], written ISO, day-first (US:
  month-first) with slashes or dashes, or YYYYMMDD; street abbreviated (Calle -> C/, Avenida ->
  Avda., Jalan -> Jl., Street -> St ...) 30%, a new address on 4% of duplicates, street or
  postcode missing 5%; country as a code or a name in several spellings, missing 2%; gender
  missing 15%, spelled out 10%.

Vectorized: numpy draws indices into name pools, Polars builds the strings; Faker runs only to
build street/city/postcode pools (seeded, so the pools are the same on every run). Deterministic
per seed (tested): same seed, same bytes.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.append(str(Path(__file__).resolve().parent))
from _metrics import DatasetFiles  # noqa: E402

LOCALES = ("es_ES", "es_MX", "id_ID", "en_US")
LOCALE_SHARE = (0.30, 0.25, 0.20, 0.25)
COUNTRY_CODE = ("ES", "MX", "ID", "US")
COUNTRY_SPELLINGS = (
    ("ES", "ES", "ES", "Spain", "España", "ESP", "es"),
    ("MX", "MX", "MX", "Mexico", "México", "MEX", "mx"),
    ("ID", "ID", "ID", "Indonesia", "IDN", "Indonesia", "id"),
    ("US", "US", "US", "USA", "United States", "U.S.A.", "us"),
)
RECORDS_PER_PERSON = (1, 2, 3)
RECORDS_PER_PERSON_SHARE = (0.636, 0.30, 0.064)  # mean 1.428: (records - persons) / records = 0.30
DOMAINS = (
    ("gmail.com", "hotmail.com", "yahoo.es", "outlook.com", "telefonica.net", "hotmail.es"),
    ("gmail.com", "hotmail.com", "yahoo.com.mx", "outlook.com", "prodigy.net.mx", "live.com.mx"),
    ("gmail.com", "yahoo.co.id", "yahoo.com", "outlook.com", "ymail.com", "gmail.com"),
    ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com"),
)
US_AREA_CODES = ("212", "305", "312", "415", "617", "713", "206", "404", "702", "503", "214", "602",
                 "303", "808", "907", "615", "919", "720", "818", "646")
MX_AREA_CODES = ("55", "33", "81")
ID_MOBILE_PREFIXES = ("811", "812", "813", "821", "822", "852", "853", "857", "878", "896")
ABBREVIATIONS = {  # (long, short) street words per locale, applied to 30% of records
    "es_ES": (("Calle", "C/"), ("Avenida", "Avda."), ("Plaza", "Pza."), ("Paseo", "Pº"), ("Camino", "Cmno.")),
    "es_MX": (("Calle", "C."), ("Avenida", "Av."), ("Boulevard", "Blvd."), ("Privada", "Priv."),
              ("Prolongación", "Prol.")),
    "id_ID": (("Jalan", "Jl."), ("Gang", "Gg.")),
    "en_US": (("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Drive", "Dr"), ("Lane", "Ln"),
              ("Boulevard", "Blvd")),
}
ACCENTS = {"á": "a", "é": "e", "í": "i", "ó": "o", "ú": "u", "ü": "u", "ñ": "n", "Á": "A", "É": "E",
           "Í": "I", "Ó": "O", "Ú": "U", "Ñ": "N", "Ü": "U"}
LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))
DOB_START = np.datetime64("1940-01-01")
DOB_DAYS = int((np.datetime64("2006-12-31") - DOB_START).astype(int))
POOL_SEED = 20260101  # the pools are the same for every --seed


def _skewed(n: int, offset: float, rng: np.random.Generator) -> np.ndarray:
    """Zipf-like weights over a shuffled list: a few names are common, most are rare."""
    w = 1.0 / (np.arange(n) + offset)
    rng.shuffle(w)
    return w / w.sum()


def _names(values, rng, offset) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(values, dict):  # en_US lists come with frequencies
        names = np.array(list(values.keys()), dtype=object)
        w = np.array(list(values.values()), dtype=float)
        return names, w / w.sum()
    names = np.array(sorted(set(values)), dtype=object)
    return names, _skewed(len(names), offset, rng)


@functools.lru_cache(maxsize=1)
def pools() -> list[dict]:
    """Per locale: weighted first names by gender, last names, streets, (city, postcode) pairs."""
    from faker import Faker

    rng = np.random.default_rng(POOL_SEED)
    out = []
    for locale in LOCALES:
        person = importlib.import_module(f"faker.providers.person.{locale}").Provider
        fake = Faker(locale)
        fake.seed_instance(POOL_SEED)
        male, female = person.first_names_male, person.first_names_female
        if locale == "id_ID":
            last = tuple(person.last_names_male) + tuple(person.last_names_female) + tuple(person.first_names_male[:150])
        else:
            last = person.last_names
        streets = sorted({fake.street_name() for _ in range(3000)})
        cities = sorted({fake.city() for _ in range(400)})
        city_w = _skewed(len(cities), 2.0, rng)
        n_postcodes = 3000
        postcode_city = rng.choice(len(cities), size=n_postcodes, p=city_w)
        postcodes = [fake.postcode()[:5] for _ in range(n_postcodes)]
        short = []
        for name in streets:
            for long_word, short_word in ABBREVIATIONS[locale]:
                if name.startswith(long_word + " "):
                    name = short_word + name[len(long_word):]
                    break
            short.append(name)
        out.append({
            "first": (_names(male, rng, 10.0), _names(female, rng, 10.0)),
            "last": _names(last, rng, 5.0),
            "streets": np.array(streets, dtype=object),
            "streets_short": np.array(short, dtype=object),
            "address_city": np.array(cities, dtype=object)[postcode_city],
            "address_postcode": np.array(postcodes, dtype=object),
            "address_w": _skewed(n_postcodes, 20.0, rng),
        })
    return out


def _typo(s: pl.Expr, u: pl.Expr, op: pl.Expr, ch: pl.Expr) -> pl.Expr:
    """One edit at a random position: delete, substitute, insert or transpose (names of 3+ chars)."""
    n = s.str.len_chars().cast(pl.Int64)
    pos = (u * (n - 1)).floor().cast(pl.Int64).clip(0)
    before, rest = s.str.slice(0, pos), s.str.slice(pos + 1)
    edited = (
        pl.when(op == 0).then(pl.concat_str(before, rest))
        .when(op == 1).then(pl.concat_str(before, ch, rest))
        .when(op == 2).then(pl.concat_str(before, ch, s.str.slice(pos)))
        .otherwise(pl.concat_str(before, s.str.slice(pos + 1, 1), s.str.slice(pos, 1), s.str.slice(pos + 2)))
    )
    return pl.when(n >= 3).then(edited).otherwise(s)


def _pick(idx: pl.Expr, options: list[pl.Expr]) -> pl.Expr:
    expr = options[-1]
    for i in range(len(options) - 2, -1, -1):
        expr = pl.when(idx == i).then(options[i]).otherwise(expr)
    return expr


def generate(records: int, seed: int = 7, full_name: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(data, truth): `records` customer rows and their person ids."""
    rng = np.random.default_rng(seed)
    pool = pools()
    # persons and how many records each has, cut to exactly `records`
    k = rng.choice(RECORDS_PER_PERSON, size=int(records / 1.3) + 10, p=RECORDS_PER_PERSON_SHARE)
    ends = np.cumsum(k)
    persons = int(np.searchsorted(ends, records) + 1)
    k = k[:persons].copy()
    k[-1] -= ends[persons - 1] - records
    P = persons

    # ---- person attributes (indices into pools, per locale)
    loc = rng.choice(4, size=P, p=LOCALE_SHARE)
    female = rng.random(P) < 0.5
    first = np.empty(P, dtype=object)
    last1 = np.empty(P, dtype=object)
    last2 = np.full(P, None, dtype=object)
    street = np.empty(P, dtype=object)
    street_short = np.empty(P, dtype=object)
    city = np.empty(P, dtype=object)
    postcode = np.empty(P, dtype=object)
    for li, p in enumerate(pool):
        for g, (names, w) in ((False, p["first"][0]), (True, p["first"][1])):
            m = (loc == li) & (female == g)
            first[m] = names[rng.choice(len(names), size=m.sum(), p=w)]
        m = loc == li
        names, w = p["last"]
        last1[m] = names[rng.choice(len(names), size=m.sum(), p=w)]
        if LOCALES[li].startswith("es"):
            last2[m] = names[rng.choice(len(names), size=m.sum(), p=w)]
        pick = rng.integers(len(p["streets"]), size=m.sum())
        street[m], street_short[m] = p["streets"][pick], p["streets_short"][pick]
        a = rng.choice(len(p["address_w"]), size=m.sum(), p=p["address_w"])
        city[m], postcode[m] = p["address_city"][a], p["address_postcode"][a]
    single_name = (loc == 2) & (rng.random(P) < 0.35)
    last1[single_name] = None
    house = rng.integers(1, 200, size=P)
    dob = rng.integers(0, DOB_DAYS, size=P)
    phone_kind = rng.random(P)
    phone_nsn = _national_numbers(loc, rng)
    # households: a member takes a head's surnames and address (and sometimes phone/email later)
    member = rng.random(P) < 0.20
    members = np.flatnonzero(member)
    heads_pool = np.flatnonzero(~member)
    head = heads_pool[rng.integers(len(heads_pool), size=len(members))]
    same_loc = loc[head] == loc[members]
    members, head = members[same_loc], head[same_loc]
    for arr in (last1, last2, street, street_short, city, postcode, house):
        arr[members] = arr[head]
    share_phone = rng.random(len(members)) < 0.20
    phone_nsn[members[share_phone]] = phone_nsn[head[share_phone]]
    share_email = rng.random(len(members)) < 0.05
    # namesakes: another same-country person's name and gender, nothing else
    namesake = np.flatnonzero(rng.random(P) < 0.02)
    donor = rng.integers(P, size=len(namesake))
    ok = loc[donor] == loc[namesake]
    namesake, donor = namesake[ok], donor[ok]
    for arr in (first, last1, last2, female):
        arr[namesake] = arr[donor]
    email_user_kind = rng.integers(0, 5, size=P)
    email_digits = rng.integers(1, 999, size=P)
    domain_idx = rng.integers(0, 6, size=P)

    people = pl.DataFrame({
        "person": np.arange(P, dtype=np.int64), "loc": loc.astype(np.int8), "female": female,
        "first": first.tolist(), "last1": last1.tolist(), "last2": last2.tolist(),
        "street": street.tolist(), "street_short": street_short.tolist(), "city": city.tolist(), "postcode": postcode.tolist(), "house": house,
        "dob": (DOB_START + dob.astype("timedelta64[D]")), "nsn": phone_nsn.tolist(), "phone_kind": phone_kind,
        "email_user_kind": email_user_kind, "email_digits": email_digits, "domain_idx": domain_idx,
        "household_head": np.full(P, -1, dtype=np.int64),
    })
    heads = np.full(P, -1, dtype=np.int64)
    heads[members[share_email]] = head[share_email]
    people = people.with_columns(household_head=pl.Series(heads))
    people = people.with_columns(email=_email(people)).with_columns(
        # a member sharing the family email takes the head's
        email=pl.when(pl.col("household_head") >= 0)
        .then(pl.col("email").gather(pl.col("household_head").clip(0)))
        .otherwise(pl.col("email"))
    )
    people = _unique_emails(people)

    # ---- records
    person_of = np.repeat(np.arange(P), k)
    nth = np.arange(records) - np.repeat(np.cumsum(k) - k, k)
    R = records
    u = {name: rng.random(R) for name in (
        "swap", "typo_f", "typo_l", "cut2", "accent", "case", "email_miss", "email_case", "email_new",
        "phone_miss", "dob_miss", "dob_err", "dob_year", "abbr", "moved", "street_miss", "pc_miss",
        "country_miss", "gender_miss", "gender_word", "pos_f", "pos_l")}
    ints = {
        "op_f": rng.integers(0, 4, R), "op_l": rng.integers(0, 4, R), "ch_f": rng.integers(0, 26, R),
        "ch_l": rng.integers(0, 26, R), "phone_fmt": rng.integers(0, 5, R), "dob_fmt": rng.integers(0, 10, R),
        "country_sp": rng.integers(0, 7, R), "case_kind": rng.integers(0, 2, R), "new_user": rng.integers(1000, 9999, R),
        "dob_err_kind": rng.integers(0, 2, R), "dob_year_delta": rng.choice([-1, 1], R),
    }
    dup = nth > 0
    rate = lambda dup_rate, org_rate: np.where(dup, dup_rate, org_rate)  # noqa: E731
    flags = pl.DataFrame({
        "person": person_of.astype(np.int64), "dup": dup,
        "swap": u["swap"] < rate(0.04, 0.005), "typo_f": u["typo_f"] < rate(0.12, 0.02),
        "typo_l": u["typo_l"] < rate(0.12, 0.02), "cut2": u["cut2"] < 0.25, "accent": u["accent"] < 0.25,
        "recase": u["case"] < 0.15, "email_miss": u["email_miss"] < 0.30, "email_case": u["email_case"] < 0.05,
        "email_new": dup & (u["email_new"] < 0.10), "phone_miss": u["phone_miss"] < 0.20,
        "dob_miss": u["dob_miss"] < 0.08, "dob_err": u["dob_err"] < rate(0.03, 0.0),
        "dob_year": u["dob_year"] < rate(0.02, 0.0), "abbr": u["abbr"] < 0.30,
        "moved": dup & (u["moved"] < 0.04), "street_miss": u["street_miss"] < 0.05, "pc_miss": u["pc_miss"] < 0.05,
        "country_miss": u["country_miss"] < 0.02, "gender_miss": u["gender_miss"] < 0.15,
        "gender_word": u["gender_word"] < 0.10, "pos_f": u["pos_f"], "pos_l": u["pos_l"],
        "ch_f": LETTERS[ints["ch_f"]], "ch_l": LETTERS[ints["ch_l"]],
        **{k2: v for k2, v in ints.items() if not k2.startswith("ch_")},
    })
    # a moved duplicate gets another person's address of the same country (a new home)
    moved_from = rng.integers(P, size=R)
    flags = flags.with_columns(moved_from=pl.Series(moved_from, dtype=pl.Int64))
    frame = flags.join(people, on="person", how="left", maintain_order="left")
    moved_addr = people.select(
        pl.col("person").alias("moved_from"), pl.col("loc").alias("moved_loc"),
        pl.col("street").alias("m_street"), pl.col("street_short").alias("m_street_short"),
        pl.col("house").alias("m_house"),
        pl.col("city").alias("m_city"), pl.col("postcode").alias("m_postcode"))
    frame = frame.join(moved_addr, on="moved_from", how="left", maintain_order="left")
    frame = frame.with_columns(moved=pl.col("moved") & (pl.col("moved_loc") == pl.col("loc")))
    for col in ("street", "street_short", "house", "city", "postcode"):
        frame = frame.with_columns(pl.when(pl.col("moved")).then(pl.col(f"m_{col}")).otherwise(pl.col(col)).alias(col))

    out = _records(frame, full_name)
    # shuffle rows so duplicates are not neighbours; ids in the shuffled order
    order = rng.permutation(R)
    out = out[order]
    width = len(str(R))
    out = out.with_columns(id=pl.format("C{}", (pl.int_range(1, R + 1)).cast(pl.String).str.zfill(width)))
    truth = out.select(pl.col("id").alias("record_id"), pl.format("p{}", pl.col("person_id")).alias("person_id"))
    data_cols = ["id", *(["full_name"] if full_name else ["first_name", "last_name"]), "dob", "email", "phone",
                 "street", "city", "postcode", "country", "gender"]
    return out.select(data_cols), truth


def _national_numbers(loc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """National significant numbers (digits only, no trunk 0) valid for each country."""
    n = len(loc)
    digits8 = rng.integers(0, 10**8, size=n)
    digits7 = rng.integers(0, 10**7, size=n)
    out = np.empty(n, dtype=object)
    es = loc == 0
    out[es] = [f"6{d:08d}" for d in digits8[es]]
    mx = loc == 1
    area = np.array(MX_AREA_CODES)[rng.integers(len(MX_AREA_CODES), size=n)]
    out[mx] = [f"{a}{d:08d}" for a, d in zip(area[mx], digits8[mx])]
    idn = loc == 2
    pref = np.array(ID_MOBILE_PREFIXES)[rng.integers(len(ID_MOBILE_PREFIXES), size=n)]
    out[idn] = [f"{p}{d:08d}" for p, d in zip(pref[idn], digits8[idn])]
    us = loc == 3
    npa = np.array(US_AREA_CODES)[rng.integers(len(US_AREA_CODES), size=n)]
    exchange = rng.integers(201, 999, size=n)
    exchange = np.where(exchange == 555, 556, exchange)
    out[us] = [f"{a}{e:03d}{d % 10000:04d}" for a, e, d in zip(npa[us], exchange[us], digits7[us])]
    return out


def _fold(e: pl.Expr) -> pl.Expr:
    return e.str.replace_many(list(ACCENTS), list(ACCENTS.values()))


def _email(people: pl.DataFrame) -> pl.Expr:
    f = _fold(pl.col("first")).str.to_lowercase().str.replace_all(r"[^a-z]", "")
    last = pl.coalesce(pl.col("last1"), pl.col("first"))
    ln = _fold(last).str.to_lowercase().str.replace_all(r"[^a-z]", "")
    d = pl.col("email_digits").cast(pl.String)
    user = _pick(pl.col("email_user_kind"), [
        pl.concat_str(f, pl.lit("."), ln), pl.concat_str(f, ln, d), pl.concat_str(f.str.slice(0, 1), pl.lit("."), ln),
        pl.concat_str(f, pl.lit("_"), ln.str.slice(0, 1), d), pl.concat_str(ln, f.str.slice(0, 1), d),
    ])
    domain = pl.lit(None, dtype=pl.String)
    for li, domains in enumerate(DOMAINS):
        domain = pl.when(pl.col("loc") == li).then(
            pl.col("domain_idx").replace_strict(dict(enumerate(domains)), return_dtype=pl.String)).otherwise(domain)
    return pl.concat_str(user, pl.lit("@"), domain)


def _unique_emails(people: pl.DataFrame) -> pl.DataFrame:
    """Two people who are not one household never share an address: digits from the person id."""
    owners = people.group_by("email").agg(pl.col("person").min().alias("owner"))
    people = people.join(owners, on="email", how="left", maintain_order="left")
    clash = (pl.col("person") != pl.col("owner")) & (pl.col("household_head") < 0)
    user, domain = pl.col("email").str.split_exact("@", 1).struct.field("field_0"), \
        pl.col("email").str.split_exact("@", 1).struct.field("field_1")
    return people.with_columns(
        email=pl.when(clash).then(pl.concat_str(user, pl.lit("."), pl.col("person").cast(pl.String), pl.lit("@"), domain))
        .otherwise(pl.col("email"))
    ).drop("owner")


def _phone(nsn: pl.Expr, locale: int, fmt: pl.Expr) -> pl.Expr:
    """The national significant number in one of five spellings of `locale`'s country."""
    s = lambda a, b=None: nsn.str.slice(a, b)  # noqa: E731
    spaced = lambda *parts: pl.concat_str(*parts, separator=" ")  # noqa: E731
    options = [
        [nsn, spaced(s(0, 3), s(3, 3), s(6)), spaced(pl.lit("+34"), s(0, 3), s(3, 3), s(6)),
         pl.concat_str(pl.lit("+34"), nsn), pl.concat_str(pl.lit("0034"), nsn)],
        [nsn, spaced(s(0, 2), s(2, 4), s(6)), spaced(pl.lit("+52"), s(0, 2), s(2, 4), s(6)),
         spaced(pl.lit("+52 1"), s(0, 2), s(2, 4), s(6)),  # the legacy mobile prefix
         pl.concat_str(pl.lit("("), s(0, 2), pl.lit(") "), s(2, 4), pl.lit("-"), s(6))],
        [pl.concat_str(pl.lit("0"), nsn), pl.concat_str(pl.lit("0"), s(0, 3), pl.lit("-"), s(3, 4), pl.lit("-"), s(7)),
         spaced(pl.lit("+62"), s(0, 3), s(3, 4), s(7)), pl.concat_str(pl.lit("+62"), nsn),
         pl.concat_str(pl.lit("62"), nsn)],
        [pl.concat_str(pl.lit("("), s(0, 3), pl.lit(") "), s(3, 3), pl.lit("-"), s(6)),
         pl.concat_str(s(0, 3), pl.lit("-"), s(3, 3), pl.lit("-"), s(6)), spaced(pl.lit("+1"), s(0, 3), s(3, 3), s(6)),
         nsn, pl.concat_str(pl.lit("1-"), s(0, 3), pl.lit("-"), s(3, 3), pl.lit("-"), s(6))],
    ][locale]
    return _pick(fmt, options)


def _dob(d: pl.Expr, month_first: bool, fmt: pl.Expr) -> pl.Expr:
    y, m, day = d.dt.year().cast(pl.String), d.dt.month().cast(pl.String).str.zfill(2), d.dt.day().cast(pl.String).str.zfill(2)
    first, second = (m, day) if month_first else (day, m)
    # fmt 0..9: ISO 40%, slashes 30%, dashes 20%, YYYYMMDD 10%
    return (pl.when(fmt < 4).then(pl.concat_str(y, m, day, separator="-"))
            .when(fmt < 7).then(pl.concat_str(first, second, y, separator="/"))
            .when(fmt < 9).then(pl.concat_str(first, second, y, separator="-"))
            .otherwise(pl.concat_str(y, m, day)))


def _edit_where(frame: pl.DataFrame, column: str, flag: str, edit: pl.Expr) -> pl.DataFrame:
    """`column` with `edit` applied to the flagged rows only (the rest are not computed)."""
    idx = frame.select(pl.arg_where(pl.col(flag) & pl.col(column).is_not_null())).to_series()
    if idx.len() == 0:
        return frame
    edited = frame[idx].select(edit.alias(column)).to_series()
    return frame.with_columns(frame.get_column(column).scatter(idx, edited))


def _records(frame: pl.DataFrame, full_name: bool) -> pl.DataFrame:
    """The customer rows from the joined (record flags + person) frame."""
    c = pl.col
    frame = frame.with_columns(
        first=c("first"),
        last=pl.when(c("last2").is_not_null() & ~c("cut2"))
        .then(pl.concat_str(c("last1"), c("last2"), separator=" ")).otherwise(c("last1")),
        dob_true=c("dob"),
    )
    frame = _edit_where(frame, "first", "typo_f", _typo(c("first"), c("pos_f"), c("op_f"), c("ch_f")))
    frame = _edit_where(frame, "last", "typo_l", _typo(c("last"), c("pos_l"), c("op_l"), c("ch_l")))
    for column in ("first", "last"):
        frame = _edit_where(frame, column, "accent", _fold(c(column)))
        frame = _edit_where(frame, column, "recase", pl.when(c("case_kind") == 0).then(c(column).str.to_uppercase())
                            .otherwise(c(column).str.to_lowercase()))
    swapped = c("swap") & c("last").is_not_null()
    frame = frame.with_columns(
        first=pl.when(swapped).then(c("last")).otherwise(c("first")),
        last=pl.when(swapped).then(c("first")).otherwise(c("last")),
    )
    names = ([pl.concat_str(c("first"), c("last"), separator=" ", ignore_nulls=True).alias("full_name")]
             if full_name else [c("first").alias("first_name"), c("last").alias("last_name")])

    d = c("dob_true")
    d = (pl.when(c("dob_err") & (c("dob_err_kind") == 0) & (d.dt.day() <= 12))
         .then(pl.date(d.dt.year(), d.dt.day(), d.dt.month()))
         .when(c("dob_err")).then(d + pl.duration(days=pl.when(d.dt.day() < 28).then(1).otherwise(-1)))
         .otherwise(d))
    leap_day = (d.dt.month() == 2) & (d.dt.day() == 29)
    d = pl.when(c("dob_year")).then(pl.date(d.dt.year() + c("dob_year_delta"), d.dt.month(),
                                            pl.when(leap_day).then(28).otherwise(d.dt.day()))).otherwise(d)
    email = pl.when(c("email_new")).then(
        pl.concat_str(c("email").str.split_exact("@", 1).struct.field("field_0"), c("new_user").cast(pl.String),
                      pl.lit("@gmail.com"))).otherwise(c("email"))
    email = pl.when(c("email_miss")).then(None).when(c("email_case")).then(email.str.to_uppercase()).otherwise(email)
    street = pl.when(c("abbr")).then(c("street_short")).otherwise(c("street"))
    house = c("house").cast(pl.String)
    gender = (pl.when(c("gender_miss")).then(None)
              .when(c("gender_word")).then(pl.when(c("female")).then(pl.lit("female")).otherwise(pl.lit("male")))
              .otherwise(pl.when(c("female")).then(pl.lit("F")).otherwise(pl.lit("M"))))
    parts = []
    for li in range(len(LOCALES)):  # each country's spellings computed on its own rows only
        part = frame.filter(c("loc") == li)
        street_text = (pl.concat_str(house, street, separator=" ") if LOCALES[li] == "en_US" else
                       pl.concat_str(street, pl.lit("No."), house, separator=" ") if LOCALES[li] == "id_ID" else
                       pl.concat_str(street, house, separator=" "))
        parts.append(part.select(
            c("person").alias("person_id"), *names,
            pl.when(c("dob_miss")).then(None).otherwise(_dob(d, LOCALES[li] == "en_US", c("dob_fmt"))).alias("dob"),
            email.alias("email"),
            pl.when(c("phone_miss")).then(None).otherwise(_phone(c("nsn"), li, c("phone_fmt"))).alias("phone"),
            pl.when(c("street_miss")).then(None).otherwise(street_text).alias("street"),
            c("city"),
            pl.when(c("pc_miss")).then(None).otherwise(c("postcode")).alias("postcode"),
            pl.when(c("country_miss")).then(None).otherwise(
                c("country_sp").replace_strict(dict(enumerate(COUNTRY_SPELLINGS[li])), return_dtype=pl.String)
            ).alias("country"),
            gender.alias("gender"),
        ))
    return pl.concat(parts)


def write_person_file(folder: Path, records: int, seed: int = 7, full_name: bool = False,
                      name: str | None = None) -> DatasetFiles:
    """Generate and write a benchmark folder (data.csv, truth.parquet, mapping.yaml, spec.json)."""
    t = time.perf_counter()
    data, truth = generate(records, seed, full_name)
    gen_s = time.perf_counter() - t
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data.write_csv(folder / "data.csv")
    truth.write_parquet(folder / "truth.parquet")
    persons = truth["person_id"].n_unique()
    names = {"full_name": "full_name"} if full_name else {"first_name": "first_name", "last_name": "last_name"}
    files = DatasetFiles(
        name=name or f"person-{records}{'-full' if full_name else ''}", folder=folder, id_column="id",
        attributes={**names, "dob": "dob", "email": "email", "phone": "phone", "street": "street", "city": "city",
                    "postcode": "postcode", "country": "country", "gender": "gender"},
        dob_formats=["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y%m%d"],
        dob_formats_month_first=["%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%Y%m%d"],
        month_first_countries=["us", "usa", "united states", "u.s.a."],
        notes={"records": records, "persons": persons, "duplicate_share": round((records - persons) / records, 4),
               "seed": seed, "full_name": full_name, "generated_s": round(gen_s, 2)},
    )
    files.write_descriptors()
    (folder / "manifest.json").write_text(json.dumps(files.notes, indent=1), encoding="utf-8")
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--full-name", action="store_true", help="one full_name column instead of first/last")
    args = parser.parse_args(argv)
    t = time.perf_counter()
    files = write_person_file(args.out, args.records, args.seed, args.full_name)
    n = files.notes
    print(f"{n['records']:,} records of {n['persons']:,} persons ({n['duplicate_share']:.1%} duplicates) in "
          f"{time.perf_counter() - t:.1f} s (generation {n['generated_s']:.1f} s) -> {files.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
