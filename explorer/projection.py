"""Project feature vectors onto 2-D or 3-D maps (PCA, t-SNE, optional UMAP) without ever crashing on bad rows.

One entry point, :func:`project`. Rows that cannot be placed (NaN/inf values, zero vectors under the cosine
metric) are excluded with a plain-words reason and get NaN coordinates, so the caller can show them in a
"not shown" list instead of a NaN silently poisoning a plot. Degenerate sets (fewer than three distinct
points, all points identical) get a defined layout and a note. Exact duplicate rows are projected once and
drawn next to their twin, because duplicated rows are a known crash/instability source for t-SNE
implementations (scikit-learn issue #28368).
"""

from __future__ import annotations

import importlib.util
import numbers
import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from explorer.distances import as_matrix, knn
from explorer.words import plural

# callback(iteration, coords): coords is (n, n_components) float32 with NaN rows for excluded points.
# Returning True asks the optimisation to stop early (the current layout is then returned).
LayoutCallback = Callable[[int, np.ndarray], Optional[bool]]

METHODS = ("pca", "tsne", "umap")
METRICS = ("cosine", "euclidean")
GRADIENTS = ("auto", "bh", "fft")

# Wide vectors are PCA-reduced before t-SNE: the neighbour search and PCA init get much cheaper and the
# dropped tail is mostly noise. 50 is the usual choice (van der Maaten; openTSNE docs).
TSNE_PCA_DIMS = 50
# Below this many points Barnes-Hut beats FFT interpolation, whose grid has a fixed per-iteration cost.
# Measured here (750 iterations, busy 2-core machine): 1,797 pts BH 55 s vs FFT 139 s; 3,000 x 512
# BH 118 s vs FFT 173 s; issue 3 (quiet machine): digits BH 3.4 s vs FFT 16.9 s, 10k FFT 16-21 s.
BH_MAX_POINTS = 5000
# openTSNE uses exact neighbours below this size and Annoy above; we pass it explicitly to record it.
# (Still what explorer.cluster's placer uses; t-SNE itself now uses NEIGHBOURS_BLAS_MAX below.)
EXACT_NEIGHBOURS_BELOW = 1000
# Up to this many points t-SNE's neighbours are found exactly, by one blocked float32 matrix product
# (explorer.distances.knn), instead of openTSNE's Annoy index: exact and cheaper at these sizes. Measured
# here (busy 2-core machine, 50-d input, 90 neighbours): 1,797 points 0.33 s vs Annoy 2.4 s; 10,000 points
# 4.5 s vs 5.6 s. Brute force grows with n^2, so larger sets keep Annoy.
NEIGHBOURS_BLAS_MAX = 12_000
# t-SNE stops once the layout has stopped moving: the KL divergence fell by less than this share over the
# last CONVERGENCE_EVERY iterations (checked after at least CONVERGENCE_MIN_ITER normal iterations).
# Measured here (issue 17): trustworthiness no longer changes after ~100 normal iterations on digits and on
# 10,000 x 512 (0.9925 and 0.9874 from iteration 100 to 500), while the KL divergence still falls 2-4% per
# 25 iterations there and under 1% from about 175 on; openTSNE's default runs all 500.
CONVERGENCE_TOL = 0.01
CONVERGENCE_EVERY = 25
CONVERGENCE_MIN_ITER = 100
# Below this many points the per-iteration cost of waking OpenMP threads outweighs the work they share
# (measured here: 120 points, 160 iterations: 0.4 s on one thread, 4-15 s on two when the machine is busy).
PARALLEL_MIN_POINTS = 2000
# float32 input is kept as is below this magnitude: 10^4 rows of squares stay far from float32's 3e38.
FLOAT32_SAFE_MAX = 1e15
# Matrix work below this many flops runs on one BLAS thread (see _blas_threads_for).
SMALL_BLAS_FLOPS = 50_000_000
# FFT gradient: openTSNE's interpolation grid grows with the layout's spread, so late iterations of a large
# map dominate. Two unit intervals per grid box instead of one quarters the grid; measured here on
# 10,000 x 512 clustered vectors (750 iterations, one thread): 47.4 s -> 23.8 s, trustworthiness (3k-point
# sample, k=10) 0.9938 both ways.
FFT_INTS_IN_INTERVAL = 2
EARLY_EXAGGERATION = 12.0
MOMENTUM = 0.8
# Iterations of a t-SNE map: exaggerated first, then normal (project() and the cluster's fit alike).
TSNE_EXAGGERATION_ITERATIONS = 250
TSNE_ITERATIONS = 500
# A final layout narrower than this is degenerate (e.g. three equidistant points: every triangle size
# has zero KL divergence, so the optimiser drifts to a point); real t-SNE/UMAP maps span several units.
COLLAPSED_SPREAD = 1e-3
# Duplicates are drawn this fraction of the layout's spread away from their twin: visibly "on top".
DUPLICATE_OFFSET = 0.005


class MethodUnavailable(ValueError):
    """The requested projection method needs an optional package that is not installed."""


class ProjectionError(RuntimeError):
    """The projection library failed; the message names the method, the data size and the cause."""


@dataclass
class Projection:
    """A map of the input rows.

    coords : ndarray (n, n_components) float32
        One row per input row; NaN rows for excluded points.
    method : str
        "pca", "tsne" or "umap".
    params : dict
        The values actually used (e.g. clamped perplexity, gradient method, PCA solver).
    explained_variance_ratio : ndarray (n_components,) or None
        Share of variance along each PCA axis (PCA only).
    notes : list of str
        Plain sentences for the UI about what was adjusted or special.
    excluded : dict of int -> str
        Input row index -> reason it is not on the map.
    """

    coords: np.ndarray
    method: str
    params: dict[str, Any]
    explained_variance_ratio: Optional[np.ndarray] = None
    notes: list[str] = field(default_factory=list)
    excluded: dict[int, str] = field(default_factory=dict)


def pca_preview(X, *, n_components: int = 2, max_rows: Optional[int] = None, seed: int = 0) -> np.ndarray:
    """A quick linear layout to show while a slower projection runs; numpy only (no sklearn import).

    Rows are L2-normalised (the cosine geometry ``project`` uses by default) and centred, then projected
    on their top principal axes, signs fixed so the largest loading is positive. Non-finite rows get NaN.
    ``max_rows``: when there are more usable rows, the axes are fitted on a seeded random sample of that
    many (every row is still placed): seconds instead of tens of seconds on 100,000 wide vectors.
    Returns ndarray of shape (n_samples, n_components), float32.
    """
    if n_components not in (2, 3):
        raise ValueError(f"n_components must be 2 or 3, got {n_components!r}")
    if max_rows is not None and (not _is_int(max_rows) or max_rows < 2):
        raise ValueError(f"max_rows must be an integer >= 2 or None, got {max_rows!r}")
    A = as_matrix(X, dtype=None)
    ok = np.isfinite(A).all(axis=1)
    usable = np.flatnonzero(ok)
    if max_rows is not None and max_rows < len(usable) and max_rows >= A.shape[1]:
        return _sampled_pca_preview(A, usable, n_components, max_rows, seed)
    A = A.astype(np.float64, copy=False)
    ok = np.isfinite(A).all(axis=1)
    out = np.full((len(A), n_components), np.nan, dtype=np.float32)
    Z = A[ok] / np.maximum(np.linalg.norm(A[ok], axis=1, keepdims=True), 1e-12)
    Z -= Z.mean(axis=0) if len(Z) else 0.0
    if len(Z) < 2:
        out[ok] = 0.0
        return out
    # Eigen-decompose the smaller of the two Gram matrices: cheap for tall and for wide data.
    if Z.shape[0] >= Z.shape[1]:
        _, vecs = np.linalg.eigh(Z.T @ Z)
        axes = vecs[:, ::-1][:, :n_components]
        axes *= np.where(axes[np.abs(axes).argmax(axis=0), range(axes.shape[1])] < 0, -1.0, 1.0)
        Y = Z @ axes
    else:
        vals, vecs = np.linalg.eigh(Z @ Z.T)
        Y = vecs[:, ::-1][:, :n_components] * np.sqrt(np.maximum(vals[::-1][:n_components], 0.0))
        loadings = Z.T @ Y
        Y *= np.where(loadings[np.abs(loadings).argmax(axis=0), range(Y.shape[1])] < 0, -1.0, 1.0)
    out[ok, : Y.shape[1]] = Y
    out[ok, Y.shape[1]:] = 0.0
    return out


def _sampled_pca_preview(A: np.ndarray, usable: np.ndarray, k: int, max_rows: int, seed: int) -> np.ndarray:
    fit = np.sort(np.random.default_rng(seed).choice(usable, max_rows, replace=False))
    Z = A[fit].astype(np.float64)
    Z /= np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
    mean = Z.mean(axis=0)
    Z -= mean
    _, vecs = np.linalg.eigh(Z.T @ Z)
    axes = vecs[:, ::-1][:, :k]
    axes *= np.where(axes[np.abs(axes).argmax(axis=0), range(k)] < 0, -1.0, 1.0)
    out = np.full((len(A), k), np.nan, dtype=np.float32)
    axes32, offset = axes.astype(np.float32), (mean @ axes).astype(np.float32)
    for start in range(0, len(usable), 20_000):  # float32 blocks: no float64 copy of the whole set
        rows = usable[start:start + 20_000]
        block = A[rows].astype(np.float32)
        block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        out[rows] = block @ axes32 - offset
    return out


def available_methods() -> list[str]:
    """Projection methods usable here: "pca", "tsne", and "umap" when umap-learn is installed.

    Only looks the package up: importing umap (and numba) costs seconds, which the app's first screen
    should not pay for a method it may never use. A broken install is reported when UMAP is run.
    """
    return [m for m in METHODS if m != "umap" or importlib.util.find_spec("umap") is not None]


def project(
    X: np.ndarray,
    *,
    method: str = "pca",
    n_components: int = 2,
    random_state: int = 0,
    perplexity: float = 30.0,
    callback: Optional[LayoutCallback] = None,
    callback_every: int = 25,
    metric: str = "cosine",
    n_iter: int = TSNE_ITERATIONS,
    early_exaggeration_iter: int = TSNE_EXAGGERATION_ITERATIONS,
    gradient: str = "auto",
    n_neighbors: int = 15,
    n_jobs: int = 2,
    initialization: Optional[np.ndarray] = None,
    convergence_tol: Optional[float] = CONVERGENCE_TOL,
) -> Projection:
    """Project the rows of ``X`` (n, d) to ``n_components`` (2 or 3) dimensions.

    metric="cosine" (default) L2-normalises rows first, so every method sees the cosine geometry
    (euclidean distance between unit vectors is a monotone function of cosine distance); zero vectors
    are then excluded. metric="euclidean" uses the rows as given.

    t-SNE (openTSNE): ``n_iter`` normal iterations after ``early_exaggeration_iter`` exaggerated ones;
    ``gradient`` "auto" picks Barnes-Hut below ``BH_MAX_POINTS`` points (and always in 3-D), FFT above.
    ``callback(iteration, coords)`` receives the layout every ``callback_every`` iterations (iterations
    counted across both phases); returning True stops early. UMAP uses ``n_neighbors``.
    ``initialization`` (n, n_components), t-SNE only: start from this layout instead of PCA (rescaled the
    way openTSNE expects), e.g. an earlier map with new points placed by :func:`place_new_points`.
    ``convergence_tol``, t-SNE only: stop the normal phase once the KL divergence fell by less than this
    share over the last ``CONVERGENCE_EVERY`` iterations (the layout has stopped moving); None runs all
    ``n_iter``. ``params["iterations"]`` says how many ran.

    Returns a :class:`Projection` whose ``coords`` are (n, n_components) float32, NaN for excluded rows.
    Raises ValueError naming the bad parameter, MethodUnavailable for UMAP without umap-learn.
    """
    X = _validate(X, method=method, n_components=n_components, random_state=random_state,
                  perplexity=perplexity, callback=callback, callback_every=callback_every, metric=metric,
                  n_iter=n_iter, early_exaggeration_iter=early_exaggeration_iter, gradient=gradient,
                  n_neighbors=n_neighbors, n_jobs=n_jobs)
    if convergence_tol is not None and (not isinstance(convergence_tol, numbers.Real) or isinstance(
            convergence_tol, bool) or not 0 <= float(convergence_tol) < 1):
        raise ValueError(f"convergence_tol must be a number in [0, 1) or None, got {convergence_tol!r}")
    rows, kept, excluded = _clean_rows(X, metric=metric)
    n, k = X.shape[0], n_components
    init = _check_initialization(initialization, method, n, k)
    params: dict[str, Any] = {"method": method, "n_components": k, "random_state": random_state,
                              "metric": metric, "n_points": int(len(kept))}
    notes = _exclusion_notes(excluded, n)
    evr = None
    scatter = _Scatter(n, kept, k)
    if method == "pca":
        coords, evr, used, more = _run_pca(rows, k, random_state)
    else:
        options = dict(perplexity=perplexity, random_state=random_state, callback=callback,
                       callback_every=callback_every, n_iter=n_iter,
                       early_exaggeration_iter=early_exaggeration_iter, gradient=gradient,
                       n_neighbors=n_neighbors, n_jobs=n_jobs, convergence_tol=convergence_tol,
                       initialization=None if init is None else init[kept])
        coords, used, more = _deduplicated(method, rows, k, scatter, random_state, options)
    params.update(used)
    return Projection(coords=scatter(coords), method=method, params=params,
                      explained_variance_ratio=evr, notes=notes + more, excluded=excluded)


def _check_initialization(initialization, method: str, n: int, k: int) -> Optional[np.ndarray]:
    if initialization is None:
        return None
    if method != "tsne":
        raise ValueError(f"initialization is for t-SNE only, not {method!r}")
    init = np.asarray(initialization, dtype=np.float64)
    if init.shape != (n, k) or not np.isfinite(init).all():
        raise ValueError(f"initialization must be a finite ({n}, {k}) array, got shape {init.shape}")
    return init


def place_new_points(X, known_coords, *, perplexity: float = 30.0, k: int = 25, random_state: int = 0):
    """Coordinates for every row of ``X`` (n, d): the first m rows keep ``known_coords`` (m, 2|3), each
    later row goes to the median map position of its ``k`` nearest known rows (cosine geometry).

    This is openTSNE's way of adding points to an existing embedding (``TSNEEmbedding.prepare_partial``,
    median initialisation): new images appear at once beside their look-alikes, before any optimisation.
    Rows that cannot be placed (NaN, zero vector) get NaN. Returns float32 (n, dims).
    """
    from openTSNE import TSNEEmbedding, affinity

    A = as_matrix(X, dtype=np.float64)
    known = np.asarray(known_coords, dtype=np.float64)
    m, n = len(known), len(A)
    if known.ndim != 2 or known.shape[1] not in (2, 3) or not 0 < m <= n:
        raise ValueError(f"known_coords must be (m, 2|3) with 0 < m <= {n} rows, got shape {known.shape}")
    if not _is_int(k) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    out = np.full((n, known.shape[1]), np.nan, dtype=np.float32)
    out[:m] = known
    rows, kept, _ = _clean_rows(A, metric="cosine")
    usable = np.zeros(n, dtype=bool)
    usable[:m] = np.isfinite(known).all(axis=1)
    old = kept[usable[kept]]
    new = kept[kept >= m]
    if not len(new) or not len(old):
        return out
    position = {int(i): j for j, i in enumerate(kept)}
    Zk = rows[[position[int(i)] for i in old]]
    Zn = rows[[position[int(i)] for i in new]]
    if len(old) < 4:  # too few for perplexity-based neighbours: the known centre
        out[new] = np.nanmean(known[old], axis=0)
        return out
    kk = int(min(k, len(old) - 1))
    aff = affinity.PerplexityBasedNN(Zk, perplexity=min(float(perplexity), (len(old) - 1) / 3),
                                     metric="euclidean", method="exact" if len(old) < EXACT_NEIGHBOURS_BELOW
                                     else "annoy", random_state=random_state, n_jobs=1, verbose=False)
    embedding = TSNEEmbedding(known[old], aff, random_state=random_state)
    partial = embedding.prepare_partial(Zn, initialization="median", k=kk)
    out[new] = np.asarray(partial, dtype=np.float32)
    return out


# --- validation -----------------------------------------------------------------------------------------


def _validate(X, *, method, n_components, random_state, perplexity, callback, callback_every, metric,
              n_iter, early_exaggeration_iter, gradient, n_neighbors, n_jobs) -> np.ndarray:
    """Check every parameter once; return X as a float (n, d) array (float32 kept when safe)."""
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
    if method == "umap" and _umap_module() is None:
        raise MethodUnavailable("method 'umap' needs the umap-learn package: "
                                "pip install -r requirements-umap.txt")
    if not _is_int(n_components) or n_components not in (2, 3):
        raise ValueError(f"n_components must be 2 or 3, got {n_components!r}")
    if not _is_int(random_state) or random_state < 0:
        raise ValueError(f"random_state must be a non-negative integer, got {random_state!r}")
    if not isinstance(perplexity, numbers.Real) or isinstance(perplexity, bool) \
            or not np.isfinite(perplexity) or perplexity <= 0:
        raise ValueError(f"perplexity must be a positive number, got {perplexity!r}")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable or None, got {type(callback).__name__}")
    for name, value, low in (("callback_every", callback_every, 1), ("n_iter", n_iter, 0),
                             ("early_exaggeration_iter", early_exaggeration_iter, 0),
                             ("n_neighbors", n_neighbors, 2), ("n_jobs", n_jobs, 1)):
        if not _is_int(value) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not one of {', '.join(METRICS)}")
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient {gradient!r} is not one of {', '.join(GRADIENTS)}")
    return _as_matrix(X)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _as_matrix(X) -> np.ndarray:
    arr = as_matrix(X, dtype=None)
    if arr.dtype == np.float32 and arr.size and _finite_peak(arr) < FLOAT32_SAFE_MAX:
        return arr  # float32 halves the PCA cost; values this small cannot overflow its sums of squares
    return arr.astype(np.float64, copy=False)


def _finite_peak(arr: np.ndarray, block_rows: int = 4096) -> float:
    """The largest finite |value|, in blocks of rows: whole-matrix temporaries cost 0.9 GB at 100k x 1,024."""
    peak = 0.0
    for start in range(0, len(arr), block_rows):
        block = arr[start:start + block_rows]
        finite = block[np.isfinite(block)]
        if finite.size:
            peak = max(peak, float(finite.max()), float(-finite.min()))
    return peak


# --- row health -----------------------------------------------------------------------------------------


def _clean_rows(X: np.ndarray, *, metric: str) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Return (usable rows (m, d) float64, their input indices (m,), excluded {index: reason})."""
    finite = np.isfinite(X).all(axis=1)
    excluded = {int(i): "contains NaN or infinite values" for i in np.flatnonzero(~finite)}
    rows = X if finite.all() else X[finite]  # no copy of a clean matrix (100k x 1,024 is 400 MB)
    kept = np.flatnonzero(finite)
    if metric == "cosine" and len(rows):
        # Scale by the largest entry first so huge values cannot overflow the norm; max/min, not abs(), so no
        # temporary the size of the data.
        peak = np.maximum(rows.max(axis=1), -rows.min(axis=1))
        zero = peak == 0
        for i in kept[zero]:
            excluded[int(i)] = "zero vector: it has no direction, so its cosine distance is undefined"
        if zero.any():
            rows, kept, peak = rows[~zero], kept[~zero], peak[~zero]
        rows = rows / peak[:, None]
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows, kept, dict(sorted(excluded.items()))


def _exclusion_notes(excluded: dict[int, str], n: int) -> list[str]:
    counts: dict[str, int] = {}
    for reason in excluded.values():
        counts[reason] = counts.get(reason, 0) + 1
    return [f"{c} of {n} points not shown: {reason}." for reason, c in counts.items()]


class _Scatter:
    """Put the coordinates of the kept rows back into an (n, k) float32 array with NaN rows elsewhere."""

    def __init__(self, n: int, kept: np.ndarray, k: int):
        self.n, self.kept, self.k = n, kept, k

    def __call__(self, coords: np.ndarray) -> np.ndarray:
        out = np.full((self.n, self.k), np.nan, dtype=np.float32)
        out[self.kept] = coords
        return out


# --- PCA ------------------------------------------------------------------------------------------------


COVARIANCE_MAX_FEATURES = 4096


def choose_pca_solver(n_samples: int, n_features: int) -> str:
    """Fastest exact-enough scikit-learn PCA solver for this shape.

    Tall-skinny data: eigen-decomposing the d x d covariance costs one n*d^2 product, ~9x faster than a
    full SVD at 10k x 512, and needs no n x d copy beside the data: a full SVD of 100k x 1,024 float32
    peaked 1.74 GB above the data, the covariance 0.78 GB, 4x sooner, same coordinates (measured here). Up
    to the app's largest vectors (4,096 dimensions: a 128 MB covariance). Otherwise a full SVD of the
    smaller side.
    """
    if n_features <= COVARIANCE_MAX_FEATURES and n_samples >= 4 * n_features:
        return "covariance_eigh"
    return "full"


def _pca(Z: np.ndarray, k: int, random_state: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Top-k principal coordinates (m, k) and variance ratios (k,), zero-padded when rank is short."""
    from sklearn.decomposition import PCA

    m, d = Z.shape
    coords = np.zeros((m, k))
    ratios = np.zeros(k)
    k_fit = min(k, m, d)
    solver = choose_pca_solver(m, d)
    if m < 2 or not np.any(Z != Z[0]):
        return coords, ratios, solver
    model = PCA(n_components=k_fit, svd_solver=solver, random_state=random_state)
    with _blas_threads_for(m * d * min(m, d)):
        coords[:, :k_fit] = model.fit_transform(Z)
    ratios[:k_fit] = np.nan_to_num(model.explained_variance_ratio_)
    return coords, ratios, solver


def _blas_threads_for(flops: int):
    """One BLAS thread for small problems: threads gain nothing there, and on a busy machine OpenBLAS's
    waiting threads made a 120 x 576 SVD take 5-9 s instead of 0.1 s (measured here)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas") if flops < SMALL_BLAS_FLOPS else nullcontext()


def _run_pca(rows: np.ndarray, k: int, random_state: int):
    coords, ratios, solver = _pca(rows, k, random_state)
    notes = []
    m, d = rows.shape
    if m == 1:
        notes.append("Only one point to show: it is placed at the origin.")
    elif m > 1 and not ratios.any():
        notes.append(f"All {m} points are identical: there is no variance to show, so all sit at the origin.")
    elif m > 1 and min(m, d) < k:
        notes.append(f"The data has only {plural(min(m, d), 'independent direction')}; the remaining axis is flat.")
    return coords, ratios, {"svd_solver": solver}, notes


# --- duplicates and tiny sets (t-SNE / UMAP) ------------------------------------------------------------


def _deduplicated(method: str, rows: np.ndarray, k: int, scatter: _Scatter, random_state: int,
                  options: dict):
    """Run t-SNE or UMAP on the distinct rows only; place each duplicate next to its first occurrence."""
    unique_rows, inverse = _unique_rows(rows)
    expand = _DuplicateExpander(inverse, k, random_state)
    notes = []
    if expand.n_duplicates:
        notes.append(f"{plural(expand.n_duplicates, 'point')} duplicate another point's vector (or its direction, "
                     "under cosine); each is drawn right next to its twin.")
    m = len(unique_rows)
    if m < 3:
        return expand(_tiny_layout(m, k)), {}, notes + _tiny_notes(m, len(rows))
    user_callback = options.pop("callback")
    if user_callback is not None:
        options["callback"] = lambda it, c: user_callback(it, scatter(expand(c)))
    else:
        options["callback"] = None
    if options.get("initialization") is not None:
        _, first = np.unique(inverse, return_index=True)  # inverse ranks distinct rows in first-seen order
        options["initialization"] = options["initialization"][first]
    run, label = (_run_tsne, "t-SNE") if method == "tsne" else (_run_umap, "UMAP")
    coords, used, more = run(unique_rows, k, **options)
    if not np.all(np.isfinite(coords)) or np.ptp(coords, axis=0).max() < COLLAPSED_SPREAD:
        coords, _, _ = _pca(unique_rows, k, random_state)
        used = {**used, "fallback": "pca"}
        more.append(f"The {label} layout collapsed to a point "
                    f"(too few or too symmetric points); showing the PCA layout of the {m} distinct points "
                    "instead.")
    return expand(coords), used, notes + more


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows in order of first appearance, and for each input row the index of its distinct row.

    Rows equal after rounding to 1e-12 of the largest entry count as one: under cosine, x and 3x normalise
    to vectors that differ only by rounding, and for t-SNE such near-twins are as troublesome as exact ones.
    """
    if len(rows) == 0:
        return rows, np.zeros(0, dtype=np.int64)
    scale = float(np.abs(rows).max()) or 1.0
    # Adding 0.0 maps -0.0 to 0.0 so the byte comparison below matches numeric equality.
    flat = np.ascontiguousarray(np.round(rows / scale, 12) + 0.0)
    keys = flat.view(np.dtype((np.void, flat.dtype.itemsize * flat.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rows[first[order]], rank[inverse.ravel()]


class _DuplicateExpander:
    """Map coordinates of distinct rows back to all rows, offsetting duplicates by a tiny fixed amount."""

    def __init__(self, inverse: np.ndarray, k: int, random_state: int):
        self.inverse = inverse
        is_first = np.zeros(len(inverse), dtype=bool)
        if len(inverse):
            _, first = np.unique(inverse, return_index=True)
            is_first[first] = True
        self.dup = np.flatnonzero(~is_first)
        self.n_duplicates = len(self.dup)
        direction = np.random.default_rng(random_state).normal(size=(len(self.dup), k))
        self.direction = direction / np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)

    def __call__(self, unique_coords: np.ndarray) -> np.ndarray:
        coords = np.asarray(unique_coords, dtype=np.float64)[self.inverse]
        if self.n_duplicates:
            spread = float(np.ptp(unique_coords, axis=0).max()) if len(unique_coords) > 1 else 0.0
            coords[self.dup] += self.direction * DUPLICATE_OFFSET * (spread or 1.0)
        return coords


def _tiny_layout(m: int, k: int) -> np.ndarray:
    """Fixed layout for fewer than three distinct points: the origin, or two points on the x axis."""
    coords = np.zeros((m, k))
    if m == 2:
        coords[:, 0] = (-1.0, 1.0)
    return coords


def _tiny_notes(m: int, n_rows: int) -> list[str]:
    if m == 0:
        return ["No valid points to project."]
    if m == 1:
        what = "one point" if n_rows == 1 else f"all {n_rows} points are identical"
        return [f"Nothing to lay out ({what}): placed at the origin."]
    return ["Only two distinct points: they are placed on a line (a map needs at least three)."]


# --- t-SNE ----------------------------------------------------------------------------------------------


def _run_tsne(Z: np.ndarray, k: int, *, perplexity, random_state, callback, callback_every, n_iter,
              early_exaggeration_iter, gradient, n_jobs, initialization=None, convergence_tol=None, **_):
    """openTSNE on distinct rows Z (m, d), m >= 3. Returns (coords (m, k), params used, notes)."""
    import openTSNE
    from openTSNE.tsne import OptimizationInterrupt

    m = len(Z)
    notes: list[str] = []
    Z, reduced_dims = _reduce_for_tsne(Z, k, random_state)
    used_perplexity = tsne_perplexity(perplexity, m, notes)
    method = _gradient_method(gradient, m, k, notes)
    n_jobs = _threads(n_jobs, m)
    neighbours, knn_index = _tsne_neighbours(Z, used_perplexity, n_jobs)
    tsne = openTSNE.TSNE(n_components=k, perplexity=used_perplexity, metric="euclidean",
                         initialization="pca", neighbors=neighbours if knn_index is None else "auto",
                         negative_gradient_method=method, ints_in_interval=FFT_INTS_IN_INTERVAL, n_jobs=n_jobs,
                         random_state=random_state, verbose=False)
    used = {"perplexity": used_perplexity, "perplexity_requested": float(perplexity), "gradient": method,
            "neighbors": neighbours, "input_dims": reduced_dims, "n_iter": n_iter,
            "early_exaggeration_iter": early_exaggeration_iter, "n_jobs": n_jobs,
            "initialization": "pca" if initialization is None else "given", "n_distinct_points": m,
            "convergence_tol": convergence_tol}
    if method == "fft":
        used["fft_ints_in_interval"] = FFT_INTS_IN_INTERVAL
    watch = _Convergence(convergence_tol, early_exaggeration_iter)
    try:
        with _blas_threads_for(m * Z.shape[1] * min(m, Z.shape[1])):
            embedding = _initial_embedding(tsne, Z, used_perplexity, knn_index, initialization, n_jobs,
                                           random_state)
        phases = ((early_exaggeration_iter, EARLY_EXAGGERATION), (n_iter, None))
        done = 0
        for iters, exaggeration in phases:
            if iters == 0:
                continue
            embedding.optimize(n_iter=iters, exaggeration=exaggeration, momentum=MOMENTUM, inplace=True,
                               propagate_exception=True,
                               **_callbacks(callback, callback_every, done, watch if exaggeration is None else None))
            done += iters
    except OptimizationInterrupt as stop:
        embedding = stop.final_embedding
        if not watch.converged:
            notes.append("The caller stopped t-SNE early; this is the layout at that point.")
    except Exception as exc:
        raise ProjectionError(f"t-SNE failed on {m} points (perplexity {used_perplexity:.3g}, "
                              f"{method}): {exc}") from exc
    used["iterations"] = early_exaggeration_iter + (watch.stopped_at if watch.converged else n_iter)
    return np.asarray(embedding, dtype=np.float64), used, notes


def tsne_perplexity(perplexity: float, m: int, notes: list[str]) -> float:
    """The perplexity t-SNE can use on ``m`` distinct points (at most (m - 1) / 3); a note when lowered."""
    used = min(float(perplexity), (m - 1) / 3)
    if used < perplexity:
        notes.append(f"Perplexity lowered from {perplexity:g} to {used:.3g} "
                     f"for {m} distinct points (t-SNE needs at least 3 x perplexity neighbours).")
    return used


def fit_tsne_embedding(Z: np.ndarray, k: int, *, perplexity: float = 30.0, random_state: int = 0,
                       n_jobs: int = 2, gradient: str = "auto") -> tuple[Any, list[str]]:
    """(openTSNE ``TSNEEmbedding``, notes) of distinct rows Z (m, d), fitted with ``project()``'s t-SNE setup
    (perplexity clamp, gradient method, neighbours, iterations): the embedding can place further points
    with its ``transform`` (``explorer.cluster.placement``)."""
    import openTSNE

    Z = np.ascontiguousarray(Z, dtype=np.float64)
    m = len(Z)
    notes: list[str] = []
    used_perplexity = tsne_perplexity(perplexity, m, notes)
    method = _gradient_method(gradient, m, k, notes)
    tsne = openTSNE.TSNE(n_components=k, perplexity=used_perplexity, metric="euclidean", initialization="pca",
                         neighbors="exact" if m < EXACT_NEIGHBOURS_BELOW else "annoy",
                         negative_gradient_method=method, ints_in_interval=FFT_INTS_IN_INTERVAL,
                         n_jobs=n_jobs if m >= PARALLEL_MIN_POINTS else 1, random_state=random_state, verbose=False)
    embedding = tsne.prepare_initial(Z)
    embedding.optimize(n_iter=TSNE_EXAGGERATION_ITERATIONS, exaggeration=EARLY_EXAGGERATION, momentum=MOMENTUM,
                       inplace=True)
    embedding.optimize(n_iter=TSNE_ITERATIONS, momentum=MOMENTUM, inplace=True)
    return embedding, notes


def usable_rows(X: np.ndarray, *, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """(usable rows (m, d) float64, their input indices, excluded {index: reason}): the row checks of ``project``."""
    return _clean_rows(X, metric=metric)


def distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows, inverse index) as ``project`` deduplicates before a layout."""
    return _unique_rows(rows)


def _threads(n_jobs: int, m: int) -> int:
    """Threads for openTSNE: one for small sets, and no more than the cores the machine has free — on a busy
    machine openTSNE's threads wait on each other (measured here, load 6 on 2 cores: openTSNE's digits map
    took 26 s on two threads and 8.5 s on one)."""
    if m < PARALLEL_MIN_POINTS or n_jobs == 1:
        return 1
    try:
        free = (os.cpu_count() or 1) - os.getloadavg()[0]
    except OSError:  # no load average on this platform
        return n_jobs
    return int(max(1, min(n_jobs, round(free + 0.5))))


def _tsne_neighbours(Z: np.ndarray, perplexity: float, n_jobs: int):
    """("exact", openTSNE PrecomputedNeighbors) up to NEIGHBOURS_BLAS_MAX points, else ("annoy", None)."""
    m = len(Z)
    if m > NEIGHBOURS_BLAS_MAX:
        return "annoy", None
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    k = min(m - 1, int(3 * perplexity))  # openTSNE's own choice of k for this perplexity
    idx, dist = knn(Z.astype(np.float32), k, metric="euclidean", n_jobs=n_jobs)
    return "exact", PrecomputedNeighbors(idx, dist.astype(np.float64))


def _initial_embedding(tsne, Z, perplexity, knn_index, initialization, n_jobs, random_state):
    """openTSNE's starting embedding: its affinities (from our neighbours when given) and a PCA or given start."""
    from openTSNE import affinity
    from openTSNE.initialization import rescale

    start = None
    if initialization is not None:
        start = rescale(np.ascontiguousarray(initialization - np.mean(initialization, axis=0), dtype=np.float64))
    if knn_index is None:
        return tsne.prepare_initial(Z, initialization=start)
    # The affinity openTSNE's TSNE builds by default, over the neighbours found here.
    aff = affinity.MultiscaleMixture(perplexities=[perplexity], knn_index=knn_index, n_jobs=n_jobs,
                                     random_state=random_state, verbose=False)
    return tsne.prepare_initial(Z, affinities=aff, initialization=start)


class _Convergence:
    """Watches the KL divergence in the normal phase; True from the callback stops openTSNE (converged)."""

    def __init__(self, tol: Optional[float], offset: int):
        self.tol, self.offset = tol, offset
        self.last: Optional[float] = None
        self.converged = False
        self.stopped_at = 0

    def __call__(self, iteration: int, error: float) -> bool:
        if self.tol is None:
            return False
        previous, self.last = self.last, float(error)
        if previous is None or iteration < CONVERGENCE_MIN_ITER or not np.isfinite(error) or previous <= 0:
            return False
        if (previous - error) / previous < self.tol:
            self.converged, self.stopped_at = True, iteration
        return self.converged


def _reduce_for_tsne(Z: np.ndarray, k: int, random_state: int) -> tuple[np.ndarray, int]:
    """PCA-reduce wide input (keeps euclidean distances nearly intact); pad when narrower than k."""
    m, d = Z.shape
    if d > TSNE_PCA_DIMS:
        Z, _, _ = _pca(Z, min(TSNE_PCA_DIMS, m), random_state)
    if Z.shape[1] < k:
        # openTSNE's PCA initialisation needs at least k input columns; a flat extra axis is harmless.
        Z = np.hstack([Z, np.zeros((m, k - Z.shape[1]))])
    return np.ascontiguousarray(Z), Z.shape[1]


def _gradient_method(gradient: str, m: int, k: int, notes: list[str]) -> str:
    if k == 3:
        if gradient == "fft":
            notes.append("FFT gradients are 2-D only; Barnes-Hut was used for the 3-D map.")
        return "bh"
    if gradient == "auto":
        return "bh" if m < BH_MAX_POINTS else "fft"
    return gradient


def _callbacks(callback, every: int, offset: int, watch: Optional[_Convergence] = None) -> dict:
    """openTSNE callback options reporting (global iteration, coords) to ``callback`` and, in the normal
    phase, the KL divergence to ``watch`` every CONVERGENCE_EVERY iterations."""
    if callback is None and (watch is None or watch.tol is None):
        return {"callbacks": None}
    step = every if watch is None or watch.tol is None else int(np.gcd(every, CONVERGENCE_EVERY))

    def report(iteration, error, embedding):
        stop = False
        if callback is not None and iteration % every == 0:
            stop = bool(callback(offset + iteration, np.array(embedding, dtype=np.float32)))
        if watch is not None and iteration % CONVERGENCE_EVERY == 0:
            stop = watch(iteration, error) or stop
        return stop

    return {"callbacks": report, "callbacks_every_iters": step}


# --- UMAP -----------------------------------------------------------------------------------------------


def _umap_module():
    try:
        import umap  # noqa: F401  (optional dependency)
    except Exception:  # ImportError, or a broken numba install
        return None
    return umap


def _run_umap(Z: np.ndarray, k: int, *, random_state, callback, n_neighbors, **_):
    """umap-learn on distinct rows Z (m, d), m >= 3. Returns (coords (m, k), params used, notes)."""
    umap = _umap_module()
    m = len(Z)
    notes = []
    used_neighbours = min(n_neighbors, m - 1)
    if used_neighbours < n_neighbors:
        notes.append(f"UMAP neighbours lowered from {n_neighbors} to {used_neighbours} for {m} distinct points.")
    if callback is not None:
        notes.append("UMAP does not report intermediate layouts; only the final map is shown.")
    Z, reduced_dims = _reduce_for_tsne(Z, k, random_state)
    # Tiny sets break UMAP's spectral initialisation; random init is well defined for any size.
    init = "spectral" if m > k + 1 + used_neighbours else "random"
    model = umap.UMAP(n_components=k, n_neighbors=used_neighbours, metric="euclidean", init=init,
                      random_state=random_state)
    try:
        coords = model.fit_transform(Z)
    except Exception as exc:
        raise ProjectionError(f"UMAP failed on {m} points: {exc}") from exc
    used = {"n_neighbors": used_neighbours, "input_dims": reduced_dims, "init": init, "n_distinct_points": m}
    return np.asarray(coords, dtype=np.float64), used, notes
