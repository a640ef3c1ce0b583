import polars as pl

from identity_helpers import record_map, staging_connection
from identity import resolve
from identity.explain import explain_customer, format_explanation


def test_explain_lists_records_masked_and_edges_with_field_weights(synthetic_300):
    staging, _ = synthetic_300
    con = staging_connection(staging)
    resolve(con, mode="full")
    cid = con.execute("""
        SELECT m.customer_id FROM identity.edges e JOIN identity.record_map m
        ON m.source = e.left_source AND m.record_id = e.left_record_id
        WHERE e.edge_kind = 'probabilistic' ORDER BY 1 LIMIT 1""").fetchall()[0][0]
    result = explain_customer(con, cid)
    members = record_map(con).filter(pl.col("customer_id") == cid)
    assert result["records"].height == members.height
    assert set(result["edges"]["edge_kind"]) == {"deterministic", "probabilistic"}
    text = format_explanation(result)
    assert "match_probability" not in text and "p=" in text and "first_name" in text
    emails = staging.join(members, on=["source", "record_id"])["email"].drop_nulls()
    assert emails.len() > 0
    for email in emails.to_list():
        assert email not in text and email.lower() not in text
