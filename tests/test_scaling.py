"""δs are written over neighbours' names, so expression size is linear in depth."""

import derive as d


def test_a_200_layer_mlp_derives_with_size_linear_in_depth():
    sizes = {depth: d.derive(d.models.deep_mlp(depth)).size() for depth in (50, 100, 200)}
    per_layer = (sizes[100] - sizes[50]) / 50
    assert sizes[200] - sizes[100] == 100 * per_layer
    assert per_layer < 100  # a handful of small equations per layer


def test_deltas_name_their_neighbours_instead_of_expanding_them():
    der = d.derive(d.models.deep_mlp(200))
    W2, z2 = der.symbol("W2"), der.delta("z2")
    assert der.deltas["h1"] == W2.T * z2
