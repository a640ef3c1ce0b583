"""Scoring in parts (what a Dask worker runs) gives the one-session scoring's pairs, weights and customers."""
from __future__ import annotations

import pickle
import shutil

from identity import resolve
from warehouse.connection import connect_home

RESULTS = {
    "record_map": "SELECT source, record_id, customer_id FROM identity.record_map ORDER BY ALL",
    "edges": "SELECT left_source, left_record_id, right_source, right_record_id, edge_kind, identifier_type, "
             "match_weight FROM identity.edges ORDER BY ALL",
    "comparisons": "SELECT * EXCLUDE (run_id) FROM identity.edge_comparisons ORDER BY ALL",
    "histogram": "SELECT bin_low, bin_high, pairs FROM identity.match_weight_histogram ORDER BY ALL",
    "rejected": "SELECT * EXCLUDE (run_id) FROM identity.rejected_edges ORDER BY ALL",
}


def _results(home) -> dict[str, list]:
    con = connect_home(home, read_only=True)
    try:
        return {name: con.execute(sql).fetchall() for name, sql in RESULTS.items()}
    finally:
        con.close()


def test_pairs_scored_in_parts_on_workers_equal_the_one_session_scoring(generated_home, tmp_path):
    _, home = generated_home
    embedded, mapped = tmp_path / "embedded", tmp_path / "mapped"
    for target in (embedded, mapped):
        shutil.copytree(home, target, ignore=shutil.ignore_patterns(".cdp.lock", ".prefect"))
    scoring_parts = []

    def mapper(fn, items):  # what a Dask mapper needs: a picklable function and picklable parts
        pickle.dumps(fn), [pickle.dumps(item) for item in items]
        if fn.__name__ == "run_sql_part":
            scoring_parts.append(len(items))
        return [fn(item) for item in items]

    plain = resolve(embedded, mode="full")
    parted = resolve(mapped, mode="full", map_parts=mapper, parts=3)
    assert scoring_parts == [3]  # the candidate pairs went out in three parts
    assert plain.candidate_pairs > 100 and plain.probabilistic_edges > 0
    assert parted.customers == plain.customers
    a, b = _results(embedded), _results(mapped)
    assert a["histogram"] and sum(r[2] for r in a["histogram"]) == plain.candidate_pairs
    for name in RESULTS:
        assert b[name] == a[name], name
    assert not list((mapped / "_parts").glob("*"))  # the parts' files are removed after the run
