"""Deduplicate any CSV/Parquet of person records: `cdp resolve-file INPUT --mapping M.yaml --out OUT`.

The mapping names the record id column and the kind of each attribute column; columns are read as
text (leading zeros kept), normalized with the same functions as the pipeline, and resolved with
the same engine: exact identifiers (email, phone, id kinds) as deterministic links under merge
protection, the rest by Fellegi-Sunter matching whose m/u are trained on the file itself (EM, no
labels).
"""
from __future__ import annotations

from pathlib import Path

import polars as pl
import yaml

from config.identity import IdentitySettings, load_identity_settings
from identity.engine import run_engine
from identity.normalize import (
    city_key, name_key, normalize_country, normalize_email, normalize_phone, normalize_postcode,
    normalize_street, parse_birth_date, split_full_name,
)
from identity.stable_ids import hashed_id

KINDS = (
    "email", "phone", "first_name", "last_name", "full_name", "dob", "gender", "house_number",
    "street", "city", "postcode", "region", "country", "national_id", "id", "text",
)
# Kinds read but not (yet) compared: kept so a mapping can describe the whole file.
UNCOMPARED_KINDS = ("gender", "region", "text")


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
    empty = pl.Series([None] * n, dtype=pl.Utf8)
    out = {"source": pl.Series(["file"] * n), "record_id": ids}
    country = _first_of(frame, attrs, "country")
    country = normalize_country(country) if country is not None else empty
    out["country"] = country
    region = country.fill_null(mapping["default_region"]) if mapping["default_region"] else country
    email = _first_of(frame, attrs, "email")
    out["email"] = normalize_email(email)["email"] if email is not None else empty
    phone = _first_of(frame, attrs, "phone")
    out["phone"] = normalize_phone(phone, region)["phone"] if phone is not None else empty
    first, last, full = (_first_of(frame, attrs, k) for k in ("first_name", "last_name", "full_name"))
    if full is not None:
        split = split_full_name(full)
        first = split["first_name"] if first is None else first.fill_null(split["first_name"])
        last = split["last_name"] if last is None else last.fill_null(split["last_name"])
    out["first_name_key"] = name_key(first) if first is not None else empty
    out["last_name_key"] = name_key(last) if last is not None else empty
    dob = _first_of(frame, attrs, "dob")
    month_first = (region == "US").fill_null(False)  # US files write 04/23/1990
    out["birth_date"] = parse_birth_date(dob, month_first) if dob is not None else pl.Series([None] * n, dtype=pl.Date)
    street = _first_of(frame, attrs, "street")
    if street is not None:
        st = normalize_street(street)
        out["street"], out["house_number"] = st["street"], st["house_number"]
    else:
        out["street"], out["house_number"] = empty, empty
    house = _first_of(frame, attrs, "house_number")
    if house is not None:
        out["house_number"] = house.fill_null(out["house_number"])
    city = _first_of(frame, attrs, "city")
    out["city"] = city_key(city) if city is not None else empty
    postcode = _first_of(frame, attrs, "postcode")
    out["postcode"] = normalize_postcode(postcode) if postcode is not None else empty
    # exact identifiers: a national id is one per person (user_id semantics: at most one per
    # customer); generic ids link like an order id (no limit)
    national = _first_of(frame, attrs, "national_id")
    out["user_id"] = national if national is not None else empty
    generic = [c for c, k in attrs.items() if k == "id"]
    out["order_id"] = (
        frame.select(pl.concat_str([pl.lit(c + ":"), pl.col(c)]) if len(generic) == 1 else
                     pl.coalesce([pl.concat_str([pl.lit(c + ":"), pl.col(c)]) for c in generic])).to_series()
        if generic else empty
    )
    records = pl.DataFrame({k: v.rename(k) for k, v in out.items()})
    return records.with_row_index("rec").with_columns(pl.col("rec").cast(pl.UInt32))


def resolve_file(
    input_path: Path, mapping_path: Path, out_path: Path, settings: IdentitySettings | None = None
) -> dict:
    """Resolve a file of person records; write OUT.parquet (record_id, customer_id, match_probability)."""
    settings = settings or load_identity_settings()
    frame = read_input(input_path)
    mapping = load_mapping(mapping_path, frame.columns)
    records = to_records(frame, mapping)
    result = run_engine(records, settings)
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
    ignored = sorted({k for k in mapping["attributes"].values() if k in UNCOMPARED_KINDS})
    return {"records": out.height, "customers": out["customer_id"].n_unique(),
            "deterministic_edges": result.deterministic_edges.height,
            "probabilistic_edges": pe.height, "rejected_edges": result.rejected.height,
            "kinds_not_compared": ignored, "out": str(out_path)}
