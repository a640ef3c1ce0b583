import polars as pl

from config.identity import DeterministicSettings
from identity.graph import deterministic_graph
from identity.protection import blocked_mask, mask_identifier


def _records(**cols):
    n = len(next(iter(cols.values())))
    frame = pl.DataFrame({k: pl.Series(v, dtype=pl.Utf8) for k, v in cols.items()})
    for c in ("first_name_key", "last_name_key", "user_id"):
        if c not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Utf8).alias(c))
    return frame.with_row_index("rec").with_columns(pl.col("rec").cast(pl.UInt32)).head(n)


def test_placeholders_are_blocked_by_denylist_and_pattern():
    values = pl.Series(["test@test.com", "NULL", "n/a", "maria@x.es", "+0000000000", "noreply@shop.com"])
    mask = blocked_mask(values, patterns=[r"^(noreply|no-reply)@", r"^\+?(\d)\1{6,}$"]).to_list()
    assert mask == [True, True, True, False, True, True]


def test_shared_identifiers_join_and_placeholders_do_not():
    recs = _records(
        email=["a@x.com", "A@X.com", "test@test.com", "test@test.com", None],
        anonymous_id=[None, "c1", None, None, "c1"],
    )
    result = deterministic_graph(recs, DeterministicSettings())
    labels = result.labels.to_list()
    assert labels[0] == labels[1] == labels[4]       # email (case-insensitive) + cookie
    assert labels[2] != labels[3]                    # test@test.com links nobody
    assert set(result.rejected["reason"]) == {"blocked_value"}
    assert set(result.edges["identifier_type"]) == {"email", "anonymous_id"}


def test_shared_family_tablet_never_fuses_two_accounts():
    recs = _records(
        user_id=["u1", None, "u2", "u1", "u2"],
        device_id=["tab", "tab", "tab", None, None],
        email=[None, None, None, "one@x.com", "two@x.com"],
    )
    result = deterministic_graph(recs, DeterministicSettings())
    labels = result.labels.to_list()
    assert labels[0] == labels[3] and labels[2] == labels[4]
    assert labels[0] != labels[2]
    assert labels[1] not in (labels[0], labels[2])   # the tablet's anonymous use stays apart
    rejected = result.rejected.filter(pl.col("identifier_type") == "device_id")
    assert set(rejected["reason"]) == {"limit_exceeded:user_id"}


def test_frequency_cap_drops_a_phone_shared_by_many_accounts():
    recs = _records(user_id=["u1", "u2", "u3", "u4"], phone=["+34600000001"] * 4)
    settings = DeterministicSettings(max_user_ids_per_value=2)
    result = deterministic_graph(recs, settings)
    assert result.labels.n_unique() == 4
    assert set(result.rejected["reason"]) == {"frequency_cap"}


def test_masking_keeps_values_out_of_display():
    assert mask_identifier("maria.garcia@gmail.com") == "ma***@gmail.com"
    assert "612" not in mask_identifier("+34612345678")[3:]
