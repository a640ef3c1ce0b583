"""Identity rows: records repeating another's every identity field are resolved once, exactly."""
from datetime import datetime

from identity import resolve
from identity_helpers import record_map
from warehouse.connection import connect
from warehouse.staging import CUSTOMER_RECORDS, ensure_staging_table, insert_rows


def _con(rows):
    con = connect()
    ensure_staging_table(con)
    base = {"stream": "s", "record_type": "r", "load_id": "l1", "event_time": datetime(2026, 1, 1)}
    insert_rows(con, CUSTOMER_RECORDS, [{**base, **row} for row in rows])
    return con


def _customers(con) -> dict[str, str]:
    return dict(record_map(con).select("record_id", "customer_id").iter_rows())


def test_identical_records_sharing_an_identifier_are_one_customer_with_typed_edges():
    con = _con([{"source": "web", "record_id": f"e{i}", "anonymous_id": "anon-7"} for i in range(5)])
    summary = resolve(con, mode="full")
    assert summary.customers == 1 and summary.records == 5
    edges = con.execute("SELECT left_record_id, right_record_id, identifier_type FROM identity.edges "
                        "ORDER BY right_record_id").fetchall()
    assert edges == [("e0", f"e{i}", "anonymous_id") for i in range(1, 5)]


def test_identical_orders_with_a_name_and_city_alone_stay_apart():
    # the "María Fernández, Sevilla": no identifier at all, so the guards judge each record
    rows = [{"source": "store", "record_id": f"o{i}", "first_name": "María", "last_name": "Fernández",
             "city": "Sevilla"} for i in range(3)]
    con = _con(rows)
    resolve(con, mode="full")
    assert len(set(_customers(con).values())) == 3


def test_identical_events_on_a_placeholder_id_are_each_their_own_customer_and_say_why():
    # a device id matching a blocked pattern, nothing else: the records can never be told apart
    con = _con([{"source": "web", "record_id": f"e{i}", "device_id": "0000000000"} for i in range(4)])
    summary = resolve(con, mode="full")
    assert summary.customers == 4
    reasons = con.execute("SELECT DISTINCT identifier_type, reason FROM identity.rejected_edges").fetchall()
    assert reasons == [("device_id", "blocked_value")]
    assert con.execute("SELECT count(*) FROM identity.rejected_edges").fetchone()[0] == 3


def test_a_record_staged_twice_resolves_in_its_latest_version():
    con = _con([{"source": "crm", "record_id": "c1", "user_id": "u1"},
                {"source": "crm", "record_id": "c2", "user_id": "u2"},
                {"source": "crm", "record_id": "c1", "user_id": "u2"}])
    summary = resolve(con, mode="full")
    assert summary.records == 2 and summary.customers == 1


def test_incremental_rows_join_the_customer_their_identifier_names():
    con = _con([{"source": "web", "record_id": f"e{i}", "anonymous_id": "a1", "email": "ana@example.com"}
                for i in range(3)])
    resolve(con, mode="full")
    before = _customers(con)
    insert_rows(con, CUSTOMER_RECORDS, [{"source": "web", "record_id": "e9", "stream": "s", "record_type": "r",
                                          "load_id": "l2", "event_time": datetime(2026, 1, 2),
                                          "anonymous_id": "a1", "email": "ana@example.com"}])
    summary = resolve(con, mode="incremental")
    after = _customers(con)
    assert summary.new_records == 1
    assert after["e9"] == before["e0"] and len(set(after.values())) == 1
    assert con.execute("SELECT record_count FROM identity.customers").fetchall() == [(4,)]
    # it repeated a stored row: it went straight to that row's customer, and the row counts it
    assert con.execute("SELECT records, link_type FROM identity.identity_rows").fetchall() == [(4, "user_id")] or \
        con.execute("SELECT records FROM identity.identity_rows").fetchall() == [(4,)]
    assert ("e0", "e9") in con.execute("SELECT left_record_id, right_record_id FROM identity.edges").fetchall()


def test_a_new_record_with_a_new_value_is_resolved_with_the_customers_it_reaches():
    con = _con([{"source": "web", "record_id": "e1", "anonymous_id": "a1", "email": "ana@example.com"}])
    resolve(con, mode="full")
    insert_rows(con, CUSTOMER_RECORDS, [{"source": "web", "record_id": "e2", "stream": "s", "record_type": "r",
                                          "load_id": "l2", "event_time": datetime(2026, 1, 2),
                                          "anonymous_id": "a1", "user_id": "u1"}])
    summary = resolve(con, mode="incremental")
    assert summary.customers == 1 and "deterministic_graph" in summary.step_seconds
    assert con.execute("SELECT count(*) FROM identity.identity_rows").fetchone()[0] == 2


def test_normalization_parts_go_through_a_scale_out_mapper_with_the_same_result():
    import pickle

    rows = [{"source": "web", "record_id": f"e{i}", "anonymous_id": f"a{i % 3}", "email": f"p{i % 3}@mail.com"}
            for i in range(9)]
    calls = []

    def mapper(fn, items):  # what a Dask mapper needs: a picklable function and parts
        calls.append(len(items))
        pickle.dumps(fn), [pickle.dumps(item) for item in items]
        return [fn(item) for item in items]

    embedded, mapped = _con(rows), _con(rows)
    resolve(embedded, mode="full")
    resolve(mapped, mode="full", map_parts=mapper)
    assert calls and _customers(mapped) == _customers(embedded)
