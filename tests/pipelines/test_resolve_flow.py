"""The resolve flow is a thin recipe: it runs identity.resolve and returns its summary."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "identity"))
from synthetic import synthesize  # noqa: E402

from warehouse.connection import connect_home  # noqa: E402


def test_resolve_flow_full_then_incremental(prefect_harness, tmp_path):
    from pipelines.flows.resolve import resolve_flow

    staging, _ = synthesize(40, seed=3)
    con = connect_home(tmp_path)
    con.register("_s", staging.to_arrow())
    con.execute("CREATE TABLE staging.customer_records AS SELECT * FROM _s")
    con.close()
    first = resolve_flow(str(tmp_path), full=True)
    assert first["mode"] == "full" and first["records"] == staging.height
    assert first["customers"] > 0 and first["deterministic_edges"] > 0
    again = resolve_flow(str(tmp_path))
    assert again["mode"] == "incremental" and again["new_records"] == 0
    assert again["customers"] == first["customers"]
