"""`cdp resolve-file`: a CSV that never went through the pipeline, with known duplicates."""
import polars as pl
import pytest

from identity.resolve_file import MappingError, resolve_file
from pipelines.cli import main

CSV = """cust_no,nombre,apellidos,correo,movil,nacimiento,cp,pais
0001,José,García López,jose.garcia@gmail.com,612 345 678,1985-04-23,08001,ES
0002,JOSE,Garcia Lopez,josegarcia+news@googlemail.com,+34 612345678,23/04/1985,08001,ES
0003,María,Fernández,maria.f@outlook.es,699111222,1990-01-02,28001,ES
0004,Maria,Fernandez,maria.f@outlook.es,,1990-01-02,28001,ES
0005,María,Fernández,mfernandez@yahoo.es,677000111,1972-09-30,41001,ES
0006,Budi,Santoso,budi.s@gmail.com,0812-3456-7890,,10110,ID
0007,Budi,Santoso,budi.santoso@yahoo.co.id,+62 812 3456 7890,,10110,ID
0008,Test,User,test@test.com,0000000000,,,ES
0009,Otro,Usuario,test@test.com,0000000000,,,ES
"""

MAPPING = """id: cust_no
default_region: ES
attributes:
  nombre: first_name
  apellidos: last_name
  correo: email
  movil: phone
  nacimiento: dob
  cp: postcode
  pais: country
"""


@pytest.fixture
def files(tmp_path):
    (tmp_path / "people.csv").write_text(CSV, encoding="utf-8")
    (tmp_path / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
    return tmp_path


def test_known_duplicates_are_found_and_strangers_kept_apart(files):
    result = resolve_file(files / "people.csv", files / "mapping.yaml", files / "out.parquet")
    out = pl.read_parquet(files / "out.parquet")
    assert out.columns == ["record_id", "customer_id", "match_probability"]
    assert out["record_id"].to_list()[:2] == ["0001", "0002"]        # read as text: zeros kept
    cid = dict(out.select("record_id", "customer_id").iter_rows())
    assert cid["0001"] == cid["0002"]            # Gmail variant + national/international phone
    assert cid["0003"] == cid["0004"]            # same email, accents dropped
    assert cid["0006"] == cid["0007"]            # same phone in Indonesian national format
    assert cid["0005"] != cid["0003"]            # same name, different everything else
    assert cid["0008"] != cid["0009"]            # placeholders link nobody
    assert result["customers"] == 6


def test_mapping_errors_name_the_problem(files):
    (files / "bad.yaml").write_text("id: nope\nattributes:\n  correo: emial\n  missing_col: email\n")
    with pytest.raises(MappingError) as err:
        resolve_file(files / "people.csv", files / "bad.yaml", files / "out.parquet")
    text = str(err.value)
    assert "id column 'nope'" in text and "unknown kind 'emial'" in text and "missing_col" in text


def test_cli_writes_the_output(files, capsys):
    code = main(["resolve-file", str(files / "people.csv"), "--mapping", str(files / "mapping.yaml"),
                 "--out", str(files / "cli.parquet")])
    assert code == 0
    assert pl.read_parquet(files / "cli.parquet").height == 9
    assert "9 records into 6 customers" in capsys.readouterr().out
