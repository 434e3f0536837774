"""Distances and exact k-NN: properties in the style of scikit-learn's tests, plus awkward vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics.pairwise import cosine_distances as sk_cosine_distances
from sklearn.metrics.pairwise import euclidean_distances as sk_euclidean_distances

from explorer.distances import (
    cosine_distance_matrix,
    cosine_similarity_matrix,
    distance_blocks,
    euclidean_distance_matrix,
    knn,
    l2_normalize,
    vector_health,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MATRICES = {"cosine": cosine_distance_matrix, "euclidean": euclidean_distance_matrix}


def gaussian(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def four_hot(n, d, seed=0):
    """Rows with four entries +-3: normalised entries are +-0.5, so every dot product is exact and
    cosine distances tie massively (0, .25, .5, ...), whatever the BLAS blocking."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, d), np.float32)
    for row in X:
        row[rng.choice(d, 4, replace=False)] = rng.choice([-3.0, 3.0], 4)
    return X


def small_integers(n, d, seed=0):
    """Integer rows: float64 products are exact, so euclidean distances tie exactly too."""
    return np.random.default_rng(seed).integers(-2, 3, (n, d)).astype(np.float32)


def brute_force(D, k, exclude_self):
    D = D.copy()
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    order = np.argsort(D, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(D, order, axis=1)


# ------------------------------------------------------------------------------ normalisation

def test_l2_normalize_unit_rows_zero_rows_stay_zero_and_no_nan():
    X = gaussian(20, 7)
    X[3] = 0
    X[5, 2] = np.nan
    X[6, 0] = np.inf
    X[7] = 1e30  # squares overflow float32
    N = l2_normalize(X)
    assert N.dtype == np.float32 and np.isfinite(N).all()
    norms = np.linalg.norm(N, axis=1)
    assert np.allclose(norms[[0, 1, 2, 4, 7, 8]], 1.0, atol=1e-6)
    assert (N[[3, 5, 6]] == 0).all()


def test_bad_shapes_name_the_parameter():
    with pytest.raises(ValueError, match="X must be a 2-D"):
        l2_normalize(np.ones(5))
    with pytest.raises(ValueError, match="same number of columns"):
        cosine_similarity_matrix(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="numeric"):
        knn(np.array([["a", "b"], ["c", "d"]]), 1)


# ---------------------------------------------------------------------------------- matrices

@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_matrix_is_symmetric_with_exact_zero_diagonal(metric):
    X = gaussian(60, 9)
    X[10] = X[3]
    D = MATRICES[metric](X)
    assert D.dtype == np.float32 and D.shape == (60, 60)
    assert (D == D.T).all()
    assert (np.diag(D) == 0).all()
    assert D[3, 10] == 0 and D[10, 3] == 0  # exact duplicates at exactly 0
    assert (D[~np.eye(60, dtype=bool) & ~np.isin(np.arange(60), [3, 10])[:, None]] > 0).all()


def test_matrices_match_sklearn():
    X, Y = gaussian(40, 6, seed=1), gaussian(25, 6, seed=2)
    assert np.allclose(cosine_distance_matrix(X, Y), sk_cosine_distances(X, Y), atol=1e-6)
    assert np.allclose(euclidean_distance_matrix(X, Y), sk_euclidean_distances(X, Y), atol=1e-5)
    assert np.allclose(cosine_distance_matrix(X), sk_cosine_distances(X), atol=1e-6)


def test_cosine_is_scale_invariant_and_bounded():
    X = gaussian(30, 5)
    scales = np.random.default_rng(3).uniform(1e-3, 1e3, (30, 1)).astype(np.float32)
    S1, S2 = cosine_similarity_matrix(X), cosine_similarity_matrix(X * scales)
    assert np.allclose(S1, S2, atol=1e-6)
    D = cosine_distance_matrix(np.concatenate([X, -X]))
    assert D.min() >= 0 and D.max() <= 2
    assert np.allclose(D[0, 30], 2.0, atol=1e-6)  # opposite direction


def test_zero_and_nan_rows_have_defined_cosine_values():
    X = gaussian(6, 4)
    X[1] = 0
    X[2] = 0
    X[4, 1] = np.nan
    S = cosine_similarity_matrix(X)
    D = cosine_distance_matrix(X)
    assert np.isfinite(S).all() and np.isfinite(D).all()
    for bad in (1, 2, 4):
        others = np.arange(6) != bad
        assert (S[bad, others] == 0).all() and (D[bad, others] == 1).all()
        assert S[bad, bad] == 0 and D[bad, bad] == 0
    assert S[0, 0] == 1


def test_euclidean_refuses_nan_rows_naming_them():
    X = gaussian(5, 3)
    X[2, 0] = np.inf
    with pytest.raises(ValueError, match=r"rows 2"):
        euclidean_distance_matrix(X)
    with pytest.raises(ValueError, match=r"rows 2"):
        knn(X, 2, metric="euclidean")


def test_euclidean_small_distances_survive_large_offsets():
    # float32 |x|^2 + |y|^2 - 2xy would lose a 1e-3 gap at coordinates ~1e3 (a t-SNE map's scale).
    X = np.array([[1000.0, 1000.0], [1000.001, 1000.0], [1000.0, 1000.003]], np.float32)
    D = euclidean_distance_matrix(X)
    expected = sk_euclidean_distances(X.astype(np.float64))
    assert np.allclose(D, expected, rtol=1e-4)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_distance_blocks_equal_the_matrix(metric):
    X = gaussian(70, 5)
    X[9] = X[2]
    blocks = list(distance_blocks(X, metric=metric, max_block_bytes=4000))
    assert len(blocks) > 1
    assert np.array_equal(np.concatenate([D for _, D in blocks]), MATRICES[metric](X))


# -------------------------------------------------------------------------------------- knn

@pytest.mark.parametrize("metric, make", [("cosine", four_hot), ("euclidean", small_integers)])
@pytest.mark.parametrize("exclude_self", [True, False])
@pytest.mark.parametrize("max_block_bytes, n_jobs", [(10**9, 1), (20000, 2)])
def test_knn_equals_stable_brute_force_with_ties_and_duplicates(metric, make, exclude_self,
                                                                max_block_bytes, n_jobs):
    X = make(180, 12, seed=7)
    rng = np.random.default_rng(7)
    X[rng.integers(0, 180, 50)] = X[rng.integers(0, 180, 50)]  # exact duplicates
    D = MATRICES[metric](X)
    for k in (1, 7, 179 if exclude_self else 180):
        ref_i, ref_d = brute_force(D, k, exclude_self)
        idx, dist = knn(X, k, metric=metric, exclude_self=exclude_self,
                        max_block_bytes=max_block_bytes, n_jobs=n_jobs)
        assert idx.dtype == np.int64 and dist.dtype == np.float32 and idx.shape == (180, k)
        assert np.array_equal(idx, ref_i), f"k={k}"
        assert np.array_equal(dist, ref_d), f"k={k}"


def test_knn_on_random_data_matches_brute_force_up_to_rounding():
    # Different BLAS blockings round dot products differently (~1e-7), so near-ties may swap;
    # the neighbour sets and distances must still agree with a float64 reference.
    X = gaussian(400, 32, seed=5)
    N = X / np.linalg.norm(X.astype(np.float64), axis=1, keepdims=True)
    ref = 1 - N @ N.T
    np.fill_diagonal(ref, np.inf)
    idx, dist = knn(X, 10, max_block_bytes=50_000)
    ref_sorted = np.sort(ref, axis=1)[:, :10]
    assert np.allclose(dist, ref_sorted, atol=2e-6)
    assert (np.diff(dist, axis=1) >= 0).all()
    assert np.allclose(np.take_along_axis(ref, idx, axis=1), ref_sorted, atol=2e-6)


def test_knn_duplicates_come_first_at_zero_lowest_index_first():
    X = gaussian(50, 8)
    X[[40, 7, 22]] = X[13]
    idx, dist = knn(X, 4)
    assert idx[13, :3].tolist() == [7, 22, 40] and (dist[13, :3] == 0).all() and dist[13, 3] > 0
    assert idx[40, :3].tolist() == [7, 13, 22]
    idx, dist = knn(X, 4, exclude_self=False)
    assert idx[22].tolist() == [7, 13, 22, 40] and (dist[22] == 0).all()


def test_knn_zero_and_nan_rows_are_at_distance_one():
    X = np.abs(gaussian(30, 6))  # all pairwise cosine distances < 1
    X[4] = 0
    X[9, 3] = np.nan
    idx, dist = knn(X, 29)
    assert np.isfinite(dist).all()
    assert (dist[4] == 1).all() and (dist[9] == 1).all()
    # For everyone else the two bad rows are the farthest, at exactly 1.
    assert set(idx[0, -2:].tolist()) == {4, 9} and (dist[0, -2:] == 1).all()


def test_knn_k_out_of_range_is_an_error_naming_k():
    X = gaussian(5, 3)
    with pytest.raises(ValueError, match=r"k=5 .*1 <= k <= 4"):
        knn(X, 5)
    assert knn(X, 5, exclude_self=False)[0].shape == (5, 5)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k"):
            knn(X, bad)
    with pytest.raises(ValueError, match="metric"):
        knn(X, 2, metric="manhattan")


def test_knn_memory_bound_gives_the_same_result_as_one_block():
    X = gaussian(300, 16, seed=9)
    one = knn(X, 5, max_block_bytes=10**9, n_jobs=1)
    tiny = knn(X, 5, max_block_bytes=1, n_jobs=2)  # one row per block
    assert np.array_equal(one[0], tiny[0]) and np.allclose(one[1], tiny[1], atol=1e-6)


# ------------------------------------------------------------------------------ vector health

def test_vector_health_reports_each_problem():
    X = gaussian(8, 4)
    X[1] = 0
    X[2, 0] = np.nan
    X[3, 1] = -np.inf
    X[5] = X[0]
    X[7] = X[0]
    X[6] = -0.0  # negative zero is still a zero vector
    h = vector_health(X)
    assert h.valid.tolist() == [True, False, False, False, True, True, False, True]
    assert h.reasons[1] == "zero vector" and h.reasons[6] == "zero vector"
    assert h.reasons[2] == h.reasons[3] == "NaN or infinite values"
    assert h.reasons[0] == ""
    assert h.duplicate_of.tolist() == [-1, -1, -1, -1, -1, 0, -1, 0]
    assert h.n_invalid == 4 and h.n_duplicates == 2


def test_vector_health_minus_zero_equals_zero_in_duplicates():
    X = np.array([[0.0, 1.0], [-0.0, 1.0], [0.0, 2.0]], np.float32)
    assert vector_health(X).duplicate_of.tolist() == [-1, 0, -1]


# ---------------------------------------------------------------------------------- real data

def test_knn_on_real_hand_photos_matches_brute_force():
    folder = DATA / "sign-language-digits"
    if not folder.is_dir():
        pytest.skip(f"real data not found at {folder}")
    from PIL import Image

    files = sorted(folder.glob("*/*.JPG"))[::10][:200]
    X = np.stack([np.asarray(Image.open(f).convert("L").resize((16, 16)), np.float32).ravel()
                  for f in files])
    idx, dist = knn(X, 5)
    D = cosine_distance_matrix(X)
    np.fill_diagonal(D, np.inf)
    ref = np.sort(D, axis=1)[:, :5]
    assert np.allclose(dist, ref, atol=2e-6)
    assert np.allclose(np.take_along_axis(D, idx, axis=1), ref, atol=2e-6)


def test_row_neighbours_matches_knn_row_by_row():
    from explorer.distances import knn, l2_normalize, row_neighbours

    rng = np.random.default_rng(11)
    X = np.vstack([rng.normal(size=(40, 7)), np.zeros((1, 7)), rng.integers(0, 3, (20, 7))]).astype(np.float32)
    unit = l2_normalize(X)
    idx, dist = knn(X, 5)
    for row in (0, 17, 40, 45, 60):
        r_idx, r_dist = row_neighbours(unit, row, 5)
        np.testing.assert_allclose(r_dist, dist[row], atol=1e-5)
        assert row not in r_idx
        same = np.abs(r_dist - dist[row]) < 1e-6
        assert (r_idx[same] == idx[row][same]).all() or np.allclose(np.sort(r_dist), r_dist)
    assert len(row_neighbours(unit, 0, 500)[0]) == len(X) - 1
    with pytest.raises(ValueError, match="row"):
        row_neighbours(unit, len(X), 3)
