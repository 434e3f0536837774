"""explorer.largemap: the lookups behind a click, a zoom and a box on maps of any size."""

from __future__ import annotations

import numpy as np
import pytest

from explorer import largemap
from explorer.distances import cosine_distance_matrix, l2_normalize, row_neighbours


def _vectors(n=400, d=16, seed=0):
    X = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    X[5] = 0.0            # no direction
    X[7, 3] = np.nan      # not finite
    X[9] = X[8] * 3.0     # the same direction as row 8: distance 0 to it
    return X


def _brute_force(X, row, k):
    """Cosine nearest rows by the full distance matrix over the rows that have a direction."""
    ok = np.flatnonzero(np.isfinite(X).all(axis=1) & (np.abs(np.nan_to_num(X)).sum(axis=1) > 0))
    D = cosine_distance_matrix(X[ok])
    i = int(np.flatnonzero(ok == row)[0])
    d = D[i].astype(np.float64)
    d[i] = np.inf
    order = np.lexsort((ok, d))[:k]
    return ok[order], d[order]


@pytest.mark.parametrize("row", [0, 8, 9, 123, 399])
def test_neighbour_lookup_equals_brute_force_cosine(row):
    X = _vectors()
    idx, dist = largemap.NeighbourIndex(X).query(row, 10)
    want_idx, want_dist = _brute_force(X, row, 10)
    np.testing.assert_allclose(dist, want_dist, atol=1e-5)
    # Rows 8 and 9 point the same way: their distances tie up to float rounding, so order ties by row.
    tied = lambda i, d: [int(r) for _, r in sorted(zip(np.round(d, 5), i))]
    assert tied(idx, dist) == tied(want_idx, want_dist)


def test_neighbour_lookup_matches_row_neighbours_order_and_never_returns_rows_without_direction():
    X = np.nan_to_num(_vectors(), nan=1.0)
    X[5] = 1.0  # every row usable: then it must equal the existing click helper exactly
    index = largemap.NeighbourIndex(X)
    for row in (0, 8, 200):
        got, got_d = index.query(row, 12)
        want, want_d = row_neighbours(l2_normalize(X), row, 12)
        assert list(got) == list(want)
        np.testing.assert_allclose(got_d, want_d, atol=1e-5)
    X = _vectors()
    idx, _ = largemap.NeighbourIndex(X).query(0, len(X))
    assert 5 not in idx and 7 not in idx and 0 not in idx
    assert len(idx) == len(X) - 3
    assert largemap.NeighbourIndex(X).query(5, 3)[0].size == 0  # a zero vector has no neighbours


def test_neighbour_lookup_does_not_copy_the_vectors_and_rejects_bad_rows():
    X = _vectors()
    index = largemap.NeighbourIndex(X)
    assert index.vectors is X or np.shares_memory(index.vectors, X)
    for bad in (-1, 400, 2.0, True):
        with pytest.raises(ValueError, match="row"):
            index.query(bad, 3)
    with pytest.raises(ValueError, match="k must be"):
        index.query(0, 0)


def test_neighbour_lookup_across_query_blocks(monkeypatch):
    monkeypatch.setattr(largemap, "QUERY_BLOCK", 37)  # several blocks, the last one short
    X = np.nan_to_num(_vectors(), nan=1.0)
    X[5] = 1.0
    got, _ = largemap.NeighbourIndex(X).query(11, 8)
    want, _ = row_neighbours(l2_normalize(X), 11, 8)
    assert list(got) == list(want)


def test_density_grid_counts_sum_to_n_and_place_points_in_their_cells():
    rng = np.random.default_rng(1)
    coords = rng.normal(size=(5000, 2)) * [3.0, 1.0]
    coords[:10] = np.nan
    grid = largemap.density_grid(coords, bins=64)
    assert grid.total == 4990
    assert grid.counts.shape == (len(grid.y_edges) - 1, len(grid.x_edges) - 1)
    assert grid.counts.shape[1] == 64 and grid.counts.shape[0] < 64  # square cells on a wide map
    # The corner points are counted (upper edges inclusive) and a lone point sits in its own cell.
    lone = np.array([[0.0, 0.0], [10.0, 5.0], [10.0, 0.0]])
    g = largemap.density_grid(lone, bins=10)
    assert g.total == 3 and g.counts[0, 0] == 1 and g.counts[-1, -1] == 1 and g.counts[0, -1] == 1


def test_density_grid_of_a_region_counts_exactly_the_points_inside():
    coords = np.random.default_rng(2).uniform(-5, 5, size=(3000, 2))
    grid = largemap.density_grid(coords, bins=20, x_range=(-1, 2), y_range=(0, 3))
    assert grid.total == len(largemap.rows_in_box(coords, (-1, 2), (0, 3)))
    with pytest.raises(ValueError, match="range"):
        largemap.density_grid(coords, x_range=(2, 1))
    with pytest.raises(ValueError, match="bins"):
        largemap.density_grid(coords, bins=1)


def test_zoom_region_returns_exactly_the_points_inside():
    coords = np.random.default_rng(3).uniform(0, 10, size=(20_000, 2)).astype(np.float32)
    coords[4] = np.nan
    rows, total = largemap.region_rows(coords, (2.0, 4.0), (5.0, 7.5))
    want = np.flatnonzero((coords[:, 0] >= 2) & (coords[:, 0] <= 4) & (coords[:, 1] >= 5) & (coords[:, 1] <= 7.5))
    assert list(rows) == list(want) and total == len(want)
    sampled, total = largemap.region_rows(coords, (0, 10), (0, 10), limit=500)
    assert total == 19_999 and len(sampled) == 500 and np.all(np.diff(sampled) > 0)
    assert set(sampled) <= set(largemap.rows_in_box(coords, (0, 10), (0, 10)))


def test_lasso_polygon_selects_points_inside_only():
    coords = np.array([[0.5, 0.5], [1.5, 0.5], [0.9, 0.1], [0.1, 0.9], [2.0, 2.0], [np.nan, 0.5]])
    # A right triangle (0,0) (1,0) (0,1): inside are rows 0 and... 0.5+0.5 = 1 is on the edge; 0.9,0.1 inside.
    rows = largemap.rows_in_polygon(coords, [0, 1.01, 0], [0, 0, 1.01])
    assert list(rows) == [0, 2, 3]
    with pytest.raises(ValueError, match="polygon"):
        largemap.rows_in_polygon(coords, [0, 1], [0, 1])


def test_display_and_measure_samples_are_seeded_sorted_and_stated():
    coords = np.random.default_rng(4).normal(size=(1000, 2))
    coords[0] = np.nan
    all_rows = largemap.display_rows(coords, size=5000)
    assert len(all_rows) == 999 and 0 not in all_rows
    s1, s2 = largemap.display_rows(coords, size=100), largemap.display_rows(coords, size=100)
    assert list(s1) == list(s2) and len(s1) == 100 and np.all(np.diff(s1) > 0)
    assert largemap.measure_sample(500, size=1000) is None
    assert len(largemap.measure_sample(5000, size=1000)) == 1000
    assert largemap.is_large(largemap.LARGE_MAP_ABOVE + 1) and not largemap.is_large(largemap.LARGE_MAP_ABOVE)


def test_large_map_figure_draws_density_under_sampled_points_whose_clicks_map_to_whole_set_rows():
    from explorer.density_figure import large_map_figure

    rng = np.random.default_rng(5)
    n = 3000
    coords = rng.normal(size=(n, 2)).astype(np.float32)
    tags = [f"t{i % 3}" for i in range(n)]
    sources = [f"<img {i}>" for i in range(n)]
    sample = largemap.display_rows(coords, size=300)
    fig, rows = large_map_figure(coords, tags=tags, sources=sources, sample=sample)
    assert list(rows) == list(sample)
    assert fig.data[0].type == "heatmap"  # drawn first: under the points
    assert int(np.nansum(np.asarray(fig.data[0].customdata))) == n  # the layer counts every point
    points = [t for t in fig.data[1:]]
    drawn = np.concatenate([np.asarray(t.customdata) for t in points])
    assert sorted(drawn) == sorted(sample)
    for t in points:  # each point's customdata is its whole-set row: its position and tag match that row
        cd = np.asarray(t.customdata)
        np.testing.assert_allclose(np.asarray(t.x), coords[cd, 0], rtol=1e-6)
        assert {tags[i] for i in cd} == {t.name}
        assert all("&lt;img" in s and "<img" not in s for s in t.text)  # hover text stays escaped
    with pytest.raises(ValueError, match="2-D"):
        large_map_figure(np.zeros((3, 3)), tags=["a"] * 3, sources=["a"] * 3)


def test_neighbour_lookup_handles_huge_and_tiny_rows_without_overflow():
    X = np.random.default_rng(6).normal(size=(50, 8)).astype(np.float32)
    X[3] *= 1e30   # its float32 sum of squares overflows; its direction is still defined
    X[4] *= 1e-30  # tiny but not zero
    X[6] = X[3] / 1e30 * 2.0  # same direction as row 3
    index = largemap.NeighbourIndex(X)
    assert np.isfinite(index.inv_norm).all() and (index.inv_norm > 0).all()
    idx, dist = index.query(3, 3)
    assert idx[0] == 6 and dist[0] < 1e-5
    assert 3 in index.query(0, 49)[0] and 4 in index.query(0, 49)[0]
