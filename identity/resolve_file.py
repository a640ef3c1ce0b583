"""Deduplicate any CSV/Parquet of person records: `cdp resolve-file INPUT --mapping M.yaml --out OUT`.

The mapping names the record id column and the kind of each attribute column. Columns are read as
text (leading zeros kept), laid out as staging records and normalized by the pipeline's own
`normalize_frame` (one normalization for files and the warehouse), then resolved by the same
engine: exact identifiers (email, phone, national id, id columns) as deterministic links under
merge protection, everything else by Fellegi-Sunter matching trained on the file itself (EM, no
labels). Every kind a mapping can name is compared (identity/comparisons.py).
"""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import yaml

from config.identity import IdentitySettings, load_identity_settings
from identity.engine import run_engine
from identity.parallel_normalize import normalize_groups
from identity.normalize._text import clean, fold
from identity.normalize._text import map_distinct
from identity.stable_ids import hashed_id

KINDS = (
    "email", "phone", "first_name", "last_name", "full_name", "dob", "gender", "house_number",
    "street", "address_line_2", "city", "postcode", "region", "country", "national_id", "id", "text",
)
# mapping kind -> the staging column normalize_frame reads
_STAGING_COLUMN = {
    "email": "email", "phone": "phone", "first_name": "first_name", "last_name": "last_name",
    "full_name": "full_name", "dob": "birth_date", "street": "street", "city": "city",
    "postcode": "postcode", "region": "region", "country": "country",
}
# words a gender column is written with, in the languages of our customers
_GENDER = {"m": "m", "male": "m", "man": "m", "hombre": "m", "h": "m", "masculino": "m", "pria": "m",
           "laki-laki": "m", "l": "m", "f": "f", "female": "f", "woman": "f", "mujer": "f",
           "femenino": "f", "wanita": "f", "perempuan": "f", "p": "f", "w": "f"}


class MappingError(ValueError):
    pass


def load_mapping(path: Path, columns: list[str]) -> dict:
    """Validate the mapping against the file's columns; every problem is listed at once."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"mapping file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML: {exc}") from None
    problems = []
    if not isinstance(data, dict):
        raise MappingError(f"{path}: the mapping must be a YAML mapping with keys id, attributes")
    unknown_keys = set(data) - {"id", "attributes", "default_region"}
    if unknown_keys:
        problems.append(f"unknown key(s) {sorted(unknown_keys)}; allowed: id, attributes, default_region")
    id_col = data.get("id")
    if not id_col:
        problems.append("missing `id: COLUMN` (the record id column)")
    elif id_col not in columns:
        problems.append(f"id column {id_col!r} is not in the file (columns: {', '.join(columns)})")
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict) or not attributes:
        problems.append("`attributes` must map at least one COLUMN to a KIND")
        attributes = {}
    for col, kind in attributes.items():
        if col not in columns:
            problems.append(f"attributes.{col}: column not in the file (columns: {', '.join(columns)})")
        if kind not in KINDS:
            problems.append(f"attributes.{col}: unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    region = data.get("default_region")
    if region is not None and (not isinstance(region, str) or len(region) != 2):
        problems.append("default_region must be an ISO-3166 alpha-2 code such as ES, MX, ID, US")
    if problems:
        raise MappingError(f"{path}: invalid mapping:\n  " + "\n  ".join(problems))
    return {"id": id_col, "attributes": attributes, "default_region": region}


def read_input(path: Path) -> pl.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame = pl.read_parquet(path)
        return frame.with_columns([pl.col(c).cast(pl.Utf8) for c in frame.columns])
    if suffix in (".csv", ".tsv", ".txt"):
        return pl.read_csv(path, infer_schema=False, separator="\t" if suffix == ".tsv" else ",")
    raise ValueError(f"{path}: unsupported file type {suffix!r}; use .csv, .tsv or .parquet")


def _first_of(frame: pl.DataFrame, attributes: dict, kind: str) -> pl.Series | None:
    cols = [c for c, k in attributes.items() if k == kind]
    if not cols:
        return None
    return frame.select(pl.coalesce([pl.col(c).str.strip_chars().replace("", None) for c in cols])).to_series()


def _column_key(col: str) -> str:
    return re.sub(r"\W+", "_", fold(col)).strip("_") or "col"


def _text_key(s: pl.Series) -> pl.Series:
    return map_distinct(clean(s), lambda v: " ".join(re.findall(r"\w+", fold(v))) or None, pl.Utf8)


def to_records(frame: pl.DataFrame, mapping: dict) -> pl.DataFrame:
    """The file's rows as normalized records (the engine's columns) with rec = 0..n-1."""
    attrs = mapping["attributes"]
    n = frame.height
    ids = frame.get_column(mapping["id"]).cast(pl.Utf8)
    if ids.null_count():
        bad = frame.with_row_index("line").filter(pl.col(mapping["id"]).is_null())["line"][0] + 2
        raise MappingError(f"id column {mapping['id']!r} is empty on line {bad}: every record needs an id")
    if ids.is_duplicated().any():
        dup = ids.filter(ids.is_duplicated())[0]
        raise MappingError(f"id column {mapping['id']!r} is not unique (e.g. {dup!r} repeats)")
    staging = {"source": pl.Series(["file"] * n), "record_id": ids}
    for kind, column in _STAGING_COLUMN.items():
        value = _first_of(frame, attrs, kind)
        if value is not None:
            staging[column] = value
    staged = pl.DataFrame({k: v.rename(k) for k, v in staging.items()})
    # every core on large files; rows come back in the file's order
    records = staged.select("record_id").join(
        normalize_groups([(staged, mapping["default_region"])]), on="record_id", how="left", maintain_order="left")
    extra = []
    house = _first_of(frame, attrs, "house_number")
    if house is not None:
        extra.append(clean(house).str.to_lowercase().fill_null(records["house_number"]).alias("house_number"))
    gender = _first_of(frame, attrs, "gender")
    if gender is not None:
        extra.append(clean(gender).str.to_lowercase().replace_strict(_GENDER, default=None).alias("gender"))
    national = _first_of(frame, attrs, "national_id")
    if national is not None:
        extra.append(clean(national).str.to_uppercase().str.replace_all(r"[^0-9A-Z]", "")
                     .replace("", None).alias("national_id"))
    id_cols = [c for c, k in attrs.items() if k == "id"]
    for col in id_cols:
        extra.append(clean(frame.get_column(col).cast(pl.Utf8)).alias(f"id__{_column_key(col)}"))
    if id_cols:
        # the deterministic graph links records sharing any id column's value
        extra.append(frame.select(pl.coalesce([pl.concat_str([pl.lit(c + ":"), clean(frame[c].cast(pl.Utf8))])
                                               for c in id_cols])).to_series().alias("external_id"))
    line2 = _first_of(frame, attrs, "address_line_2")
    if line2 is not None:
        # as free text, whole: the street key drops a unit ("Piso 3"), which is what a line 2 holds;
        # the first line keyed the same way, to find the two written the other way round
        extra.append(_text_key(line2.cast(pl.Utf8)).alias("address_line_2"))
        if "street" in staging:
            extra.append(_text_key(staging["street"]).alias("street_line"))
    for col in (c for c, k in attrs.items() if k == "text"):
        extra.append(_text_key(frame.get_column(col).cast(pl.Utf8)).alias(f"text__{_column_key(col)}"))
    records = records.with_columns(extra) if extra else records
    return records.with_row_index("rec").with_columns(pl.col("rec").cast(pl.UInt32))


def resolve_file(
    input_path: Path, mapping_path: Path, out_path: Path, settings: IdentitySettings | None = None
) -> dict:
    """Resolve a file of person records; write OUT.parquet (record_id, customer_id, match_probability)."""
    settings = settings or load_identity_settings()
    frame = read_input(input_path)
    mapping = load_mapping(mapping_path, frame.columns)
    records = to_records(frame, mapping)
    del frame  # the raw text columns are not needed past normalization (about 1 GB at 1M records)
    # only the file's own identifier kinds link by themselves (see file_identifiers in identity.yaml)
    kept = [t for t in settings.deterministic.priority if t in settings.file_identifiers]
    settings = settings.model_copy(update={"deterministic": settings.deterministic.model_copy(
        update={"max_names_per_value": settings.file_max_names_per_value})})
    result = run_engine(records, settings, m_training="em", link_types=kept)
    labels = pl.Series("cluster", result.labels).cast(pl.Int64)
    assignment = records.select("source", "record_id").with_columns(labels)
    seeds = assignment.sort("record_id").group_by("cluster", maintain_order=True).agg(
        pl.col("record_id").first().alias("seed"))
    seeds = seeds.with_columns(
        pl.col("seed").map_elements(lambda r: hashed_id("file", r), return_dtype=pl.Utf8).alias("customer_id"))
    pe = result.probabilistic_edges
    best = pl.concat([
        pe.select(pl.col("rec_left").alias("rec"), "match_probability"),
        pe.select(pl.col("rec_right").alias("rec"), "match_probability"),
    ]).group_by("rec").agg(pl.col("match_probability").max())
    out = (
        records.select("rec", "record_id").with_columns(labels)
        .join(seeds.select("cluster", "customer_id"), on="cluster")
        .join(best.with_columns(pl.col("rec").cast(pl.UInt32)), on="rec", how="left")
        .sort("rec")
        .select("record_id", "customer_id", "match_probability")
    )
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    out.write_parquet(tmp)
    tmp.replace(out_path)
    return {"records": out.height, "customers": out["customer_id"].n_unique(),
            "deterministic_edges": result.deterministic_edges.height,
            "probabilistic_edges": pe.height, "rejected_edges": result.rejected.height,
            "comparisons": [c.name for c in result.comparisons], "guards": result.guards,
            "model": result.model.describe() if result.model else None,
            "stats": {k: v for k, v in result.stats.items() if k != "blocking_rules"},
            "blocking_rules": result.stats.get("blocking_rules", []),
            "step_seconds": {k: round(v, 3) for k, v in result.steps.items()}, "out": str(out_path)}
