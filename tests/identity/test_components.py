import polars as pl

from identity.components import connected_components, constrained_components


def test_components_label_each_node_with_smallest_member():
    edges = pl.DataFrame({"a": [5, 1, 3, 7, 8], "b": [6, 2, 1, 8, 9]})
    labels = connected_components(11, edges).to_list()
    assert labels == [0, 1, 1, 1, 4, 5, 5, 7, 7, 7, 10]


def test_long_chain_converges():
    n = 5000
    edges = pl.DataFrame({"a": list(range(n - 1, 0, -1)), "b": list(range(n - 2, -1, -1))})
    assert connected_components(n, edges).unique().to_list() == [0]


def test_limit_refuses_the_link_that_would_join_two_user_ids():
    # nodes 0 (user u1) and 2 (user u2) share a device with node 1; node 3 shares an email with 0
    links = pl.DataFrame({
        "link_id": [0, 0, 1, 1, 1],
        "node": [0, 3, 0, 1, 2],
        "rank": [0, 0, 1, 1, 1],
    })
    limited = pl.DataFrame({"node": [0, 2], "id_type": ["user_id", "user_id"], "value": ["u1", "u2"]})
    result = constrained_components(4, links, limited, {"user_id": 1})
    labels = result.labels.to_list()
    assert labels[0] == labels[3]          # the email link is kept
    assert len({labels[0], labels[1], labels[2]}) == 3   # the shared device joins nobody
    assert result.rejected == [(1, "limit_exceeded:user_id")]
