"""Tests for explorer.projection: validation, PCA, t-SNE, degenerate inputs and the progress callback."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from explorer import projection
from explorer.projection import MethodUnavailable, Projection, available_methods, project

# Few iterations keep the suite fast; blobs separate well within them.
fast_tsne = functools.partial(project, method="tsne", n_iter=100, early_exaggeration_iter=60)


def blobs(n_per: int, n_blobs: int, d: int = 20, gap: float = 12.0, seed: int = 0):
    """Well-separated gaussian blobs, offset from the origin so cosine sees them apart too."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_blobs, d))
    centres = gap * centres / np.linalg.norm(centres, axis=1, keepdims=True)
    X = np.vstack([c + rng.normal(size=(n_per, d)) for c in centres])
    return X.astype(np.float32), np.repeat(np.arange(n_blobs), n_per)


def knn_accuracy(Y: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Leave-one-out k-NN label accuracy in the layout Y."""
    D = ((Y[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    nn = np.argsort(D, axis=1)[:, :k]
    votes = np.array([np.bincount(labels[row], minlength=labels.max() + 1).argmax() for row in nn])
    return float((votes == labels).mean())


# --- validation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, word", [
    ({"method": "mds"}, "'mds'"),
    ({"n_components": 1}, "n_components"),
    ({"n_components": 4}, "n_components"),
    ({"n_components": True}, "n_components"),
    ({"perplexity": 0}, "perplexity"),
    ({"perplexity": -5.0}, "perplexity"),
    ({"perplexity": float("nan")}, "perplexity"),
    ({"callback_every": 0}, "callback_every"),
    ({"callback": 3}, "callback"),
    ({"metric": "manhattan"}, "metric"),
    ({"gradient": "exact"}, "gradient"),
    ({"random_state": -1}, "random_state"),
])
def test_bad_parameters_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        project(np.ones((5, 3)), **kwargs)


@pytest.mark.parametrize("X", [np.ones(5), np.ones((2, 3, 4)), np.array([["a", "b"]]), np.ones((3, 0))])
def test_bad_X_is_named(X):
    with pytest.raises(ValueError, match="X"):
        project(X)


def test_umap_listed_only_when_importable():
    has_umap = projection._umap_module() is not None
    assert ("umap" in available_methods()) == has_umap
    assert available_methods()[:2] == ["pca", "tsne"]
    if not has_umap:
        with pytest.raises(MethodUnavailable, match="umap-learn"):
            project(np.ones((5, 3)), method="umap")


# --- PCA ------------------------------------------------------------------------------------------------


def test_pca_recovers_a_plane_through_the_origin():
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.normal(size=(30, 2)))[0].T  # orthonormal (2, 30)
    latent = rng.normal(size=(200, 2)) * [3.0, 1.0]
    X = latent @ basis
    for metric in ("cosine", "euclidean"):
        p = project(X, method="pca", metric=metric)
        assert p.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-6)
    p = project(X, method="pca", metric="euclidean")
    # Euclidean PCA of planar data is an isometry of the centred plane: pairwise distances are kept.
    d_in = np.linalg.norm(X[:, None] - X[None], axis=-1)
    d_out = np.linalg.norm(p.coords[:, None] - p.coords[None], axis=-1)
    np.testing.assert_allclose(d_out, d_in, atol=1e-3)
    assert p.explained_variance_ratio[0] == pytest.approx(0.9, abs=0.03)  # variances 9 : 1


def test_pca_of_an_offset_plane_with_euclidean_metric():
    rng = np.random.default_rng(2)
    basis = np.linalg.qr(rng.normal(size=(8, 2)))[0].T
    X = rng.normal(size=(100, 2)) @ basis + 5.0
    p = project(X, method="pca", metric="euclidean", n_components=3)
    assert p.coords.shape == (100, 3)
    assert p.explained_variance_ratio[:2].sum() == pytest.approx(1.0, abs=1e-6)
    assert p.explained_variance_ratio[2] == pytest.approx(0.0, abs=1e-6)


def test_pca_solver_chosen_by_shape():
    assert projection.choose_pca_solver(10_000, 512) == "covariance_eigh"
    assert projection.choose_pca_solver(100, 512) == "full"
    assert projection.choose_pca_solver(100_000, 1024) == "covariance_eigh"  # no n x d copy for wide vectors
    assert projection.choose_pca_solver(100_000, 8192) == "full"
    p = project(np.random.default_rng(0).normal(size=(400, 20)), method="pca")
    assert p.params["svd_solver"] == "covariance_eigh"
    assert p.method == "pca" and p.coords.dtype == np.float32


def test_pca_on_narrow_data_pads_a_flat_axis():
    X = np.arange(1, 11, dtype=float)[:, None] * [1.0]  # one feature
    p = project(X, method="pca", metric="euclidean")
    assert p.coords.shape == (10, 2)
    np.testing.assert_allclose(p.coords[:, 1], 0.0)
    assert np.ptp(p.coords[:, 0]) == pytest.approx(9.0, abs=1e-5)
    assert any("only 1 independent direction" in n for n in p.notes)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_identical_points_sit_at_the_origin_with_a_note(method):
    p = project(np.tile([1.0, 2.0, 3.0], (12, 1)), method=method)
    assert p.coords.shape == (12, 2)
    assert np.isfinite(p.coords).all()
    assert np.ptp(p.coords, axis=0).max() < 0.05
    assert any("identical" in n for n in p.notes)


# --- t-SNE ----------------------------------------------------------------------------------------------


def test_tsne_keeps_three_blobs_apart_and_is_deterministic():
    X, labels = blobs(40, 3)
    a = fast_tsne(X, random_state=3)
    b = fast_tsne(X, random_state=3)
    np.testing.assert_array_equal(a.coords, b.coords)
    assert knn_accuracy(a.coords, labels) == 1.0
    assert a.params["gradient"] == "bh"
    assert a.params["perplexity"] == 30.0
    assert a.explained_variance_ratio is None
    c = fast_tsne(X, random_state=4)
    assert not np.array_equal(a.coords, c.coords)


def test_tsne_reduces_wide_input_and_separates_two_blobs():
    X, labels = blobs(60, 2, d=200)
    p = fast_tsne(X)
    assert p.params["input_dims"] == projection.TSNE_PCA_DIMS
    assert knn_accuracy(p.coords, labels) == 1.0


def test_tsne_3d_uses_barnes_hut():
    X, labels = blobs(30, 2)
    p = fast_tsne(X, n_components=3, gradient="fft")
    assert p.coords.shape == (60, 3)
    assert p.params["gradient"] == "bh"
    assert any("2-D only" in n for n in p.notes)
    assert knn_accuracy(p.coords, labels) == 1.0


def test_gradient_method_by_size():
    notes: list[str] = []
    assert projection._gradient_method("auto", projection.BH_MAX_POINTS - 1, 2, notes) == "bh"
    assert projection._gradient_method("auto", projection.BH_MAX_POINTS, 2, notes) == "fft"
    assert projection._gradient_method("auto", 10**6, 3, notes) == "bh"


def test_fft_gradient_runs_when_asked():
    X, labels = blobs(40, 2)
    p = fast_tsne(X, gradient="fft", n_iter=10, early_exaggeration_iter=10)  # FFT: ~fixed cost per step
    assert p.params["gradient"] == "fft"
    assert knn_accuracy(p.coords, labels) == 1.0


def test_perplexity_is_clamped_for_small_sets():
    X, _ = blobs(14, 2)  # 28 points
    p = fast_tsne(X, perplexity=30.0)
    assert p.params["perplexity"] == pytest.approx(9.0)
    assert p.params["perplexity_requested"] == 30.0
    assert any("Perplexity lowered from 30 to 9 for 28" in n for n in p.notes)


def test_callback_gets_increasing_iterations_and_full_shape():
    X, _ = blobs(20, 2)
    X[5] = np.nan
    calls: list[tuple[int, np.ndarray]] = []
    p = fast_tsne(X, n_components=3, callback=lambda it, c: calls.append((it, c.copy())), callback_every=20)
    iterations = [it for it, _ in calls]
    assert iterations == [20, 40, 60, 80, 100, 120, 140, 160]
    for _, coords in calls:
        assert coords.shape == (40, 3) and coords.dtype == np.float32
        assert np.isnan(coords[5]).all() and np.isfinite(np.delete(coords, 5, axis=0)).all()
    assert not np.array_equal(calls[0][1][:5], calls[-1][1][:5])  # the layout moves
    # The last report comes one gradient step before the end, so it is close to the final map.
    scale = np.nanmax(np.abs(p.coords))
    assert np.nanmax(np.abs(calls[-1][1] - p.coords)) < 0.05 * scale


def test_callback_can_stop_early():
    X, _ = blobs(20, 2)
    seen: list[int] = []
    p = fast_tsne(X, callback=lambda it, c: seen.append(it) or it >= 40, callback_every=20)
    assert seen == [20, 40]
    assert any("stopped" in n for n in p.notes)
    assert np.isfinite(p.coords).all()


def test_tsne_stops_once_the_layout_has_stopped_moving_and_says_how_far_it_ran():
    X, labels = blobs(40, 3)
    done = project(X, method="tsne", early_exaggeration_iter=60, n_iter=800)
    full = project(X, method="tsne", early_exaggeration_iter=60, n_iter=800, convergence_tol=None)
    assert full.params["iterations"] == 860
    assert projection.CONVERGENCE_MIN_ITER + 60 <= done.params["iterations"] < 860
    assert not any("stopped" in n for n in done.notes)  # converging is not the caller stopping it
    for p in (done, full):  # both keep the blobs apart
        centres = np.array([p.coords[labels == b].mean(axis=0) for b in range(3)])
        within = max(np.linalg.norm(p.coords[labels == b] - centres[b], axis=1).max() for b in range(3))
        assert min(np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i)) > within


def test_convergence_watch_stops_on_a_small_relative_kl_change_only_after_the_minimum():
    watch = projection._Convergence(0.01, 250)
    assert not watch(25, 2.0) and not watch(50, 1.0)   # before the minimum: never
    assert not watch(100, 0.9)                          # fell 10%
    assert watch(125, 0.895) and watch.stopped_at == 125  # fell 0.6%
    assert not projection._Convergence(None, 0)(500, 1.0)


@pytest.mark.parametrize("bad", [-0.1, 1.0, "0.01", True])
def test_convergence_tol_is_validated(bad):
    with pytest.raises(ValueError, match="convergence_tol"):
        project(np.random.default_rng(0).normal(size=(30, 5)), method="tsne", convergence_tol=bad)


def test_small_sets_use_exact_neighbours_from_one_matrix_product():
    X, _ = blobs(30, 2)
    p = fast_tsne(X)
    assert p.params["neighbors"] == "exact" and p.params["n_jobs"] == 1


# --- degenerate and bad rows ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_nan_inf_and_zero_rows_are_excluded_with_reasons(method):
    X, labels = blobs(20, 2)
    X[3] = np.nan
    X[7, 2] = np.inf
    X[11] = 0.0
    p = project(X, method=method, n_iter=100, early_exaggeration_iter=60)
    assert set(p.excluded) == {3, 7, 11}
    assert "NaN" in p.excluded[3] and "NaN or infinite" in p.excluded[7]
    assert "zero vector" in p.excluded[11]
    assert np.isnan(p.coords[[3, 7, 11]]).all()
    assert np.isfinite(np.delete(p.coords, [3, 7, 11], axis=0)).all()
    assert p.params["n_points"] == 37
    assert any("1 of 40 points not shown: zero vector" in n for n in p.notes)


def test_zero_vector_is_kept_under_euclidean_metric():
    X, _ = blobs(10, 2)
    X[0] = 0.0
    p = project(X, method="pca", metric="euclidean")
    assert p.excluded == {} and np.isfinite(p.coords).all()


@pytest.mark.parametrize("method", ["pca", "tsne"])
@pytest.mark.parametrize("n", [0, 1, 2])
def test_fewer_than_three_points_get_a_defined_layout(method, n):
    X = np.random.default_rng(0).normal(size=(n, 6))
    p = project(X, method=method)
    assert p.coords.shape == (n, 2)
    assert np.isfinite(p.coords).all()
    if n == 2:
        assert np.linalg.norm(p.coords[0] - p.coords[1]) > 0.1
        assert np.allclose(p.coords[:, 1], 0.0, atol=1e-6)
    if n == 1:
        np.testing.assert_allclose(p.coords, 0.0)
    if method == "tsne":
        assert len(p.notes) == 1


def test_all_rows_invalid_gives_all_nan_and_notes():
    X = np.full((4, 3), np.nan)
    p = fast_tsne(X)
    assert np.isnan(p.coords).all() and len(p.excluded) == 4
    assert any("No valid points" in n for n in p.notes)


def test_two_identical_images_do_not_crash_and_sit_together():
    X, labels = blobs(15, 2)
    X[1] = X[0]
    X[20] = X[0] * 4.0  # same direction (scaling by 4 is exact in binary): a duplicate under cosine
    p = fast_tsne(X)
    assert np.isfinite(p.coords).all()
    assert p.params["n_distinct_points"] == 28
    spread = np.ptp(p.coords, axis=0).max()
    for twin in (1, 20):
        gap = np.linalg.norm(p.coords[twin] - p.coords[0])
        assert 0 < gap < 0.02 * spread
    assert any("2 points duplicate another point" in n for n in p.notes)


def test_only_two_distinct_rows_among_many():
    X = np.vstack([np.tile([1.0, 0.0, 0.0], (5, 1)), np.tile([0.0, 1.0, 0.0], (4, 1))])
    p = fast_tsne(X, n_components=3)
    assert p.coords.shape == (9, 3) and np.isfinite(p.coords).all()
    # The two groups sit at two distinct spots, each group tightly together.
    assert np.ptp(p.coords[:5], axis=0).max() < 0.05 and np.ptp(p.coords[5:], axis=0).max() < 0.05
    assert np.linalg.norm(p.coords[0] - p.coords[5]) > 1.0


def test_three_points_run_tsne_with_tiny_perplexity():
    X = np.array([[1.0, 0.0, 0.0], [0.9, 0.3, 0.0], [0.0, 0.2, 1.0]])
    p = fast_tsne(X)
    assert p.params["perplexity"] == pytest.approx(2 / 3)
    assert np.isfinite(p.coords).all()
    assert len({tuple(np.round(r, 4)) for r in p.coords}) == 3


def test_collapsed_tsne_layout_falls_back_to_pca():
    # Three equidistant points: every equilateral triangle is a perfect t-SNE fit, so it shrinks to a point.
    p = fast_tsne(np.eye(3) + 0.1)
    assert np.isfinite(p.coords).all()
    d = np.linalg.norm(p.coords[:, None] - p.coords[None], axis=-1)[np.triu_indices(3, 1)]
    assert d.min() > 0.1 and d.max() / d.min() == pytest.approx(1.0, abs=1e-3)  # still equilateral
    assert any("showing the PCA layout" in n for n in p.notes) and p.params["fallback"] == "pca"


def test_integer_input_and_projection_record():
    X = np.random.default_rng(0).integers(0, 5, size=(30, 4))
    p = project(X, method="pca")
    assert isinstance(p, Projection)
    assert p.coords.shape == (30, 2) and p.coords.dtype == np.float32
    assert p.params["random_state"] == 0 and p.params["metric"] == "cosine"


@pytest.mark.skipif(projection._umap_module() is None,
                    reason="umap-learn not installed (optional: pip install -r requirements-umap.txt)")
def test_umap_separates_blobs_when_installed():
    X, labels = blobs(40, 2)
    p = project(X, method="umap")
    assert p.coords.shape == (80, 2)
    assert knn_accuracy(p.coords, labels) == 1.0


# --- real photographs -----------------------------------------------------------------------------------

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def real_hand_vectors(per_tag: int = 12) -> tuple[np.ndarray, list[str]]:
    """Tiny grayscale pixel vectors of the first photos of each sign-language digit folder."""
    from PIL import Image

    root = SHARED / "sign-language-digits"
    if not root.is_dir():
        pytest.skip(f"shared data not found at {root}")
    vectors, names = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.[jJ][pP][gG]"))[:per_tag]:
            with Image.open(path) as im:
                vectors.append(np.asarray(im.convert("L").resize((24, 24)), dtype=np.float32).ravel())
            names.append(f"{folder.name}/{path.name}")
    return np.stack(vectors), names


def test_real_photos_tsne_keeps_neighbourhoods_better_than_pca():
    from sklearn.manifold import trustworthiness

    X, _ = real_hand_vectors()
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    pca = project(X, method="pca")
    tsne = fast_tsne(X)
    for p in (pca, tsne):
        assert p.coords.shape == (len(X), 2) and np.isfinite(p.coords).all()
    t_pca = trustworthiness(Xn, pca.coords, n_neighbors=5)
    t_tsne = trustworthiness(Xn, tsne.coords, n_neighbors=5)
    assert t_tsne > t_pca
    assert 0 < pca.explained_variance_ratio[1] <= pca.explained_variance_ratio[0] < 1


def test_pca_preview_matches_sklearn_pca_of_unit_rows_up_to_sign():
    from sklearn.decomposition import PCA

    from explorer.projection import pca_preview

    rng = np.random.default_rng(5)
    for shape in ((60, 8), (6, 40)):  # tall and wide
        X = rng.normal(size=shape) + 3.0
        unit = X / np.linalg.norm(X, axis=1, keepdims=True)
        expected = PCA(2, svd_solver="full").fit_transform(unit)
        got = pca_preview(X)
        assert got.dtype == np.float32 and got.shape == (shape[0], 2)
        for c in range(2):
            sign = np.sign(got[:, c] @ expected[:, c])
            np.testing.assert_allclose(got[:, c], sign * expected[:, c], atol=1e-5)


def test_pca_preview_marks_bad_rows_and_imports_no_sklearn():
    import subprocess
    import sys

    from explorer.projection import pca_preview

    X = np.random.default_rng(1).normal(size=(10, 5))
    X[3] = np.nan
    Y = pca_preview(X, n_components=3)
    assert np.isnan(Y[3]).all() and np.isfinite(np.delete(Y, 3, axis=0)).all()
    assert (pca_preview(X[:1]) == 0).all()
    code = ("import numpy as np, sys; from explorer.projection import pca_preview; "
            "pca_preview(np.eye(5)); print('sklearn' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=str(Path(__file__).resolve().parents[1]))
    assert result.stdout.strip() == "False", result.stderr


def _three_blobs(per_blob: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 16) * 10 + 1
    X = np.vstack([c + rng.normal(0, 0.3, (per_blob, 16)) for c in centres])
    return X, np.repeat(np.arange(3), per_blob)


def test_place_new_points_puts_each_new_point_beside_its_look_alikes():
    from explorer.projection import place_new_points

    X_old, blob_old = _three_blobs(20, seed=1)
    X_new, blob_new = _three_blobs(4, seed=2)
    where = np.array([[0.0, 0.0], [30.0, 0.0], [0.0, 30.0]])
    jitter = np.random.default_rng(3).normal(0, 1, (60, 2))
    known = where[blob_old] + jitter
    X = np.vstack([X_old, X_new, np.zeros((1, 16))])
    coords = place_new_points(X, known, perplexity=5)
    assert coords.shape == (73, 2) and coords.dtype == np.float32
    np.testing.assert_allclose(coords[:60], known, rtol=1e-6)
    placed = coords[60:72]
    nearest_centre = np.argmin(((placed[:, None, :] - where[None]) ** 2).sum(-1), axis=1)
    assert (nearest_centre == blob_new).all()
    assert np.abs(placed - where[blob_new]).max() < 4
    assert np.isnan(coords[72]).all()  # a zero vector has no direction: not placed


def test_place_new_points_checks_its_inputs():
    from explorer.projection import place_new_points

    X, _ = _three_blobs(5)
    with pytest.raises(ValueError, match="known_coords"):
        place_new_points(X, np.zeros((20, 2)))
    with pytest.raises(ValueError, match="known_coords"):
        place_new_points(X, np.zeros((5, 4)))


def test_tsne_from_a_given_layout_keeps_its_arrangement():
    X, blob = _three_blobs(15, seed=4)
    where = np.array([[-10.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    start = where[blob] + np.random.default_rng(5).normal(0, 0.5, (45, 2))
    proj = project(X, method="tsne", perplexity=5, initialization=start, n_iter=100, early_exaggeration_iter=50)
    assert proj.params["initialization"] == "given"
    centres = np.array([proj.coords[blob == b].mean(axis=0) for b in range(3)])
    assert centres[0, 0] < centres[1, 0]  # blob 0 started left of blob 1 and stays there
    assert centres[2, 1] > max(centres[0, 1], centres[1, 1])
    with pytest.raises(ValueError, match="initialization"):
        project(X, method="tsne", initialization=start[:10])
    with pytest.raises(ValueError, match="t-SNE only"):
        project(X, method="pca", initialization=start)


def test_pca_preview_fitted_on_a_sample_places_every_row_like_the_full_one():
    from explorer.projection import pca_preview

    rng = np.random.default_rng(6)
    X = rng.normal(size=(1200, 16)) * np.r_[8.0, 4.0, np.ones(14)] + 20.0  # two clearly ranked axes
    X[5] = np.nan
    full = pca_preview(X)
    quick = pca_preview(X.astype(np.float32), max_rows=100, seed=1)
    assert quick.shape == full.shape and np.isnan(quick[5]).all() and np.isfinite(np.delete(quick, 5, 0)).all()
    ok = np.isfinite(full).all(axis=1)
    for axis in range(2):
        assert abs(np.corrcoef(full[ok, axis], quick[ok, axis])[0, 1]) > 0.99
    with pytest.raises(ValueError, match="max_rows"):
        pca_preview(X, max_rows=1)


def test_float32_kept_by_the_largest_finite_value_read_in_blocks():
    X = np.zeros((10_000, 8), dtype=np.float32)
    X[9_999, 3] = -7.5  # in the last block
    X[5, 0], X[6, 1] = np.inf, np.nan  # neither counts
    assert projection._finite_peak(X, block_rows=4096) == 7.5
    assert projection._as_matrix(X).dtype == np.float32
    X[7_000, 2] = 3e30  # too large for float32 sums of squares: the matrix is promoted
    assert projection._as_matrix(X).dtype == np.float64
