"""Quality on the project's generated sample (400 customers, seed 7), ingested by the connectors."""
import polars as pl

from identity_helpers import home_record_map
from identity import resolve
from identity.evaluation import evaluate
from warehouse.connection import connect_home


def test_generated_sample_f1_and_no_fusion_through_placeholders_or_shared_devices(generated_copy):
    src, home = generated_copy
    resolve(home, mode="full")
    truth = pl.read_parquet(src / "truth.parquet")
    metrics = evaluate(home_record_map(home), truth)
    assert metrics["f1"] >= 0.98, metrics
    assert metrics["fused_customers"] <= 2, metrics
    con = connect_home(home, read_only=True)
    try:
        # no customer carries two account ids: the shared family tablet fused nobody
        assert con.execute("""
            SELECT max(n) FROM (SELECT customer_id, count(DISTINCT user_id) AS n
            FROM identity.record_map JOIN identity.normalized_records USING (source, record_id) GROUP BY 1)
        """).fetchall()[0][0] == 1
        fused_by_placeholder = con.execute("""
            SELECT count(*) FROM identity.edges e
            JOIN identity.rejected_edges r USING (left_source, left_record_id, right_source, right_record_id)
            WHERE r.reason = 'blocked_value'
        """).fetchall()[0][0]
        assert fused_by_placeholder == 0
    finally:
        con.close()
    # placeholder test traffic (truth person null) never joins a real person's customer
    nobody = truth.filter(pl.col("person_id").is_null()).select("source", "record_id")
    rm = home_record_map(home)
    their = rm.join(nobody, on=["source", "record_id"])["customer_id"]
    with_people = rm.filter(pl.col("customer_id").is_in(their.implode())).join(
        truth.filter(pl.col("person_id").is_not_null()), on=["source", "record_id"])
    assert with_people.height == 0
