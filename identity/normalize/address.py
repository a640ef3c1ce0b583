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
# Unit markers that are also words of a street's name ("St John of God Hospital", "Avenue of the
# Americas"): a unit only when a number follows ("Of. 3", Spanish oficina).
_WORD_MARKERS = frozenset({"of"})


def _starts_unit(tokens: list[str], i: int) -> bool:
    if tokens[i] not in _UNIT_MARKERS:
        return False
    return tokens[i] not in _WORD_MARKERS or (i + 1 < len(tokens) and bool(_HOUSE_NUMBER.match(tokens[i + 1])))

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
    # a unit written first ("Unit 5, 12 Main St", "Apt 4B 350 Fifth Ave"): it goes, the street follows
    if len(tokens) > 2 and _starts_unit(tokens, 0) and (_HOUSE_NUMBER.match(tokens[1]) or len(tokens[1]) == 1):
        tokens = tokens[2:]
    if _HOUSE_NUMBER.match(tokens[0]) and len(tokens) > 1:  # "173 Charles Drive" (US order)
        house_number = tokens[0]
        tokens = tokens[1:]
        for i, token in enumerate(tokens):
            if _starts_unit(tokens, i) or token == "#":
                break
            street_tokens.append(token)
    else:  # "Calle Mayor 3", "Jl. Sudirman No. 5" (number after the name)
        for i, token in enumerate(tokens):
            if _starts_unit(tokens, i):
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
    """Columns `street` (folded, abbreviations expanded, unit part dropped) and `house_number`.

    A customer file has about one distinct street per household, but far fewer street *shapes*:
    "Calle Mayor 3" and "Calle Mayor 15" differ only in their digits (1M person records: 519k
    distinct streets, 10k shapes). `normalize_street_value` never looks at which digits a run holds,
    only at where runs are (tokens are digit runs and letters, `^\\d+[a-z]?$` is the only test that
    sees digits, no marker or abbreviation holds one) and copies tokens through whole. So each
    street is read as its shape -- the i-th digit run written as the digit i -- and the runs are put
    back into the result digit by digit. Streets with more than ten runs, or with a character that
    folds to a digit ("½", "²"), are read as they are.
    """
    raw = s.cast(pl.String).rename("raw")
    distinct = raw.drop_nulls().unique()
    if distinct.len() < _SHAPE_MIN_DISTINCT:
        return map_distinct_frame(raw.to_frame(), normalize_street_value, STREET_SCHEMA)
    lookup = _streets_by_shape(distinct)
    return raw.to_frame().join(lookup, on="raw", how="left", maintain_order="left").select(list(STREET_SCHEMA))


# Below this many distinct streets, shapes save less than the column passes cost.
_SHAPE_MIN_DISTINCT = 256
_MAX_RUNS = 10
_DIGITS = [str(i) for i in range(_MAX_RUNS)]
_MARKS = [chr(0xE000 + i) for i in range(_MAX_RUNS)]  # private-use characters, absent from the input


def _digit_folding_characters(values: pl.Series) -> list[str]:
    """The non-ASCII characters of `values` that `fold` turns into (or around) a digit."""
    chars = values.str.extract_all(r"[^\x00-\x7F]").explode().drop_nulls().unique().to_list()
    return [c for c in chars if any(ch.isdigit() for ch in fold(c))]


def _streets_by_shape(distinct: pl.Series) -> pl.DataFrame:
    """raw, street, house_number for distinct raw streets, each read once per shape."""
    raw = pl.col("raw")
    frame = pl.DataFrame({"raw": distinct}).with_columns(runs=raw.str.extract_all(r"[0-9]+"))
    frame = frame.with_columns(count=pl.col("runs").list.len())
    most = min(_MAX_RUNS, int(frame.get_column("count").max() or 0))
    shape = raw
    for mark in _MARKS[:most]:  # the i-th digit run -> the i-th mark, then each mark -> its digit
        shape = shape.str.replace(r"[0-9]+", mark)
    odd = _digit_folding_characters(distinct)
    by_shape = (pl.col("count") <= _MAX_RUNS) & ~raw.str.contains_any(_MARKS)
    if odd:
        by_shape = by_shape & ~raw.str.contains_any(odd)
    frame = frame.with_columns(by_shape=by_shape)
    frame = frame.with_columns(
        key=pl.when("by_shape").then(shape.str.replace_many(_MARKS[:most], _DIGITS[:most])).otherwise(raw),
    )
    keys = frame.get_column("key").unique()
    read = pl.DataFrame(
        [normalize_street_value(k) for k in keys.to_list()], schema=STREET_SCHEMA, orient="row"
    ).with_columns(key=keys)
    frame = frame.join(read, on="key", how="left")
    return frame.select(
        "raw",
        *(pl.when("by_shape").then(_put_runs_back(pl.col(column), most)).otherwise(pl.col(column)).alias(column)
          for column in STREET_SCHEMA),
    )


def _put_runs_back(text: pl.Expr, most: int) -> pl.Expr:
    """`text` with each digit i replaced by the i-th digit run of the row's `runs` (i < `most`)."""
    if most == 0:
        return text
    text = text.str.replace_many(_DIGITS[:most], _MARKS[:most])
    for i, mark in enumerate(_MARKS[:most]):
        text = text.str.replace_all(mark, pl.col("runs").list.get(i, null_on_oob=True).fill_null(""), literal=True)
    return text


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
