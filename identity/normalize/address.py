"""Addresses: street (folded, abbreviations expanded) and house number, city key, postcode, country."""
from __future__ import annotations

import re
from functools import lru_cache

import polars as pl

from identity.normalize._text import CACHE_SIZE, fold, fold_tokens, map_distinct, map_distinct_frame

# Street-type and other abbreviations in English, Spanish and Indonesian, on folded tokens.
STREET_ABBREVIATIONS: dict[str, str] = {
    # English
    "ave": "avenue", "rd": "road", "ln": "lane", "blvd": "boulevard",
    "hwy": "highway", "pkwy": "parkway", "ct": "court", "sq": "square", "ter": "terrace",
    "cir": "circle", "mt": "mount", "ft": "fort", "trl": "trail", "expy": "expressway",
    "fwy": "freeway", "crk": "creek", "hts": "heights", "mnr": "manor", "vly": "valley",
    "vlg": "village", "xing": "crossing", "jct": "junction", "brg": "bridge", "ctr": "center",
    "aly": "alley", "grv": "grove", "lk": "lake", "pt": "point", "rdg": "ridge", "spg": "spring",
    "sta": "station", "tpke": "turnpike", "cswy": "causeway", "cv": "cove", "knl": "knoll",
    # Spanish
    "c": "calle", "cl": "calle", "cll": "calle", "avda": "avenida", "avd": "avenida",
    "avnda": "avenida", "pza": "plaza", "plza": "plaza", "pz": "plaza", "ps": "paseo",
    "po": "paseo", "pso": "paseo", "ctra": "carretera", "carr": "carretera", "cno": "camino",
    "rda": "ronda", "trav": "travesia", "trv": "travesia", "gta": "glorieta", "urb": "urbanizacion",
    "col": "colonia", "priv": "privada", "prol": "prolongacion", "blvr": "bulevar",
    "calz": "calzada", "pje": "pasaje", "psje": "pasaje", "cjon": "callejon", "fracc": "fraccionamiento",
    "cto": "circuito", "ret": "retorno",
    # Indonesian
    "jl": "jalan", "jln": "jalan", "gg": "gang", "kel": "kelurahan", "kec": "kecamatan",
    "kav": "kavling", "blk": "blok", "komp": "kompleks", "perum": "perumahan", "ds": "desa",
    "kab": "kabupaten", "prov": "provinsi",
}
# Tokens announcing a house number ("No. 5", "Nomor 5", "# 5", "Núm. 5").
_NUMBER_MARKERS = frozenset({"no", "nomor", "num", "numero", "nro", "nr", "number", "n"})
# Abbreviations whose meaning depends on where they stand: (as the first word, elsewhere, as last).
_POSITIONAL = {
    "st": ("saint", "saint", "street"),      # "St Marks Place" / "Main St"
    "dr": ("doctor", "doctor", "drive"),     # "Calle Dr. Fleming" / "Ocean Dr"
    "pl": ("plaza", "place", "place"),       # "Pl. Mayor" / "Clinton Pl"
    "av": ("avenida", "avenue", "avenue"),   # "Av. Reforma" / "Park Av"
    "c": ("calle", "c", "c"),                # "C/ Mayor" ; a lone "c" elsewhere is a letter
}
# Tokens that start the unit / floor part, which is not part of the street identity.
_UNIT_MARKERS = frozenset(
    {"apt", "apartment", "suite", "ste", "unit", "fl", "floor", "piso", "puerta", "pta", "depto",
     "dpto", "departamento", "interior", "int", "edif", "edificio", "bloque", "escalera", "esc",
     "planta", "lantai", "rt", "rw", "bajo", "local", "oficina", "of", "lt", "mz", "manzana", "lote"}
)
_HOUSE_NUMBER = re.compile(r"^\d+[a-z]?$")

STREET_SCHEMA = {"street": pl.String, "house_number": pl.String}


@lru_cache(maxsize=CACHE_SIZE)
def normalize_street_value(raw: str) -> tuple[str | None, str | None]:
    """(street, house_number): 'Jl. Sudirman No. 5' -> ('jalan sudirman', '5')."""
    # "Nº 3" / "N° 3": the ordinal signs would otherwise fold to letters.
    cleaned = raw.replace("º", " ").replace("°", " ").replace("ª", " ")
    folded = fold(cleaned).replace("#", " # ").replace("s/n", " ")
    tokens = [t for t in re.split(r"[^0-9a-z#]+", folded) if t]
    if not tokens:
        return None, None
    house_number = None
    street_tokens: list[str] = []
    if _HOUSE_NUMBER.match(tokens[0]) and len(tokens) > 1:  # "173 Charles Drive" (US order)
        house_number = tokens[0]
        tokens = tokens[1:]
        for token in tokens:
            if token in _UNIT_MARKERS or token == "#":
                break
            street_tokens.append(token)
    else:  # "Calle Mayor 3", "Jl. Sudirman No. 5" (number after the name)
        for i, token in enumerate(tokens):
            if token in _UNIT_MARKERS:
                break
            is_marker = token == "#" or (
                token in _NUMBER_MARKERS and i > 0 and i + 1 < len(tokens)
                and _HOUSE_NUMBER.match(tokens[i + 1])
            )
            if is_marker:
                continue
            if _HOUSE_NUMBER.match(token) and street_tokens:
                house_number = token
                break
            street_tokens.append(token)
    expanded = []
    last = len(street_tokens) - 1
    for i, token in enumerate(street_tokens):
        if token in _POSITIONAL:
            first_form, middle_form, last_form = _POSITIONAL[token]
            expanded.append(first_form if i == 0 else last_form if i == last else middle_form)
        else:
            expanded.append(STREET_ABBREVIATIONS.get(token, token))
    street = " ".join(expanded) or None
    return street, house_number


def normalize_street(s: pl.Series) -> pl.DataFrame:
    """Columns `street` (folded, abbreviations expanded, unit part dropped) and `house_number`."""
    return map_distinct_frame(pl.DataFrame({"raw": s.cast(pl.String)}), normalize_street_value, STREET_SCHEMA)


# Common alternative names of cities in the sources' countries, on folded keys.
CITY_ALIASES: dict[str, str] = {
    "cdmx": "ciudad de mexico", "mexico df": "ciudad de mexico", "df": "ciudad de mexico",
    "mexico city": "ciudad de mexico", "ciudad de mexico df": "ciudad de mexico",
    "nyc": "new york", "new york city": "new york", "ny": "new york", "la": "los angeles",
    "sf": "san francisco", "jkt": "jakarta", "dki jakarta": "jakarta",
    "daerah khusus ibukota jakarta": "jakarta", "gdl": "guadalajara", "mty": "monterrey",
    "bcn": "barcelona", "valencia ciudad": "valencia",
}


@lru_cache(maxsize=CACHE_SIZE)
def city_key_value(raw: str) -> str | None:
    head, comma, tail = raw.rpartition(",")
    if comma and head.strip() and normalize_country_value(tail) is not None:
        raw = head  # "Madrid, España" (free-text locations) -> "Madrid"
    key = " ".join(fold_tokens(raw)) or None
    return CITY_ALIASES.get(key, key) if key else None


def city_key(s: pl.Series) -> pl.Series:
    """Folded, punctuation-free city with common aliases resolved: 'CDMX' -> 'ciudad de mexico'."""
    return map_distinct(s.cast(pl.String), city_key_value, pl.String)


def region_key(s: pl.Series) -> pl.Series:
    """Folded, punctuation-free region/state."""
    return map_distinct(s.cast(pl.String), lambda v: " ".join(fold_tokens(v)) or None, pl.String)


def normalize_postcode(s: pl.Series) -> pl.Series:
    """Upper case, spaces and dots removed, leading zeros kept; US ZIP+4 reduced to the 5-digit ZIP."""
    text = s.cast(pl.String).str.to_uppercase().str.replace_all(r"[\s.]", "")
    text = text.str.replace(r"^(\d{5})-\d{4}$", "$1")
    return pl.select(
        pl.when(text.str.len_chars() > 0).then(text).otherwise(None).alias(s.name)
    ).to_series()


# Aliases that are not (or not only) country names in phonenumbers' locale data.
_COUNTRY_ALIASES: dict[str, str] = {
    "usa": "US", "u s a": "US", "u s": "US", "us": "US", "united states of america": "US",
    "america": "US", "estados unidos": "US", "eeuu": "US", "ee uu": "US", "amerika serikat": "US",
    "esp": "ES", "spain": "ES", "espana": "ES", "kingdom of spain": "ES", "reino de espana": "ES",
    "spanyol": "ES", "mex": "MX", "mexico": "MX", "estados unidos mexicanos": "MX",
    "republica mexicana": "MX", "meksiko": "MX", "idn": "ID", "indonesia": "ID",
    "republik indonesia": "ID", "ri": "ID", "nkri": "ID", "uk": "GB", "gbr": "GB",
    "great britain": "GB", "england": "GB", "united kingdom": "GB", "deu": "DE", "fra": "FR",
    "can": "CA", "bra": "BR", "arg": "AR", "col": "CO", "chl": "CL", "per": "PE", "prt": "PT",
    "ita": "IT", "nld": "NL", "aus": "AU", "ind": "IN", "chn": "CN", "jpn": "JP", "mys": "MY",
    "sgp": "SG", "phl": "PH", "tha": "TH", "vnm": "VN",
}


@lru_cache(maxsize=1)
def _country_lookup() -> dict[str, str]:
    """Folded country name (any language phonenumbers knows) or code -> ISO alpha-2."""
    from phonenumbers.geodata.locale import LOCALE_DATA

    lookup: dict[str, str] = {}
    for code, names in LOCALE_DATA.items():
        if len(code) != 2 or not code.isalpha():
            continue
        for lang, name in names.items():
            if name.startswith("*"):  # "*aa": same as language aa
                name = names.get(name[1:], "")
            key = " ".join(fold_tokens(name))
            if key:
                lookup.setdefault(key, code)
    lookup.update({code.lower(): code for code in LOCALE_DATA if len(code) == 2 and code.isalpha()})
    lookup.update(_COUNTRY_ALIASES)
    return lookup


@lru_cache(maxsize=CACHE_SIZE)
def normalize_country_value(raw: str) -> str | None:
    key = " ".join(fold_tokens(raw))
    lookup = _country_lookup()
    if key in lookup:
        return lookup[key]
    # "Mexico City, Mexico" or "Jakarta, Indonesia": a known country as the last comma part.
    if "," in raw:
        tail = " ".join(fold_tokens(raw.rsplit(",", 1)[1]))
        return lookup.get(tail)
    return None


def normalize_country(s: pl.Series) -> pl.Series:
    """ISO-3166 alpha-2 upper case from codes or names ('España', 'Mexico', 'USA'); unknown -> null."""
    return map_distinct(s.cast(pl.String), normalize_country_value, pl.String)
