"""The comparison library: for each kind of attribute, a declared list of named levels with its SQL.

Splink's `comparison_level_library` is the model. A comparison turns a pair of signatures
(`l.<col>`, `r.<col>` in SQL) into one level code: -1 when either side lacks the field (it then
says nothing, weight 0), 0 for "else" (the values disagree), and 1..k for the named agreement
levels, evaluated in declared order (the first true one wins, so the strictest comes first).
Guards and reports name levels by their names ("exact", "one_edit", ...); codes are internal.

Every level's SQL is fixed text over column names chosen by the engine, never user input.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Level:
    name: str
    sql: str                 # condition on l.<col> / r.<col>


@dataclass(frozen=True)
class Comparison:
    name: str                # unique within a model: "first_name", "text__address_2", ...
    kind: str                # the attribute kind guards and blocking refer to
    columns: tuple[str, ...]  # signature columns it reads
    null_sql: str            # true when the comparison cannot be made
    levels: tuple[Level, ...]  # agreement levels, strictest first; "else" is implicit (code 0)
    # The column whose value frequency adjusts the weight of the "exact" level (a common surname
    # counts less than a rare one); None for kinds where values are not names of things.
    tf_column: str | None = None
    description: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def codes(self) -> dict[str, int]:
        """Level name -> code, including "null" (-1) and "else" (0)."""
        out = {"null": -1, "else": 0}
        for i, level in enumerate(self.levels):
            out[level.name] = len(self.levels) - i
        return out

    @property
    def names(self) -> dict[int, str]:
        return {code: name for name, code in self.codes.items()}

    @property
    def exact_code(self) -> int | None:
        return self.codes.get("exact")

    def level_sql(self) -> str:
        """CASE expression giving the level code of a pair."""
        whens = " ".join(f"WHEN {lvl.sql} THEN {self.codes[lvl.name]}" for lvl in self.levels)
        return f"CAST(CASE WHEN {self.null_sql} THEN -1 {whens} ELSE 0 END AS TINYINT)"


def _either_null(*cols: str) -> str:
    return " OR ".join(f"l.{c} IS NULL OR r.{c} IS NULL" for c in cols)


def _jw(col: str) -> str:
    return f"jaro_winkler_similarity(l.{col}, r.{col})"


def _dl(col: str) -> str:
    return f"damerau_levenshtein(l.{col}, r.{col})"


def _one_edit(col: str) -> str:
    """At most one edit; a single edit of a string of 3+ characters keeps its first or its last
    character, a cheap test that spares Damerau-Levenshtein on nearly every random pair."""
    return (f"(left(l.{col}, 1) = left(r.{col}, 1) OR right(l.{col}, 1) = right(r.{col}, 1) "
            f"OR length(l.{col}) < 3) AND {_dl(col)} <= 1")


def name_comparison(name: str, col: str, other: str | None) -> Comparison:
    """A first or last name key: exact (tf), swapped with the other name, fuzzy bands, initial.

    `other` is the other name column (last for first): a record with first and last name written
    the wrong way round agrees on `swapped` in both comparisons.
    """
    levels = [Level("exact", f"l.{col} = r.{col}")]
    if other:
        levels.append(Level("swapped", f"l.{col} = r.{other} AND l.{other} = r.{col}"))
    levels += [
        Level("jaro_winkler_0.92", f"{_jw(col)} >= 0.92"),
        # one surname of a Spanish double surname, or a middle name dropped
        # (only names of several words can be a strict subset: the cheap test spares the lists)
        Level("token_subset", f"(contains(l.{col}, ' ') OR contains(r.{col}, ' ')) AND "
                              f"(list_has_all(string_split(l.{col}, ' '), string_split(r.{col}, ' ')) "
                              f"OR list_has_all(string_split(r.{col}, ' '), string_split(l.{col}, ' ')))"),
        Level("jaro_winkler_0.80", f"{_jw(col)} >= 0.80"),
        Level("initial", f"left(l.{col}, 1) = left(r.{col}, 1) AND (length(l.{col}) = 1 OR length(r.{col}) = 1)"),
    ]
    return Comparison(name, name, (col,) + ((other,) if other else ()), _either_null(col), tuple(levels),
                      tf_column=col, description="name key (accents, case and titles removed)")


def birth_date_comparison(col: str) -> Comparison:
    """Birth dates: exact, day and month transposed, one typed digit off, two of three parts equal.

    `one_edit` reads `<col>_digits` (YYYYMMDD, made once per signature): one edit of 8 digits
    leaves the first or the last three intact, a cheap test before Damerau-Levenshtein.
    """
    d = f"{col}_digits"
    return Comparison(
        "birth_date", "birth_date", (col,), _either_null(col),
        (
            Level("exact", f"l.{col} = r.{col}"),
            Level("day_month_transposed", f"day(l.{col}) = month(r.{col}) AND month(l.{col}) = day(r.{col}) "
                                          f"AND year(l.{col}) = year(r.{col})"),
            Level("one_edit", f"(left(l.{d}, 3) = left(r.{d}, 3) OR right(l.{d}, 3) = right(r.{d}, 3)) "
                              f"AND damerau_levenshtein(l.{d}, r.{d}) <= 1"),
            Level("two_parts_equal",
                  f"(CAST(year(l.{col}) = year(r.{col}) AS INT) + CAST(month(l.{col}) = month(r.{col}) AS INT) "
                  f"+ CAST(day(l.{col}) = day(r.{col}) AS INT)) = 2"),
            Level("year_within_1", f"abs(year(l.{col}) - year(r.{col})) <= 1"),
        ),
        tf_column=None, description="date of birth",
    )


def identifier_comparison(name: str, kind: str, col: str) -> Comparison:
    """National ids and other ids: exact (tf), one or two typing edits."""
    return Comparison(
        name, kind, (col,), _either_null(col),
        (
            Level("exact", f"l.{col} = r.{col}"),
            Level("one_edit", _one_edit(col)),
            Level("two_edits", f"abs(length(l.{col}) - length(r.{col})) <= 2 AND {_dl(col)} <= 2"),
        ),
        tf_column=col, description="identifier (typing errors allowed)",
    )


def _lines_swapped(line1: str, line2: str) -> str:
    """The two address lines written the other way round (a building or estate name typed in the
    street's line, the street in the second): each side's first line close to the other's second.
    `line1` is the first line keyed as the second is (`street_line`, folded words, nothing
    dropped): the street key drops a unit and the house number and expands abbreviations ("Villa 2"
    -> "villa"), so it would not resemble the same line written as text in the other record."""
    return (f"jaro_winkler_similarity(l.{line1}, r.{line2}) >= 0.88 "
            f"AND jaro_winkler_similarity(r.{line1}, l.{line2}) >= 0.88")


def street_comparison(street: str, house: str | None, lines: tuple[str, str] | None = None) -> Comparison:
    """Street name (+ house number): the same home, the same street, a similar street; with `lines`
    (the first address line as text, the second), the two lines swapped."""
    same_number = f"l.{house} IS NOT DISTINCT FROM r.{house}" if house else "TRUE"
    levels = [
        Level("exact", f"l.{street} = r.{street} AND {same_number}"),
        Level("similar_street_same_number", f"{_jw(street)} >= 0.88 AND {same_number}"
              + (f" AND l.{house} IS NOT NULL" if house else "")),
    ]
    if lines:
        levels.append(Level("lines_swapped", _lines_swapped(*lines)))
    levels += [
        Level("same_street", f"l.{street} = r.{street}"),
        Level("similar_street", f"{_jw(street)} >= 0.88"),
    ]
    return Comparison("street", "street", (street, *((house,) if house else ()), *(lines or ())),
                      _either_null(street), tuple(levels), tf_column=street,
                      description="street key and house number")


def locality_comparison(postcode: str | None, city: str | None, region: str | None) -> Comparison:
    """Where a record lives, above the street: postcode, city and region as one comparison.

    They say the same thing three times: as three comparisons a shared postcode, city and region
    scored +27 bits and linked neighbours whose surnames differ (1,066 of 1,341 wrong links at
    200k generated customers). Levels, strictest first, use whichever of the columns exist.
    """
    cols = [c for c in (postcode, city, region) if c]
    comparable = " OR ".join(f"(l.{c} IS NOT NULL AND r.{c} IS NOT NULL)" for c in cols)
    levels: list[Level] = []
    if postcode and city:
        levels.append(Level("exact", f"l.{postcode} = r.{postcode} AND l.{city} = r.{city}"))
        levels.append(Level("same_postcode", f"l.{postcode} = r.{postcode}"))
    elif postcode:
        levels.append(Level("exact", f"l.{postcode} = r.{postcode}"))
    if postcode:
        one = f"length(l.{postcode}) = length(r.{postcode}) AND {_one_edit(postcode)}"
        levels.append(Level("postcode_one_edit", one))
    if city:
        # "exact" always involves the postcode: a city alone is never a full address
        levels.append(Level("same_city", f"l.{city} = r.{city}"))
        levels.append(Level("similar_city", f"{_jw(city)} >= 0.88"))
    if postcode:
        levels.append(Level("same_postcode_prefix_3",
                            f"length(l.{postcode}) >= 4 AND left(l.{postcode}, 3) = left(r.{postcode}, 3)"))
    if region:
        levels.append(Level("same_region", f"l.{region} = r.{region}"))
    return Comparison("locality", "locality", tuple(cols), f"NOT ({comparable})", tuple(levels),
                      tf_column=postcode, description="postcode, city and region")


def exact_comparison(name: str, kind: str, col: str, tf: bool = True) -> Comparison:
    """Region, country, gender: the same value or not."""
    return Comparison(name, kind, (col,), _either_null(col), (Level("exact", f"l.{col} = r.{col}"),),
                      tf_column=col if tf else None, description="exact value")


def text_comparison(name: str, col: str, kind: str = "text", lines: tuple[str, str] | None = None) -> Comparison:
    """Free text (an occupation, an address line): exact (tf), most words shared, a close spelling.

    `lines` (a second address line: the first as text, and `col`) adds the level "lines_swapped"
    after exact, so that the two lines written the other way round agree here as in the street."""
    tokens = lambda side: f"list_distinct(string_split({side}.{col}, ' '))"  # noqa: E731
    jaccard = (f"len(list_intersect({tokens('l')}, {tokens('r')})) / "
               f"greatest(len(list_distinct(list_concat({tokens('l')}, {tokens('r')}))), 1)")
    levels = [Level("exact", f"l.{col} = r.{col}")]
    if lines:
        levels.append(Level("lines_swapped", _lines_swapped(*lines)))
    levels += [
        # most words shared implies the first word of one side appears in the other
        Level("token_set_0.8", f"(contains(r.{col}, split_part(l.{col}, ' ', 1)) OR "
                               f"contains(l.{col}, split_part(r.{col}, ' ', 1))) AND {jaccard} >= 0.8"),
        Level("jaro_winkler_0.88", f"{_jw(col)} >= 0.88"),
    ]
    return Comparison(name, kind, (col, *(lines[:1] if lines else ())), _either_null(col), tuple(levels), tf_column=col,
                      description="free text (lower case, accents removed)")


def email_comparison(col: str = "email") -> Comparison:
    """Emails: exact (tf), a typing slip, the same local part at another domain.

    The typo level is one edit or transposition, not at the first letter and not in a separator
    or digit: namesakes' addresses differ by exactly such a separator or initial
    (maria_garcia / mariagarcia), which random pairs never show, so a looser level fused
    namesakes (measured on generated data at 1M records: ~100 wrong per real typo found).
    """
    return Comparison(
        "email", "email", (col,), _either_null(col),
        (
            Level("exact", f"l.{col} = r.{col}"),
            Level("typo", f"left(l.{col}, 1) = left(r.{col}, 1) AND l.email_digits = r.email_digits "
                          f"AND l.email_squashed <> r.email_squashed "
                          f"AND abs(length(l.{col}) - length(r.{col})) <= 1 AND {_dl(col)} <= 1"),
            Level("same_local_part", "l.email_local = r.email_local"),
        ),
        tf_column=col, description="canonical email (Gmail dots and +tags removed)",
    )


def phone_comparison(col: str = "phone") -> Comparison:
    return Comparison(
        "phone", "phone", (col,), _either_null(col),
        (Level("exact", f"l.{col} = r.{col}"), Level("same_last_7_digits", f"right(l.{col}, 7) = right(r.{col}, 7)")),
        tf_column=col, description="E.164 phone",
    )


# Signature columns (as written by the normalizers) -> how they are compared. `text__*` and `id__*`
# columns (one per mapped column of kind text / id) get a comparison each; `street_line` (the first
# address line as text, beside a second one) only serves the lines_swapped levels.
NAMED_COLUMNS = (
    "first_name_key", "last_name_key", "birth_date", "email", "phone", "national_id", "street",
    "house_number", "address_line_2", "street_line", "postcode", "city", "region", "country", "gender",
)


def comparisons_for(columns: list[str] | tuple[str, ...]) -> tuple[Comparison, ...]:
    """The comparisons that apply to the signature columns present (each with some value)."""
    present = set(columns)
    out: list[Comparison] = []
    has_first, has_last = "first_name_key" in present, "last_name_key" in present
    if has_first:
        out.append(name_comparison("first_name", "first_name_key", "last_name_key" if has_last else None))
    if has_last:
        out.append(name_comparison("last_name", "last_name_key", "first_name_key" if has_first else None))
    if "birth_date" in present:
        out.append(birth_date_comparison("birth_date"))
    if "email" in present:
        out.append(email_comparison("email"))
    if "phone" in present:
        out.append(phone_comparison("phone"))
    if "national_id" in present:
        out.append(identifier_comparison("national_id", "national_id", "national_id"))
    for col in sorted(c for c in present if c.startswith("id__")):
        out.append(identifier_comparison(col, "id", col))
    # a second address line beside the first (as text): the two can be written the other way round
    lines = ("street_line", "address_line_2") if {"street_line", "address_line_2"} <= present else None
    if "street" in present:
        out.append(street_comparison("street", "house_number" if "house_number" in present else None, lines))
    elif "house_number" in present:
        out.append(exact_comparison("house_number", "house_number", "house_number", tf=False))
    if "address_line_2" in present:
        out.append(text_comparison("address_line_2", "address_line_2", kind="address_line_2", lines=lines))
    if present & {"postcode", "city", "region"}:
        out.append(locality_comparison(*(c if c in present else None for c in ("postcode", "city", "region"))))
    if "country" in present:
        out.append(exact_comparison("country", "country", "country"))
    if "gender" in present:
        out.append(exact_comparison("gender", "gender", "gender", tf=False))
    for col in sorted(c for c in present if c.startswith("text__")):
        out.append(text_comparison(col, col))
    return tuple(out)


def comparison_columns(comparisons: tuple[Comparison, ...]) -> list[str]:
    cols: list[str] = []
    for comp in comparisons:
        for col in comp.columns:
            if col not in cols:
                cols.append(col)
    return cols
