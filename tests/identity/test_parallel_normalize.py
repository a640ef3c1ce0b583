"""Normalizing in worker processes gives exactly what one normalize_frame call gives."""
import polars as pl

import identity.parallel_normalize as parallel
from identity.normalize import normalize_frame


def test_parallel_parts_equal_one_call(synthetic_300, monkeypatch):
    staging, _ = synthetic_300
    monkeypatch.setattr(parallel, "PARALLEL_MIN_RECORDS", 10)
    half = staging.height // 2
    got = parallel.normalize_groups([(staging.head(half), None), (staging.tail(staging.height - half), "ES")],
                                    workers=2)
    expected = pl.concat([normalize_frame(staging.head(half)),
                          normalize_frame(staging.tail(staging.height - half), default_region="ES")])
    key = ["source", "record_id"]
    assert got.height == staging.height
    assert got.sort(key).equals(expected.sort(key))


def test_small_input_stays_in_process(synthetic_300, monkeypatch):
    staging, _ = synthetic_300
    monkeypatch.setattr(parallel.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("spawned")))
    assert parallel.normalize_groups([(staging, None)], workers=2).height == staging.height
