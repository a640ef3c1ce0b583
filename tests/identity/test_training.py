"""m from deterministic clusters: disagreeing contact details weigh against a match, the prior is small."""
import polars as pl

from config.identity import load_identity_settings
from identity_helpers import staging_connection
from identity import resolve


def _weights(staging, m_training: str) -> dict[tuple[str, int], float]:
    settings = load_identity_settings()
    settings.match.m_training = m_training
    con = staging_connection(staging)
    resolve(con, mode="full", settings=settings)
    frame = pl.from_arrow(con.execute(
        "SELECT comparison, level, match_weight, m_probability FROM identity.match_weights").to_arrow_table())
    return {(c, int(l)): (w, m) for c, l, w, m in frame.iter_rows()}


def test_cluster_training_penalizes_a_different_email_and_keeps_the_prior_small(synthetic_300):
    staging, _ = synthetic_300
    weights = _weights(staging, "clusters")
    # one person, one email: two signatures of one cluster almost never disagree on it
    assert weights[("email", 0)][0] < -3
    assert weights[("phone", 0)][0] < -5
    assert weights[("first_name", 0)][0] < -5
    # the prior is the chance that two random signatures match: far below 1%
    assert weights[("_prior", -1)][1] < 0.01


def test_em_remains_selectable(synthetic_300):
    staging, _ = synthetic_300
    weights = _weights(staging, "em")
    assert ("_prior", -1) in weights and weights[("email", 3)][0] > 0
