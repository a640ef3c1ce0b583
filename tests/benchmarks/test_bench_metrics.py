"""benchmarks/_metrics.py: a child's wall time and peak memory, descriptors, scoring."""
import sys
from pathlib import Path

import polars as pl
import yaml

sys.path.append(str(Path(__file__).resolve().parents[2] / "benchmarks"))
import _metrics  # noqa: E402


def test_peak_rss_of_a_child_and_its_children():
    # the child allocates ~150 MB, and its own child another ~150 MB at the same time
    code = ("import subprocess, sys, time; a = bytearray(150 * 2**20); "
            "subprocess.run([sys.executable, '-c', 'import time; b = bytearray(150 * 2**20); time.sleep(0.6)'])")
    run = _metrics.run_measured([sys.executable, "-c", code], timeout=60)
    assert run["returncode"] == 0
    assert 150 <= run["maxrss_mb"] < 400          # the kernel's figure: the largest single process
    assert run["tree_peak_mb"] >= 290             # both at once, sampled
    assert run["peak_rss_mb"] == max(run["maxrss_mb"], run["tree_peak_mb"])


def test_timeout_stops_the_child():
    run = _metrics.run_measured([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert run["timed_out"] and run["wall_s"] < 10


def test_descriptors_round_trip_and_score(tmp_path):
    files = _metrics.DatasetFiles(name="t", folder=tmp_path, id_column="id",
                                  attributes={"fn": "first_name", "dob": "dob"}, default_region="ES")
    files.write_descriptors()
    assert yaml.safe_load(files.mapping.read_text()) == {
        "id": "id", "attributes": {"fn": "first_name", "dob": "dob"}, "default_region": "ES"}
    assert _metrics.DatasetFiles.read(tmp_path) == files
    pl.DataFrame({"record_id": ["a", "b", "c"], "person_id": ["1", "1", "2"]}).write_parquet(files.truth)
    m = _metrics.score(pl.DataFrame({"record_id": ["a", "b", "c"], "customer_id": ["x", "y", "y"]}), files.truth)
    assert (m["precision"], m["recall"]) == (0.0, 0.0)
    m = _metrics.score(pl.DataFrame({"record_id": ["a", "b", "c"], "customer_id": ["x", "x", "y"]}), files.truth)
    assert m["f1"] == 1.0
