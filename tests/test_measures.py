"""Map faithfulness and tag separation measures: agreement with sklearn, blobs, and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.manifold import trustworthiness as sk_trustworthiness
from sklearn.metrics import silhouette_samples, silhouette_score
from sklearn.metrics.pairwise import cosine_distances

from explorer.distances import knn
from explorer.measures import knn_tag_agreement, neighbours_kept, separation, trustworthiness


def gaussian(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


def two_blobs(n_each=40, d=16, seed=0):
    """Two tight clumps around orthogonal directions: perfectly separated under cosine."""
    rng = np.random.default_rng(seed)
    a = np.zeros(d)
    a[0] = 10
    b = np.zeros(d)
    b[1] = 10
    X = np.concatenate([a + rng.standard_normal((n_each, d)), b + rng.standard_normal((n_each, d))])
    return X, ["a"] * n_each + ["b"] * n_each


# --------------------------------------------------------------------------- trustworthiness

@pytest.mark.parametrize("k", [1, 5, 12])
@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_trustworthiness_equals_sklearn_on_random_data(k, metric):
    X, Y = gaussian(150, 10, seed=k), gaussian(150, 2, seed=100 + k)
    ours = trustworthiness(X, Y, k=k, metric=metric)
    assert ours == pytest.approx(sk_trustworthiness(X, Y, n_neighbors=k, metric=metric), abs=1e-12)
    assert ours < 0.9  # random maps are not trustworthy, so the comparison is not trivially 1 = 1


def test_trustworthiness_equals_sklearn_on_a_real_projection():
    X = gaussian(200, 20, seed=3)
    Y = X[:, :3] @ np.random.default_rng(4).standard_normal((3, 2))
    ours = trustworthiness(X, Y, k=7, metric="euclidean")
    assert ours == pytest.approx(sk_trustworthiness(X, Y, n_neighbors=7), abs=1e-12)


def test_trustworthiness_of_isometric_and_affine_maps_is_one():
    X = gaussian(120, 3, seed=5)
    rotation, _ = np.linalg.qr(np.random.default_rng(6).standard_normal((3, 3)))
    assert trustworthiness(X, X @ rotation + 7.0, k=10, metric="euclidean") == 1.0
    assert trustworthiness(X, 3.5 * X - 2.0, k=10, metric="euclidean") == 1.0


def test_trustworthiness_is_blocked_memory_safe(monkeypatch):
    import explorer.measures as measures

    original = measures.distance_blocks
    calls = []

    def tiny_blocks(A, *, metric):
        for start, D in original(A, metric=metric, max_block_bytes=4 * len(A) * 7):
            calls.append(len(D))
            yield start, D

    monkeypatch.setattr(measures, "distance_blocks", tiny_blocks)
    X, Y = gaussian(100, 6, seed=8), gaussian(100, 2, seed=9)
    assert trustworthiness(X, Y, k=6) == pytest.approx(sk_trustworthiness(X, Y, n_neighbors=6,
                                                                          metric="cosine"), abs=1e-12)
    assert max(calls) == 7 and len(calls) == 15


def test_trustworthiness_small_n_clamps_k_and_none_below_three():
    X, Y = gaussian(7, 4, seed=1), gaussian(7, 2, seed=2)
    # k=10 is invalid for 7 points (needs k < n/2): the largest valid k, 3, is used.
    assert trustworthiness(X, Y, k=10) == pytest.approx(trustworthiness(X, Y, k=3))
    assert trustworthiness(X[:2], Y[:2]) is None


def test_trustworthiness_leaves_out_nan_map_rows():
    X, Y = gaussian(60, 5, seed=1), gaussian(60, 2, seed=2)
    Y_bad = Y.copy()
    Y_bad[[3, 17]] = np.nan
    keep = np.ones(60, bool)
    keep[[3, 17]] = False
    assert trustworthiness(X, Y_bad, k=5) == pytest.approx(trustworthiness(X[keep], Y[keep], k=5))


# --------------------------------------------------------------------------- neighbours kept

def test_neighbours_kept_is_one_for_a_faithful_map_and_matches_set_overlap():
    X = gaussian(80, 2, seed=1)
    assert (neighbours_kept(X, 2 * X + 1, k=5, metric="euclidean") == 1.0).all()
    Y = gaussian(80, 2, seed=2)
    kept = neighbours_kept(X, Y, k=5)
    nx, ny = knn(X, 5)[0], knn(Y, 5, metric="euclidean")[0]
    expected = [len(set(a) & set(b)) / 5 for a, b in zip(nx.tolist(), ny.tolist())]
    assert np.allclose(kept, expected) and kept.shape == (80,)
    assert 0 < kept.mean() < 0.5  # a random map keeps few neighbours


def test_neighbours_kept_nan_exactly_at_excluded_rows_and_small_n():
    X, Y = gaussian(12, 4), gaussian(12, 2, seed=1)
    Y[5] = np.nan
    kept = neighbours_kept(X, Y, k=20)  # k clamped to 10 usable neighbours
    assert np.isnan(kept[5]) and np.isfinite(np.delete(kept, 5)).all()
    assert (np.delete(kept, 5) == 1.0).all()  # every other point is everyone's neighbour at k = n-1
    one = neighbours_kept(X[:1], Y[:1], k=3)
    assert one.tolist() == [1.0]
    with pytest.raises(ValueError, match="rows"):
        neighbours_kept(X, Y[:5])


# ----------------------------------------------------------------------------- tag agreement

def test_two_separated_blobs_agree_perfectly():
    X, tags = two_blobs()
    agreement = knn_tag_agreement(X, tags, k=5)
    assert agreement.overall == 1.0 and agreement.per_tag == {"a": 1.0, "b": 1.0}
    assert (agreement.same_tag_fraction == 1.0).all()
    assert agreement.chance == 0.5 and agreement.notes == []


def test_agreement_is_leave_one_out_majority_vote():
    X = gaussian(90, 6, seed=2)
    tags = np.random.default_rng(3).choice(list("abc"), 90)
    agreement = knn_tag_agreement(X, tags, k=5)
    D = cosine_distances(X)
    np.fill_diagonal(D, np.inf)
    neighbours = np.argsort(D, axis=1, kind="stable")[:, :5]
    expected = []
    for i, nb in enumerate(neighbours):
        nb_tags = tags[nb].tolist()
        counts = {t: nb_tags.count(t) for t in nb_tags}
        best = max(counts.values())
        vote = next(t for t in nb_tags if counts[t] == best)  # nearest among the tied tags
        expected.append(vote == tags[i])
    assert agreement.per_point.tolist() == [float(e) for e in expected]
    assert agreement.overall == pytest.approx(np.mean(expected))
    assert agreement.per_tag["a"] == pytest.approx(np.mean(np.array(expected)[tags == "a"]))


def test_vote_tie_goes_to_the_nearest_neighbour_tag():
    # Point 0's neighbours in order: 1 (tag y), 2 (tag z), 3 (tag z), 4 (tag y): y and z tie 2-2,
    # y holds the nearest neighbour, so the vote is y.
    X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    tags = ["y", "y", "z", "z", "y"]
    agreement = knn_tag_agreement(X, tags, k=4, metric="euclidean")
    assert agreement.per_point[0] == 1.0
    agreement = knn_tag_agreement(X, ["x", "y", "z", "z", "y"], k=4, metric="euclidean")
    assert agreement.per_point[0] == 0.0


def test_agreement_edge_cases_have_defined_values():
    X = gaussian(6, 3)
    single = knn_tag_agreement(X, ["only"] * 6, k=10)
    assert single.overall == 1.0 and single.k == 5
    assert any("only one tag" in n for n in single.notes) and any("k lowered" in n for n in single.notes)
    lonely = knn_tag_agreement(X, ["a", "a", "a", "b", "b", "c"], k=2)
    assert lonely.per_point[5] == 0.0 and any("single image" in n for n in lonely.notes)
    one = knn_tag_agreement(X[:1], ["a"], k=3)
    assert one.overall is None and one.per_tag == {"a": None} and one.k == 0
    Y = gaussian(10, 2)
    Y[2] = np.nan
    coords = knn_tag_agreement(Y, list("ababababab"), k=3, metric="euclidean")
    assert np.isnan(coords.per_point[2]) and np.isfinite(np.delete(coords.per_point, 2)).all()
    assert coords.overall is not None and not np.isnan(coords.overall)
    with pytest.raises(ValueError, match="tags"):
        knn_tag_agreement(X, ["a"] * 5)


# -------------------------------------------------------------------------------- separation

def test_separation_matches_sklearn_silhouette_and_pairwise_means():
    X = gaussian(150, 8, seed=4)
    X[:50, 0] += 2.0  # some structure so the silhouette is not ~0
    tags = np.array(["p"] * 50 + ["q"] * 60 + ["r"] * 40)
    sep = separation(X, tags, k=5)
    assert sep.silhouette == pytest.approx(silhouette_score(X, tags, metric="cosine"), abs=1e-6)
    samples = silhouette_samples(X, tags, metric="cosine")
    D = cosine_distances(X)
    same = tags[:, None] == tags[None, :]
    off = ~np.eye(150, dtype=bool)
    assert sep.intra_mean == pytest.approx(D[same & off].mean(), abs=1e-6)
    assert sep.inter_mean == pytest.approx(D[~same].mean(), abs=1e-6)
    for tag in "pqr":
        t = tags == tag
        info = sep.per_tag[tag]
        assert info.silhouette == pytest.approx(samples[t].mean(), abs=1e-6)
        assert info.intra == pytest.approx(D[np.ix_(t, t)][~np.eye(t.sum(), dtype=bool)].mean(), abs=1e-6)
        assert info.inter == pytest.approx(D[np.ix_(t, ~t)].mean(), abs=1e-6)
        assert info.count == t.sum()
    assert sep.tag_order == ["p", "q", "r"]
    assert np.allclose(sep.confusion.sum(axis=1), 1.0)


def test_separation_confusion_counts_neighbour_tags():
    X = gaussian(60, 5, seed=6)
    tags = np.random.default_rng(7).choice(["a", "b"], 60)
    sep = separation(X, tags, k=4)
    nb = knn(X, 4)[0]
    a = tags == "a"
    ia, ib = sep.tag_order.index("a"), sep.tag_order.index("b")
    assert sep.confusion[ia, ib] == pytest.approx((tags[nb[a]] == "b").mean())
    assert sep.confusion[ib, ib] == pytest.approx((tags[nb[~a]] == "b").mean())


def test_tag_charts_and_map_colours_share_one_first_seen_order():
    from explorer.palette import tag_colors
    from explorer.imageset import tag_codes

    tags = ["zebra", "ant", "zebra", "moth", "ant", "moth"] * 5
    X = gaussian(30, 4, seed=2)
    sep = separation(X, tags, k=3)
    assert sep.tag_order == ["zebra", "ant", "moth"] == list(tag_colors(tags))
    assert list(knn_tag_agreement(X, tags, k=3).per_tag) == sep.tag_order
    codes, order = tag_codes(tags)
    assert order == sep.tag_order and codes[:4].tolist() == [0, 1, 0, 2]
    with pytest.raises(ValueError, match="tags has 30 entries but there are 29"):
        tag_codes(tags, 29)


def test_two_separated_blobs_have_high_silhouette_and_diagonal_confusion():
    X, tags = two_blobs()
    sep = separation(X, tags, k=5)
    assert sep.silhouette > 0.8
    assert sep.intra_mean < 0.2 and sep.inter_mean > 0.9
    assert np.array_equal(sep.confusion, np.eye(2))
    assert sep.per_tag["a"].knn_agreement == 1.0


def test_separation_edge_cases_are_defined_not_nan():
    X = gaussian(8, 4)
    single = separation(X, ["t"] * 8, k=3)
    assert single.silhouette is None and single.inter_mean is None and single.per_tag["t"].inter is None
    assert single.intra_mean is not None and any("silhouette needs" in n for n in single.notes)
    tags = ["a", "a", "a", "b", "b", "b", "b", "c"]  # 'c' has one image
    sep = separation(X, tags, k=20)
    assert sep.per_tag["c"].silhouette == 0.0 and sep.per_tag["c"].intra is None
    assert sep.silhouette == pytest.approx(silhouette_score(X, tags, metric="cosine"), abs=1e-6)
    assert sep.k == 7 and any("k lowered" in n for n in sep.notes)
    one = separation(X[:1], ["a"], k=5)
    assert one.silhouette is None and one.intra_mean is None and one.k == 0
    assert one.confusion.tolist() == [[0.0]]


def test_separation_with_zero_and_nan_vectors_is_finite_and_noted():
    X = np.abs(gaussian(20, 4))
    X[2] = 0
    X[5, 1] = np.nan
    tags = ["a"] * 10 + ["b"] * 10
    sep = separation(X, tags, k=3)
    values = [sep.silhouette, sep.intra_mean, sep.inter_mean]
    values += [v for t in sep.per_tag.values() for v in (t.silhouette, t.intra, t.inter)]
    assert all(v is not None and np.isfinite(v) for v in values)
    assert np.isfinite(sep.confusion).all()
    assert any("1 zero and 1 NaN/inf" in n for n in sep.notes)
    # The defined behaviour: both bad rows act as zero vectors (distance 1 to everything).
    X_zero = X.copy()
    X_zero[5] = 0
    assert sep.silhouette == pytest.approx(silhouette_score(X_zero, tags, metric="cosine"), abs=1e-6)


# ------------------------------------------------------------------------------ sampled estimates

def clustered_map(n=2000, d=24, seed=0):
    """Eight clusters in X and a noisy 2-D map of them: measures well inside (0, 1)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 8, n)
    centres = 3 * rng.standard_normal((8, d))
    X = centres[labels] + rng.standard_normal((n, d))
    Y = X[:, :2] + 0.8 * rng.standard_normal((n, 2))
    return X, Y, [f"c{v}" for v in labels]


def test_sampled_measures_agree_with_exact_ones_and_say_the_sample_size():
    from explorer.measures import map_measures

    X, Y, tags = clustered_map()
    exact = map_measures(X, Y, tags, k=10, sample=None)
    est = map_measures(X, Y, tags, k=10, sample=600, seed=1)
    assert exact.exact and exact.sample_size == exact.population == 2000 and not est.exact
    assert (est.sample_size, est.population) == (600, 2000)
    assert est.notes[0] == "estimated on a random sample of 600 of 2,000 points"
    assert 0.6 < exact.trustworthiness < 0.99
    assert est.trustworthiness == pytest.approx(exact.trustworthiness, abs=0.01)
    assert est.trustworthiness.sample_size == 600 and exact.trustworthiness.sample_size == 2000
    assert est.knn_agreement_embedding == pytest.approx(exact.knn_agreement_embedding, abs=0.05)
    assert est.knn_agreement_map == pytest.approx(exact.knn_agreement_map, abs=0.05)
    assert np.isfinite(est.neighbours_kept).sum() == 600
    assert np.nanmean(est.neighbours_kept) == pytest.approx(np.nanmean(exact.neighbours_kept), abs=0.03)
    # the sampled rows carry their exact values; the one-measure functions give the same numbers
    on = np.isfinite(est.neighbours_kept)
    np.testing.assert_allclose(est.neighbours_kept[on], exact.neighbours_kept[on])
    assert exact.trustworthiness == pytest.approx(sk_trustworthiness(X, Y, n_neighbors=10, metric="cosine"), abs=1e-6)
    assert trustworthiness(X, Y, k=10, sample=600, seed=1) == pytest.approx(est.trustworthiness, abs=1e-12)
    agree = knn_tag_agreement(X, tags, k=10, sample=600, seed=1)
    assert agree.sample_size == 600 and agree.overall == pytest.approx(est.knn_agreement_embedding)
    assert "600 of 2,000" in agree.notes[-1]
    np.testing.assert_array_equal(np.isfinite(neighbours_kept(X, Y, k=10, sample=600, seed=1)), on)


def test_auto_sampling_starts_above_the_threshold_and_is_seeded(monkeypatch):
    import explorer.measures as measures

    X, Y, tags = clustered_map(n=400)
    assert trustworthiness(X, Y).sample_size == 400  # "auto" below the threshold: exact
    monkeypatch.setattr(measures, "SAMPLE_ABOVE", 300)
    monkeypatch.setattr(measures, "SAMPLE_SIZE", 100)
    a, b = trustworthiness(X, Y, seed=4), trustworthiness(X, Y, seed=4)
    assert a.sample_size == 100 and a == b and trustworthiness(X, Y, seed=5) != a
    assert knn_tag_agreement(X, tags).sample_size == 100
    assert trustworthiness(X, Y, sample=None).sample_size == 400
    with pytest.raises(ValueError, match="sample"):
        trustworthiness(X, Y, sample="most")


def test_large_maps_use_a_kd_tree_with_the_same_neighbours(monkeypatch):
    import explorer.measures as measures

    B = np.round(gaussian(400, 2, seed=11), 1)  # rounding makes ties at the k-th distance common
    B[7] = B[30]  # twins
    monkeypatch.setattr(measures, "KDTREE_ABOVE", 100)
    tree, brute = measures._map_neighbours(B, 6), knn(B, 6, metric="euclidean")[0]

    def lengths(nb, rows):
        return np.linalg.norm(B[nb] - B[rows][:, None, :], axis=2)

    everyone = np.arange(len(B))
    # the same neighbour distances, nearest first; only exact ties (up to rounding) may swap places
    np.testing.assert_allclose(lengths(tree, everyone), lengths(brute, everyone), atol=1e-9)
    assert (tree == brute).mean() > 0.6 and not (tree == everyone[:, None]).any()
    assert tree[30, 0] == 7 and tree[7, 0] == 30  # a twin is the nearest neighbour, itself is not
    rows = np.array([30, 7, 99])
    np.testing.assert_array_equal(measures._map_neighbours(B, 6, rows), tree[rows])
