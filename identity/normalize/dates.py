"""Birth dates from the formats people and systems write, vectorized with Polars string ops."""
from __future__ import annotations

import datetime as dt

import polars as pl

# Month names in English, Spanish and Indonesian (folded), incl. common abbreviations.
MONTHS: dict[str, int] = {}
for number, names in enumerate(
    [
        ("january", "jan", "enero", "ene", "januari"),
        ("february", "feb", "febrero", "febr", "februari", "peb", "pebruari"),
        ("march", "mar", "marzo", "maret"),
        ("april", "apr", "abril", "abr"),
        ("may", "mayo", "mei", "my"),
        ("june", "jun", "junio", "juni"),
        ("july", "jul", "julio", "juli"),
        ("august", "aug", "agosto", "ago", "agustus", "agt", "agu"),
        ("september", "sep", "sept", "septiembre", "setiembre", "set"),
        ("october", "oct", "octubre", "oktober", "okt"),
        ("november", "nov", "noviembre", "nop", "nopember"),
        ("december", "dec", "diciembre", "dic", "desember", "des"),
    ],
    start=1,
):
    for name in names:
        MONTHS[name] = number

_EARLIEST = dt.date(1900, 1, 1)


def parse_birth_date(
    s: pl.Series, month_first: pl.Series | bool = False, today: dt.date | None = None
) -> pl.Series:
    """A Date series; unparseable or impossible dates (31/02, before 1900, in the future) -> null.

    Accepted: `1990-04-23`, `1990/04/23`, `1990-04-23T00:00:00Z`, `23/04/1990`, `23-04-1990`,
    `23.04.1990`, `04/23/1990`, `April 23, 1990`, `23 April 1990`, `23 de abril de 1990`,
    `19900423`. A numeric day/month pair is read day-first (Spain, Mexico, Indonesia) unless
    `month_first` is true for the row (US records); a part above 12 settles it either way.
    """
    today = today or dt.date.today()
    n = s.len()
    if isinstance(month_first, pl.Series):
        mf = month_first.cast(pl.Boolean).fill_null(False).rename("mf")
    else:
        mf = pl.Series("mf", [bool(month_first)] * n, dtype=pl.Boolean)
    rows = pl.DataFrame({"raw": s.cast(pl.String), "mf": mf})
    # The regexes run once per distinct (text, reading order), not once per row.
    distinct = rows.filter(pl.col("raw").is_not_null()).unique()
    parsed = _parse_distinct(distinct, today)
    return (
        rows.join(parsed, on=["raw", "mf"], how="left", maintain_order="left")
        .get_column("d").rename(s.name)
    )


def _parse_distinct(distinct: pl.DataFrame, today: dt.date) -> pl.DataFrame:
    """Columns raw, mf, d for distinct (raw, mf) rows."""
    text = (
        distinct.get_column("raw").str.strip_chars().str.to_lowercase()
        .str.replace_all(r"[ÁáÀà]", "a").str.replace_all(r"[Éé]", "e").str.replace_all(r"[Íí]", "i")
        .str.replace_all(r"[Óó]", "o").str.replace_all(r"[Úú]", "u")
    )
    frame = pl.DataFrame({"t": text, "mf": distinct.get_column("mf")})
    t = pl.col("t")
    iso = t.str.extract_groups(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ t].*)?$")
    compact = t.str.extract_groups(r"^(\d{4})(\d{2})(\d{2})$")
    numeric = t.str.extract_groups(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
    month_day_year = t.str.extract_groups(r"^([a-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})$")
    day_month_year = t.str.extract_groups(
        r"^(\d{1,2})(?:st|nd|rd|th)?(?:\s+de)?[\s-]+([a-z]+)\.?,?(?:\s+de(?:l)?)?[\s-]+(\d{4})$"
    )
    month_lookup = lambda e: e.replace_strict(MONTHS, default=None, return_dtype=pl.Int32)  # noqa: E731
    a = numeric.struct.field("1").cast(pl.Int32)
    b = numeric.struct.field("2").cast(pl.Int32)
    numeric_month_first = (pl.col("mf") & (a <= 12)) | (b > 12)
    parts = frame.select(
        year=pl.coalesce(
            iso.struct.field("1"), compact.struct.field("1"), numeric.struct.field("3"),
            month_day_year.struct.field("3"), day_month_year.struct.field("3"),
        ).cast(pl.Int32),
        month=pl.coalesce(
            iso.struct.field("2").cast(pl.Int32), compact.struct.field("2").cast(pl.Int32),
            pl.when(numeric_month_first).then(a).otherwise(b),
            month_lookup(month_day_year.struct.field("1")),
            month_lookup(day_month_year.struct.field("2")),
        ),
        day=pl.coalesce(
            iso.struct.field("3").cast(pl.Int32), compact.struct.field("3").cast(pl.Int32),
            pl.when(numeric_month_first).then(b).otherwise(a),
            month_day_year.struct.field("2").cast(pl.Int32),
            day_month_year.struct.field("1").cast(pl.Int32),
        ),
    )
    # Build the text form and let the strict=False parser reject impossible calendar dates.
    as_text = pl.format(
        "{}-{}-{}",
        pl.col("year").cast(pl.String).str.zfill(4),
        pl.col("month").cast(pl.String).str.zfill(2),
        pl.col("day").cast(pl.String).str.zfill(2),
    )
    dates = parts.select(
        pl.when(pl.col("month").is_between(1, 12) & pl.col("day").is_between(1, 31))
        .then(as_text).otherwise(None)
        .str.to_date("%Y-%m-%d", strict=False)
        .alias("d")
    ).to_series()
    valid = dates.is_between(_EARLIEST, today)
    return distinct.with_columns(d=pl.when(valid).then(dates).otherwise(None))
