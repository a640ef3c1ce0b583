"""Person names: display form, matching key, and splitting a full name into first and last.

Display keeps what a person would write ("José María de la Cruz"); the key is what matching compares
("jose maria cruz"): folded, punctuation-free, with particles and titles removed.
"""
from __future__ import annotations

import re
from functools import lru_cache

import polars as pl

from identity.normalize._text import CACHE_SIZE, fold, fold_tokens, map_distinct, squash_spaces

# Surname particles, kept lowercase in display and attached to the last name when splitting.
PARTICLES: frozenset[str] = frozenset(
    {"de", "del", "la", "las", "los", "y", "i", "da", "das", "do", "dos", "di", "du", "van", "von",
     "der", "den", "ter", "ten", "bin", "binti", "bint"}
)
# Particles that may open a last name (others, like "la" or "der", only continue one).
_OPENING_PARTICLES = frozenset(
    {"de", "del", "da", "das", "do", "dos", "di", "du", "van", "von", "bin", "binti", "bint"}
)
# Honorifics and degrees as written: dropped from name keys and from split first/last names.
# Spanish/Mexican (Sr., Lic., Ing.), English (Mr., Jr., III, MD), Indonesian (Hj., Drs., S.Kom).
TITLE_WORDS: frozenset[str] = frozenset(
    {"sr", "sra", "srta", "srita", "sr(a)", "dr", "dra", "ing", "lic", "mtro", "mtra", "prof",
     "mr", "mrs", "ms", "miss", "jr", "ii", "iii", "iv", "md", "phd", "dds", "esq", "dvm",
     "hj", "drs", "dra", "ir", "tgk", "dt", "r.m", "r.a", "a.md", "m.m", "m.kom", "m.pd", "m.ti",
     "m.farm", "m.ak", "m.si"}
)
_INDONESIAN_DEGREE = re.compile(r"^s\.[a-z.]+$", re.IGNORECASE)  # S.Kom, S.E., S.Ked, S.E.I


def _is_title(word: str) -> bool:
    bare = word.rstrip(".,").lower()
    return bare in TITLE_WORDS or bool(_INDONESIAN_DEGREE.match(word.rstrip(",")))


def _known_first_names() -> tuple[frozenset[str], frozenset[str]]:
    """Folded given names and surnames from Faker's es_ES, es_MX, id_ID and en_US lists.

    Used only to tell "Juan Carlos García" (two given names) from "Juan García López" (two
    surnames); a name outside the lists falls back to the Spanish two-surname convention.
    """
    first: set[str] = set()
    last: set[str] = set()
    try:
        from faker.providers.person import en_US, es_ES, es_MX, id_ID
    except ImportError:  # pragma: no cover - faker is a declared dependency
        return frozenset(), frozenset()
    for module in (es_ES, es_MX, id_ID, en_US):
        provider = module.Provider
        for attr, target in (("first_names", first), ("last_names", last)):
            for name in getattr(provider, attr, ()) or ():
                target.update(fold_tokens(name))
    return frozenset(first), frozenset(last)


_FIRST_NAMES, _LAST_NAMES = _known_first_names()


def _display_word(word: str, is_last: bool) -> str:
    lowered = word.lower()
    # A particle stays lower case unless it ends the name: "de la Cruz", but "Di" alone.
    if not is_last and fold(lowered) in PARTICLES and lowered.isalpha() and len(lowered) <= 5:
        return lowered
    # Capitalize each part of hyphenated and apostrophe names: "garcía-lópez" -> "García-López".
    return re.sub(r"[^\W\d_]+", lambda m: m.group(0)[:1].upper() + m.group(0)[1:].lower(), word)


@lru_cache(maxsize=CACHE_SIZE)
def display_name_value(raw: str) -> str | None:
    words = squash_spaces(raw).split(" ")
    words = [w for w in words if w]
    if not words:
        return None
    last = len(words) - 1
    return " ".join(_display_word(w, i == last) for i, w in enumerate(words))


@lru_cache(maxsize=CACHE_SIZE)
def name_key_parts_value(raw: str) -> tuple[str | None, str | None]:
    """(kept, folded): the key's words without titles and particles, and all its folded words.

    The key is `kept`, else `folded` (a name made only of particles or titles still deserves a key).
    Both are read word by word, so the parts of "First Last" are those of "First" and of "Last"
    joined: `composed_name_key` builds the key of a composed full name from them.
    """
    words = [w for w in raw.split() if not _is_title(w)]
    kept = [t for t in fold_tokens(" ".join(words)) if t not in PARTICLES]
    return " ".join(kept) or None, " ".join(fold_tokens(raw)) or None


def name_key_value(raw: str) -> str | None:
    kept, folded = name_key_parts_value(raw)
    return kept or folded


def _is_given_name(word: str) -> bool:
    """Known as a given name: 'Carlos' and 'Michael' are (though also surnames), 'García' is not."""
    return fold(word) in _FIRST_NAMES


def _is_surname(word: str) -> bool:
    return fold(word) in _LAST_NAMES


@lru_cache(maxsize=CACHE_SIZE)
def split_full_name_value(raw: str) -> tuple[str | None, str | None]:
    """(first, last) in display form.

    Titles are dropped; "Last, First" is honoured; a particle (de, del, van, bin, binti...) opens
    the last name; one word is a first name only (Indonesian single names); of three words the
    middle one joins the first name when it is a known given name ("Juan Carlos García"), else
    the last name (Spanish double surname "Juan García López"); of four or more, the last two are
    the surnames unless the second-to-last is a given name and no surname.
    """
    display = display_name_value(raw)
    if display is None:
        return None, None
    words = [w for w in display.split(" ") if not _is_title(w)]
    text = " ".join(words).strip(" ,")
    if "," in text:  # "García López, Juan Carlos"
        last_part, _, first_part = text.partition(",")
        first = display_name_value(first_part) if first_part.strip(" ,") else None
        last = display_name_value(last_part) if last_part.strip(" ,") else None
        return first, last
    words = [w for w in text.split(" ") if w]
    if not words:
        return None, None
    if len(words) == 1:
        return words[0], None
    # A particle after the first word opens the last name: "José María de la Cruz".
    for i in range(1, len(words) - 1):
        if fold(words[i]) in _OPENING_PARTICLES:
            return " ".join(words[:i]), " ".join(words[i:])
    if len(words) == 2:
        return words[0], words[1]
    if len(words) == 3:
        if _is_given_name(words[1]):  # "Juan Carlos García"
            return " ".join(words[:2]), words[2]
        return words[0], " ".join(words[1:])  # "Juan García López"
    # Four or more: the last two are surnames unless the second-to-last is plainly a given name.
    if _is_given_name(words[-2]) and not _is_surname(words[-2]):
        return " ".join(words[:-1]), words[-1]
    return " ".join(words[:-2]), " ".join(words[-2:])


# Below this many distinct names, one call each costs less than the column-wise passes.
_FAST_MIN_DISTINCT = 256


def _by_plainness(s: pl.Series, fast, slow, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """`fast(expr) -> exprs` over the distinct plain ASCII names (identity/normalize/_names_fast.py),
    `slow(value) -> tuple` over the others; one output row per row of `s`."""
    from identity.normalize._names_fast import PLAIN_NAME

    distinct = pl.DataFrame({"raw": s.drop_nulls().unique()})
    plain = distinct.filter(pl.col("raw").str.contains(PLAIN_NAME))
    others = distinct.filter(~pl.col("raw").str.contains(PLAIN_NAME))
    read = [slow(v) for v in others.get_column("raw").to_list()]
    lookup = pl.concat([
        plain.with_columns(*(e.alias(n) for e, n in zip(fast(pl.col("raw")), schema))),
        others.with_columns(pl.DataFrame(read, schema=schema, orient="row")),
    ])
    return s.to_frame("raw").join(lookup, on="raw", how="left", maintain_order="left").select(list(schema))


def display_name(s: pl.Series) -> pl.Series:
    """Trimmed, single-spaced, title case with particles kept lower: 'JOSÉ MARÍA DE LA CRUZ' -> 'José María de la Cruz'."""
    s = s.cast(pl.String)
    if s.n_unique() < _FAST_MIN_DISTINCT:
        return map_distinct(s, display_name_value, pl.String)
    from identity.normalize._names_fast import display_plain

    return _by_plainness(
        s, lambda e: [display_plain(e, PARTICLES)], lambda v: (display_name_value(v),), {"name": pl.String}
    ).to_series().rename(s.name)


def name_key(s: pl.Series) -> pl.Series:
    """Matching form: casefolded, accents stripped, punctuation, particles and titles removed."""
    return map_distinct(s.cast(pl.String), name_key_value, pl.String)


def name_key_parts(s: pl.Series) -> pl.DataFrame:
    """Columns `kept`, `folded` (see `name_key_parts_value`) of each name; the key is kept ?? folded."""
    from identity.normalize._names_fast import key_parts_plain
    from identity.normalize._text import map_distinct_frame

    s, schema = s.cast(pl.String), {"kept": pl.String, "folded": pl.String}
    if s.n_unique() < _FAST_MIN_DISTINCT:
        return map_distinct_frame(pl.DataFrame({"raw": s}), name_key_parts_value, schema)
    return _by_plainness(s, lambda e: key_parts_plain(e, TITLE_WORDS, PARTICLES), name_key_parts_value, schema)


def composed_name_key(first: pl.DataFrame, last: pl.DataFrame) -> pl.Series:
    """`name_key` of "first last" (either may be null) from the `name_key_parts` of each, without
    reading the composed name again: its words are the first's then the last's, so its kept words
    are theirs joined, and when none is kept, its folded words are theirs joined."""
    def joined(column: str) -> pl.Expr:
        return pl.concat_str([pl.lit(first.get_column(column)), pl.lit(last.get_column(column))],
                             separator=" ", ignore_nulls=True).replace("", None)

    return pl.select(pl.coalesce(joined("kept"), joined("folded"))).to_series()


def split_full_name(s: pl.Series) -> pl.DataFrame:
    """Columns `first_name`, `last_name` (display form) split from a full name."""
    from identity.normalize._text import map_distinct_frame

    keys = pl.DataFrame({"raw": s.cast(pl.String)})
    return map_distinct_frame(
        keys, split_full_name_value, {"first_name": pl.String, "last_name": pl.String}
    )
