"""`cdp explain`: Splink's waterfall (prior + fields = weight), shared identifiers, refused links, all masked."""
import json

from pipelines.cli import main
from warehouse.connection import connect_home


def _home(tmp_path):
    home = tmp_path / "home"
    con = connect_home(home)
    con.execute("""CREATE TABLE identity.record_map AS SELECT * FROM (VALUES
        ('app', 'a1', 'cus_1'), ('app', 'a2', 'cus_1'), ('social', 's1', 'cus_1'), ('web', 'w9', 'cus_2'))
        AS t(source, record_id, customer_id)""")
    con.execute("""CREATE TABLE identity.normalized_records AS SELECT * FROM (VALUES
        ('app', 'a1', TIMESTAMP '2026-01-01', 'usr_123456', 'maria.garcia@gmail.com', NULL, 'anon-aaaa-1111', NULL,
         'DEVICE-ABCDEF-1234', 'maria.g', NULL, 'maria', 'garcia'),
        ('app', 'a2', TIMESTAMP '2026-01-02', 'usr_123456', NULL, '+34600111222', 'anon-aaaa-1111', NULL,
         'DEVICE-ABCDEF-1234', NULL, NULL, 'maria', 'garcia'),
        ('social', 's1', TIMESTAMP '2026-01-03', NULL, NULL, NULL, NULL, NULL, NULL, 'maria.g', NULL, 'maria', 'garcia'),
        ('web', 'w9', TIMESTAMP '2026-01-04', NULL, NULL, NULL, 'anon-bbbb', NULL, NULL, NULL, NULL, 'maria', 'lopez'))
        AS t(source, record_id, event_time, user_id, email, phone, anonymous_id, previous_id, device_id,
             social_handle, order_id, first_name_key, last_name_key)""")
    con.execute("""CREATE TABLE identity.edges AS SELECT * FROM (VALUES
        ('app', 'a1', 'app', 'a2', 'deterministic', 'user_id', 1.0, NULL, 'res_1'),
        ('app', 'a1', 'social', 's1', 'probabilistic', NULL, 0.9953, 7.73, 'res_1'))
        AS t(left_source, left_record_id, right_source, right_record_id, edge_kind, identifier_type,
             match_probability, match_weight, run_id)""")
    con.execute("""CREATE TABLE identity.edge_comparisons AS SELECT * FROM (VALUES
        ('app', 'a1', 'social', 's1', 'first_name', 3, 'exact', 9.11, 'res_1'),
        ('app', 'a1', 'social', 's1', 'last_name', 3, 'exact', 9.36, 'res_1'))
        AS t(left_source, left_record_id, right_source, right_record_id, comparison, level, level_name, weight, run_id)""")
    con.execute("""CREATE TABLE identity.match_weights AS SELECT * FROM (VALUES
        ('_prior', -1, 'P(two random records match)', 0.0006, NULL, -10.74, 'res_1'))
        AS t(comparison, level, level_name, m_probability, u_probability, match_weight, run_id)""")
    con.execute("""CREATE TABLE identity.rejected_edges AS SELECT * FROM (VALUES
        ('app', 'a1', 'web', 'w9', 'probabilistic', NULL, 'ma***@gmail.com', 0.97, 'conflicting_email', 'res_1'))
        AS t(left_source, left_record_id, right_source, right_record_id, edge_kind, identifier_type, masked_value,
             match_probability, reason, run_id)""")
    con.execute("""CREATE TABLE identity.id_history (old_customer_id VARCHAR, new_customer_id VARCHAR, reason VARCHAR,
        changed_at TIMESTAMP, run_id VARCHAR)""")
    con.close()
    return home


def test_waterfall_adds_up_and_every_identifier_is_masked(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    home = _home(tmp_path)
    assert main(["explain", "cus_1", "--home", str(home), "--json"]) == 0
    out = capsys.readouterr().out
    for secret in ("usr_123456", "maria.garcia@gmail.com", "+34600111222", "DEVICE-ABCDEF-1234", "maria.g\"",
                   "anon-aaaa-1111"):
        assert secret not in out, secret
    result = json.loads(out)
    fuzzy = next(e for e in result["edges"] if e["edge_kind"] == "probabilistic")
    w = fuzzy["waterfall"]
    assert w["prior"] == -10.74 and [s["weight"] for s in w["steps"]] == [9.11, 9.36]
    assert abs(w["sum"] - w["match_weight"]) < 0.01 and w["adds_up"]
    shared = {(s["identifier_type"], s["records"]) for s in result["shared"]}
    assert {("user_id", 2), ("device_id", 2), ("social_handle", 2), ("anonymous_id", 2)} <= shared
    assert all("***" in s["value"] for s in result["shared"])
    assert [(r["reason"], r["other_customer"]) for r in result["refused"]] == [("conflicting_email", "cus_2")]

    assert main(["explain", "cus_1", "--home", str(home)]) == 0
    text = capsys.readouterr().out
    assert "prior" in text and "= weight" in text and "+7.73" in text
    assert "refused links" in text and "conflicting_email" in text
    assert "social_handle  mar***.g" in text or "mar***.g" in text
    assert "DEVICE-ABCDEF-1234" not in text and "maria.g " not in text
