"""Guards: evidence rules in level names. Never two different emails, siblings by address, or a name alone."""
from datetime import datetime

import polars as pl
import pytest

from config.identity import load_identity_settings
from identity_helpers import record_map, staging_connection
from identity import resolve


def _with_namesakes(staging: pl.DataFrame, second_email: str | None, second_first: str = "Carmen",
                    street: str | None = "Calle Almendro 17", postcode: str | None = "50001",
                    first_email: str | None = "carmen.navarro.ns@correo.es") -> pl.DataFrame:
    """Two store orders, same surname, no shared identifier."""
    base = {c: None for c in staging.columns}
    rows = []
    for rid, first, email in (("ns1", "Carmen", first_email), ("ns2", second_first, second_email)):
        rows.append(base | {
            "source": "transactions", "stream": "orders", "record_id": rid, "record_type": "order",
            "event_time": datetime(2026, 2, 1), "load_id": "load_test", "order_id": rid,
            "first_name": first, "last_name": "Navarro Quintana", "email": email,
            "street": street, "city": "Zaragoza", "postcode": postcode, "country": "ES",
        })
    return pl.concat([staging, pl.DataFrame(rows, schema=staging.schema)])


def _without(settings, guard: str):
    return settings.model_copy(update={"guards": {k: v for k, v in settings.guards.items() if k != guard}})


def _same_customer(staging: pl.DataFrame, settings) -> bool:
    con = staging_connection(staging)
    resolve(con, mode="full", settings=settings)
    rm = record_map(con).filter(pl.col("record_id").is_in(["ns1", "ns2"]))
    return rm["customer_id"].n_unique() == 1


@pytest.mark.parametrize("guard_on", [True, False])
def test_two_different_emails_are_not_joined_by_name_and_address(synthetic_300, guard_on):
    staging, _ = synthetic_300
    settings = load_identity_settings()
    if not guard_on:
        settings = _without(settings, "conflicting_email")
    joined = _same_customer(_with_namesakes(staging, "c.navarro.q@correo.es"), settings)
    assert joined is (not guard_on)


def test_loosely_similar_first_names_at_one_address_stay_apart(synthetic_300):
    staging, _ = synthetic_300
    settings = load_identity_settings()
    # no second email: only the address and a sibling's first name (Carmen / Carmela: first token differs)
    frame = _with_namesakes(staging, None, second_first="Carmelo")
    assert not _same_customer(frame, settings)
    assert _same_customer(frame, _without(settings, "similar_first_name_at_one_address"))


def test_a_name_and_a_city_alone_never_link(synthetic_300):
    """Two store orders "Carmen Navarro Quintana, Zaragoza" with nothing else stay two customers."""
    staging, _ = synthetic_300
    settings = load_identity_settings()
    frame = _with_namesakes(staging, None, street=None, postcode=None, first_email=None)
    assert not _same_customer(frame, settings)
    assert _same_customer(frame, _without(settings, "name_alone_is_not_enough"))


def test_guards_name_levels_and_unknown_ones_are_refused():
    from config.identity import Guard, IdentitySettings

    with pytest.raises(ValueError, match="unknown level 'exactly'.*levels: .*exact"):
        IdentitySettings(guards={"g": Guard(refuse_when={"birth_date": ["exactly"]})})
    with pytest.raises(ValueError, match="unknown kind 'dob'"):
        IdentitySettings(guards={"g": Guard(require_any={"dob": ["exact"]})})


def test_a_guard_whose_fields_are_missing_is_off_and_says_so():
    from identity.comparisons import comparisons_for
    from identity.guards import compile_guards

    settings = load_identity_settings()
    names_only = comparisons_for(["first_name_key", "last_name_key", "city"])
    notes = {g.name: g.note for g in compile_guards(settings.guards, names_only)}
    assert notes["conflicting_email"].startswith("off")
    # a file of names and cities has no evidence beyond a name: no probabilistic link at all
    assert "refuses every link" in notes["name_alone_is_not_enough"]
