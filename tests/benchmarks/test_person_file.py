"""benchmarks/person_file.py: the flat customer file with known duplicates."""
import hashlib
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

sys.path.append(str(Path(__file__).resolve().parents[2] / "benchmarks"))
import person_file  # noqa: E402

COLUMNS = ["id", "first_name", "last_name", "dob", "email", "phone", "street", "city", "postcode", "country",
           "gender"]


@pytest.fixture(scope="module")
def sample():
    data, truth = person_file.generate(5000, seed=3)
    return data, truth, data.join(truth, left_on="id", right_on="record_id")


def test_same_seed_same_bytes_other_seed_other_file(tmp_path):
    digests = []
    for folder, seed in (("a", 11), ("b", 11), ("c", 12)):
        person_file.write_person_file(tmp_path / folder, records=1500, seed=seed)
        digests.append(hashlib.sha256((tmp_path / folder / "data.csv").read_bytes()).hexdigest())
    assert digests[0] == digests[1] != digests[2]


def test_shape_and_duplicate_share(sample):
    data, truth, joined = sample
    assert data.columns == COLUMNS
    assert data.height == truth.height == 5000 and data["id"].n_unique() == 5000
    persons = truth["person_id"].n_unique()
    assert 0.27 <= (5000 - persons) / 5000 <= 0.33
    per_person = joined.group_by("person_id").len()["len"]
    assert per_person.min() == 1 and per_person.max() == 3


def test_noise_is_there(sample):
    data, _, joined = sample
    assert 0.25 <= data["email"].null_count() / data.height <= 0.35
    assert 0.15 <= data["phone"].null_count() / data.height <= 0.25
    phones = data["phone"].drop_nulls()
    assert phones.str.starts_with("+").any() and (~phones.str.contains(r"^\+")).any()
    dobs = data["dob"].drop_nulls()
    assert dobs.str.contains(r"^\d{4}-\d{2}-\d{2}$").any() and dobs.str.contains(r"^\d{2}/\d{2}/\d{4}$").any()
    assert dobs.str.contains(r"^\d{8}$").any()
    # a duplicate differs from its original in at least one field most of the time
    distinct_rows = joined.drop("id").unique().height
    assert distinct_rows > 0.95 * data.height


def test_households_and_namesakes(sample):
    _, _, joined = sample
    rows = joined.filter(pl.col("last_name").is_not_null() & pl.col("street").is_not_null())
    households = rows.group_by("last_name", "street").agg(pl.col("person_id").n_unique().alias("n"))
    assert households.filter(pl.col("n") > 1).height >= 20
    names = joined.group_by("first_name", "last_name").agg(pl.col("person_id").n_unique().alias("n"))
    assert names.filter(pl.col("n") > 1).height >= 10


def test_full_name_variant_and_descriptors(tmp_path):
    files = person_file.write_person_file(tmp_path, records=800, seed=5, full_name=True)
    data = pl.read_csv(files.csv, infer_schema=False)
    assert "full_name" in data.columns and "first_name" not in data.columns
    mapping = yaml.safe_load(files.mapping.read_text())
    assert mapping["id"] == "id" and mapping["attributes"]["full_name"] == "full_name"
    assert set(mapping["attributes"]) <= set(data.columns)
    truth = pl.read_parquet(files.truth)
    assert truth.height == 800 and set(truth["record_id"]) == set(data["id"])
