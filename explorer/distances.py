"""Cosine and euclidean distances and exact, memory-bounded k nearest neighbours of feature vectors.

Defined behaviour for awkward vectors (never a NaN in any output):

* **Zero vectors** (e.g. an all-black image under some embedders) have no direction. Their cosine
  similarity with anything, themselves included, is 0, so their cosine distance to every other point
  is 1; the distance of any point to itself is 0 by definition.
* **Rows with NaN or infinite values** are treated as zero vectors by the cosine functions (and so
  get the same defined distances). The euclidean functions have no sensible stand-in for them and
  raise ``ValueError`` naming the rows. :func:`vector_health` reports both cases per row with a
  reason the UI can show, so callers can exclude them instead.
* **Exact duplicates** (identical rows after L2 normalisation, for cosine) have similarity exactly 1
  and distance exactly 0, not 1e-7 of float32 rounding noise.

Cosine work is float32 (matrix products dominate); euclidean work is float64 on centred data,
because ``|x|^2 + |y|^2 - 2 x.y`` in float32 loses the small distances that matter in a 2-D map.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from explorer.singleflight import current_check
from explorer.words import plural

METRICS = ("cosine", "euclidean")
DEFAULT_MAX_BLOCK_BYTES = 256 * 2**20
# Slack on a pre-filter threshold so that entries whose final float32 distance could tie with the
# k-th one are never filtered out (|d(s) - d(t)| can only vanish for |s - t| < 2 ulp(1) ~ 2.4e-7).
_COSINE_SLACK = 1e-6


@dataclass
class VectorHealth:
    """Per-row problems of a set of vectors.

    valid : bool ndarray (n,)
        False for zero vectors and rows with NaN or infinite values.
    reasons : list of str, length n
        "" for valid rows, else "zero vector" or "NaN or infinite values".
    duplicate_of : int64 ndarray (n,)
        Index of the first row with identical values (valid rows only), -1 for none / the first one.
    """

    valid: np.ndarray
    reasons: list[str]
    duplicate_of: np.ndarray

    @property
    def n_invalid(self) -> int:
        return int((~self.valid).sum())

    @property
    def n_duplicates(self) -> int:
        return int((self.duplicate_of >= 0).sum())


def as_matrix(X, name: str = "X", *, dtype=np.float32, finite: bool = False, min_rows: int = 0) -> np.ndarray:
    """X as a contiguous 2-D array of ``dtype`` (None keeps float32/float64 as given), or a ValueError naming the parameter.

    The one validator of vectors in ``explorer``: ``finite`` refuses NaN/inf, ``min_rows`` too few rows.
    """
    try:
        A = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be a 2-D numeric array: {exc}") from None
    if A.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n, d), got shape {A.shape}")
    if A.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {A.dtype}")
    if A.shape[1] == 0 and A.shape[0] > 0:
        raise ValueError(f"{name} has rows of length 0; vectors need at least one dimension")
    if A.shape[0] < min_rows:
        raise ValueError(f"{name} must have at least {plural(min_rows, 'row')} (n, d), got shape {A.shape}")
    if dtype is None:
        dtype = A.dtype if A.dtype in (np.float32, np.float64) else np.float64
    A = np.ascontiguousarray(A, dtype=dtype)
    if finite and not np.isfinite(A).all():
        raise ValueError(f"{name} holds NaN or infinite values; drop those rows first")
    return A


def _finite_rows(A: np.ndarray) -> np.ndarray:
    return np.isfinite(A).all(axis=1)


def vector_health(X) -> VectorHealth:
    """Flag zero vectors, non-finite rows and exact duplicates of X (n, d) row by row."""
    A = as_matrix(X)
    finite = _finite_rows(A)
    nonzero = np.zeros(len(A), bool)
    nonzero[finite] = np.any(A[finite] != 0, axis=1)
    valid = finite & nonzero
    reasons = ["" if v else ("zero vector" if f else "NaN or infinite values")
               for v, f in zip(valid.tolist(), finite.tolist())]
    return VectorHealth(valid=valid, reasons=reasons, duplicate_of=_first_identical(A, valid))


def _first_identical(A: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each selected row, the index of the first selected row with identical values, else -1."""
    out = np.full(len(A), -1, np.int64)
    idx = np.flatnonzero(rows)
    if len(idx) < 2:
        return out
    # + 0.0 turns -0.0 into 0.0 so that comparing bytes is comparing values.
    B = np.ascontiguousarray(A[idx] + np.float32(0.0))
    # Hashing row bytes is far cheaper than sorting whole rows; equal hashes are then checked exactly.
    keys = np.fromiter((hash(row.tobytes()) for row in B), np.int64, len(B))
    order = np.argsort(keys, kind="stable")
    run_starts = np.flatnonzero(np.diff(keys[order]) != 0) + 1
    for run in np.split(order, run_starts):
        if len(run) > 1:
            _mark_identical(B[run], idx[run], out)
    return out


def _mark_identical(rows: np.ndarray, index: np.ndarray, out: np.ndarray) -> None:
    """Within rows sharing a hash (index ascending), point each repeat at its first identical row."""
    voids = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first, inverse = np.unique(voids, return_index=True, return_inverse=True)
    first_of = index[first[inverse.ravel()]]
    dup = first_of != index
    out[index[dup]] = first_of[dup]


def l2_normalize(X, *, dtype=np.float32) -> np.ndarray:
    """Rows of X (n, d) scaled to unit L2 norm; zero and non-finite rows become zero rows.

    The one row normaliser of ``explorer``: ``dtype`` float32 (the default) for distances and maps, None to
    keep float32/float64 as given (the story's float64 training and its gradient checks).
    """
    A = as_matrix(X, dtype=dtype).copy()
    A[~_finite_rows(A)] = 0.0
    # Scaling by the row's largest magnitude first keeps the squared norm from over/underflowing.
    peak = np.abs(A).max(axis=1, keepdims=True) if A.size else np.zeros((len(A), 1), np.float32)
    np.divide(A, peak, out=A, where=peak > 0)
    norm = np.sqrt(np.einsum("ij,ij->i", A, A, dtype=np.float64)).astype(A.dtype)[:, None]
    np.divide(A, norm, out=A, where=norm > 0)
    return A


def _roots(A: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """root[i] = first selected row identical to row i (itself if none); unselected rows are their own."""
    first = _first_identical(A, rows)
    return np.where(first >= 0, first, np.arange(len(A)))


def _groups(root: np.ndarray) -> dict[int, np.ndarray]:
    """root value -> member rows, for groups of more than one row."""
    values, inverse, counts = np.unique(root, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return {int(values[g]): order[bounds[g]:bounds[g + 1]] for g in np.flatnonzero(counts > 1)}


def _nonzero_rows(N: np.ndarray) -> np.ndarray:
    return np.any(N != 0, axis=1) if N.size else np.zeros(len(N), bool)


def cosine_similarity_matrix(X, Y=None) -> np.ndarray:
    """Cosine similarities (n, m) float32 in [-1, 1] between rows of X (n, d) and Y (m, d) (default X).

    Zero/non-finite rows have similarity 0 with everything; identical directions have exactly 1.
    For Y=None the result is exactly symmetric with 1 on the diagonal (0 for zero rows).
    """
    same = Y is None
    Xn = l2_normalize(X)
    Yn = Xn if same else l2_normalize(Y)
    if Xn.shape[1] != Yn.shape[1]:
        raise ValueError(f"X and Y must have the same number of columns, got {Xn.shape[1]} and {Yn.shape[1]}")
    S = Xn @ Yn.T
    np.clip(S, -1.0, 1.0, out=S)
    both = Xn if same else np.concatenate([Xn, Yn])
    root = _roots(both, _nonzero_rows(both))
    root_x, root_y = (root, root) if same else (root[: len(Xn)], root[len(Xn):])
    S[root_x[:, None] == root_y[None, :]] = 1.0
    if same:
        S = (S + S.T) * np.float32(0.5)
        np.fill_diagonal(S, _nonzero_rows(Xn).astype(np.float32))
    return S


def cosine_distance_matrix(X, Y=None) -> np.ndarray:
    """Cosine distances 1 - similarity (n, m) float32 in [0, 2]; exactly 0 on the diagonal for Y=None.

    Builds the whole matrix: meant for small sets (a heatmap). For many points use :func:`knn` or
    :func:`distance_blocks`, which stay within a memory limit.
    """
    D = np.float32(1.0) - cosine_similarity_matrix(X, Y)
    np.clip(D, 0.0, 2.0, out=D)
    if Y is None:
        np.fill_diagonal(D, 0.0)
    return D


def _finite_or_raise(A: np.ndarray, name: str) -> None:
    bad = np.flatnonzero(~_finite_rows(A))
    if len(bad):
        shown = ", ".join(map(str, bad[:5])) + (", ..." if len(bad) > 5 else "")
        raise ValueError(f"{name} has {plural(len(bad), 'row')} with NaN or infinite values (rows {shown}); "
                         "euclidean distances are undefined for them: drop them first (see vector_health)")


def _euclid_prepare(A: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Centred float64 copy: distances are translation invariant and centring shrinks cancellation."""
    return A.astype(np.float64) - centre


def euclidean_distance_matrix(X, Y=None) -> np.ndarray:
    """Euclidean distances (n, m) float32 between rows of X (n, d) and Y (m, d) (default X).

    Computed in float64 on centred data; for Y=None exactly symmetric with a 0 diagonal.
    Rows with NaN/inf raise ValueError (there is no defined distance to them).
    """
    same = Y is None
    A = as_matrix(X)
    B = A if same else as_matrix(Y, "Y")
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"X and Y must have the same number of columns, got {A.shape[1]} and {B.shape[1]}")
    _finite_or_raise(A, "X")
    if not same:
        _finite_or_raise(B, "Y")
    centre = A.astype(np.float64).mean(axis=0) if len(A) else 0.0
    A64 = _euclid_prepare(A, centre)
    B64 = A64 if same else _euclid_prepare(B, centre)
    D = _euclid_from_gram(A64 @ B64.T, _sq_norms(A64), _sq_norms(B64))
    both = A if same else np.concatenate([A, B])
    root = _roots(both, np.ones(len(both), bool))
    root_x, root_y = (root, root) if same else (root[: len(A)], root[len(A):])
    D[root_x[:, None] == root_y[None, :]] = 0.0
    if same:
        D = np.maximum(D, D.T)
        np.fill_diagonal(D, 0.0)
    return D


def _sq_norms(A64: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", A64, A64)


def _euclid_from_gram(G: np.ndarray, sq_rows: np.ndarray, sq_cols: np.ndarray) -> np.ndarray:
    """float32 distances from a float64 Gram block; the one formula both the matrix and knn use."""
    D2 = (sq_rows[:, None] + sq_cols[None, :]) - 2.0 * G
    return np.sqrt(np.maximum(D2, 0.0)).astype(np.float32)


# ----------------------------------------------------------------------------------------- knn

def knn(X, k: int, *, metric: str = "cosine", exclude_self: bool = True,
        max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES, n_jobs: int = 2,
        rows=None, should_stop: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row of X (n, d) among the rows of X.

    ``rows`` (int indices), when given, asks only for those rows' neighbours (still among all rows of
    X); the result then has ``len(rows)`` rows, in that order.

    Returns ``(indices, distances)``, int64 and float32 arrays of shape (n, k), sorted by ascending
    distance; equal distances are ordered by lower index first, so the result is deterministic. It
    is the exact top k of the distances it computes; these equal the full matrices'
    (:func:`cosine_distance_matrix`, :func:`euclidean_distance_matrix`) up to the rounding of the
    dot products, which BLAS may do differently for different block shapes (~1e-7 for cosine), so
    only pairs closer than that can swap against a stable argsort of the matrix. Exact duplicates
    and exactly representable data (ties included) match it bit for bit.

    k must satisfy 1 <= k <= n - 1 (exclude_self) or n (with the point itself); anything else is a
    ValueError naming k (no silent clamping: callers that want a clamp decide it and say so).
    Work is done on row blocks whose similarity block stays below ``max_block_bytes`` in total over
    the ``n_jobs`` worker threads (each runs single-threaded BLAS, so the cores are not
    oversubscribed). Within a block, a per-row threshold from the k-th largest per-chunk maximum —
    a safe lower bound on the k-th largest similarity — leaves only a handful of entries to sort.
    Cosine: zero/non-finite rows are at distance 1 from everything (see module docstring).
    Euclidean: non-finite rows raise ValueError.
    ``should_stop()`` is called before every block (from worker threads); whatever it raises abandons
    the search and propagates (the app stops work for a browser that has gone away). Without one, the
    caller's ``explorer.singleflight.cancel_scope`` check is used (background measures).
    """
    if should_stop is None:
        should_stop = current_check()
    A = as_matrix(X)
    n = len(A)
    k = check_k(k, n, exclude_self=exclude_self)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if not isinstance(max_block_bytes, (int, np.integer)) or max_block_bytes < 1:
        raise ValueError(f"max_block_bytes must be a positive integer, got {max_block_bytes!r}")
    if not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    n_jobs = int(min(n_jobs, os.cpu_count() or 1))
    query = np.arange(n) if rows is None else _check_rows(rows, n)
    m = len(query)
    indices = np.empty((m, k), np.int64)
    distances = np.empty((m, k), np.float32)
    if m == 0:
        return indices, distances
    plan = _cosine_plan(A) if metric == "cosine" else _euclid_plan(A)
    rows_per_block = max(1, int(max_block_bytes // (plan.itemsize * n * n_jobs)))
    rows_per_block = min(rows_per_block, -(-m // n_jobs))
    starts = range(0, m, rows_per_block)
    # One product buffer per worker thread: fresh 100 MB arrays per block cost page faults each time.
    local = threading.local()

    def work(start: int) -> None:
        if should_stop is not None:
            should_stop()
        stop = min(start + rows_per_block, m)
        if not hasattr(local, "buffer"):
            local.buffer = np.empty((rows_per_block, n), plan.rows.dtype)
        idx, dist = _knn_block(plan, query[start:stop], k, exclude_self, local.buffer[: stop - start])
        indices[start:stop], distances[start:stop] = idx, dist

    _run_blocks(work, starts, n_jobs)
    return indices, distances


def _check_rows(rows, n: int) -> np.ndarray:
    """Row indices as int64, each in [0, n); ValueError naming ``rows`` otherwise."""
    idx = np.asarray(rows)
    if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
        raise ValueError(f"rows must be a 1-D array of row indices, got {idx.dtype} of shape {idx.shape}")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"rows must be indices in [0, {n}), got values from {idx.min()} to {idx.max()}")
    return idx


def check_k(k, n: int | None = None, *, exclude_self: bool = True, name: str = "k") -> int:
    """The one check of a neighbour count (or any count ``name``): a positive int, ValueError naming it.

    With ``n`` points it must also fit: k <= n - 1 (``exclude_self``) or n. Nothing is clamped here:
    callers that clamp (the measures) do it themselves and say so in their notes.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"{name} must be a positive integer, got {k!r}")
    k = int(k)
    if n is None:
        if k < 1:
            raise ValueError(f"{name} must be a positive integer, got {k!r}")
        return k
    limit = n - 1 if exclude_self else n
    if k < 1 or (n > 0 and k > limit):
        raise ValueError(f"{name}={k} is out of range: need 1 <= {name} <= {limit} for {n} points"
                         + (" (the point itself is excluded)" if exclude_self else ""))
    return k


def _run_blocks(work: Callable[[int], None], starts, n_jobs: int) -> None:
    """Run work(start) for every block; with several jobs, threads each use one BLAS thread."""
    starts = list(starts)
    if n_jobs == 1 or len(starts) == 1:
        for s in starts:
            work(s)
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(n_jobs) as pool:
        for future in [pool.submit(work, s) for s in starts]:
            future.result()


@dataclass
class _Plan:
    """What a block needs: operands, how to score (larger = nearer) and how scores become distances."""

    rows: np.ndarray            # (n, d) left operand
    cols_t: np.ndarray          # (d, n) right operand, transposed once
    itemsize: int               # bytes per entry of all per-block arrays together
    fix: Callable[[np.ndarray, np.ndarray], np.ndarray]           # (product block, rows) -> score block
    to_distance: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]  # (products, rows, cols)
    root: np.ndarray            # (n,) first identical row: such pairs are at distance exactly 0
    slack: Callable[[np.ndarray, np.ndarray], np.ndarray]         # (threshold, rows) -> lowered threshold


def _cosine_plan(A: np.ndarray) -> _Plan:
    N = l2_normalize(A)
    root = _roots(N, _nonzero_rows(N))
    groups = _groups(root)

    def fix(S, rows):
        # Twins get similarity exactly 1 before selection so rounding can never rank a near-twin first.
        for r, i in enumerate(rows.tolist()):
            members = groups.get(root[i])
            if members is not None:
                S[r, members] = 1.0
        return S

    def to_distance(vals, rows, cols):
        return np.clip(np.float32(1.0) - vals, 0.0, 2.0)

    def slack(t, rows):
        # Sims >= 1 all map to distance 0 (a tie) and sims <= -1 to 2: never cut inside those.
        low = np.minimum(t, 1.0) - _COSINE_SLACK
        return np.where(t <= -1.0 + _COSINE_SLACK, -np.inf, low)

    return _Plan(rows=N, cols_t=np.ascontiguousarray(N.T), itemsize=4, fix=fix,
                 to_distance=to_distance, root=root, slack=slack)


def _euclid_plan(A: np.ndarray) -> _Plan:
    _finite_or_raise(A, "X")
    A64 = _euclid_prepare(A, A.astype(np.float64).mean(axis=0))
    sq = _sq_norms(A64)
    half_sq = 0.5 * sq
    scale = float(sq.max()) if len(sq) else 1.0

    def fix(G, rows):
        # Larger is nearer: x.y - |y|^2 / 2 = (|x|^2 - d^2) / 2. G itself is kept so that distances
        # come from the very same float operations as euclidean_distance_matrix.
        return G - half_sq

    def to_distance(vals, rows, cols):
        return np.sqrt(np.maximum((sq[rows] + sq[cols]) - 2.0 * vals, 0.0)).astype(np.float32)

    def slack(t, rows):
        return t - 1e-6 * (sq[rows] + scale) - 1e-300

    return _Plan(rows=A64, cols_t=np.ascontiguousarray(A64.T), itemsize=16, fix=fix,
                 to_distance=to_distance, root=_roots(A, np.ones(len(A), bool)), slack=slack)


def _knn_block(plan: _Plan, rows: np.ndarray, k: int, exclude_self: bool, out: np.ndarray):
    """Exact neighbours of ``rows``: score block, pre-filter, sort the few survivors."""
    block = plan.rows[rows[0]:rows[-1] + 1] if rows[-1] - rows[0] == len(rows) - 1 else plan.rows[rows]
    G = np.matmul(block, plan.cols_t, out=out)
    S = plan.fix(G, rows)
    if exclude_self:
        S[np.arange(len(rows)), rows] = -np.inf
    cand_r, cand_c = _candidates(S, k, lambda t: plan.slack(t, rows))
    vals = G[cand_r, cand_c]
    dist = plan.to_distance(vals, rows[cand_r], cand_c)
    # Identical rows (and a point with itself) are at exactly 0, not at float rounding noise.
    dist[plan.root[rows[cand_r]] == plan.root[cand_c]] = 0.0
    order = np.lexsort((cand_c, dist, cand_r))
    counts = np.bincount(cand_r, minlength=len(rows))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    take = order[first[:, None] + np.arange(k)]
    return cand_c[take].astype(np.int64), dist[take]


def _chunk_size(n: int, k: int) -> int:
    """Chunks small enough that there are comfortably more chunks than k, large enough to be cheap."""
    return int(np.clip(n // (8 * (k + 1)), 1, 128))


def _candidates(S: np.ndarray, k: int, lower: Callable[[np.ndarray], np.ndarray]):
    """(row, col) of every entry of S that can be among its row's k largest (ties included).

    The k-th largest of the per-chunk row maxima is <= the k-th largest entry (k distinct chunks
    reach it), so entries below it (minus slack for ties after rounding) cannot be in the top k.
    """
    b, n = S.shape
    c = _chunk_size(n, k)
    full = n // c
    S3 = S[:, : full * c].reshape(b, full, c)
    maxima = S3.max(axis=2)
    if full * c < n:
        maxima = np.concatenate([maxima, S[:, full * c:].max(axis=1, keepdims=True)], axis=1)
    n_chunks = maxima.shape[1]
    kth = np.partition(maxima, n_chunks - k, axis=1)[:, n_chunks - k] if n_chunks > k else \
        np.full(b, -np.inf)
    t = lower(kth)
    t = np.where(np.isfinite(kth), t, -np.inf)
    hit_r, hit_c = np.nonzero(maxima >= t[:, None])
    in_full = hit_c < full
    parts_r, parts_c = [], []
    if in_full.any():
        hr, hc = hit_r[in_full], hit_c[in_full]
        block = S3[hr, hc]
        keep = block >= t[hr, None]
        keep &= block > -np.inf
        kr, kc = np.nonzero(keep)
        parts_r.append(hr[kr])
        parts_c.append(hc[kr] * c + kc)
    tail_r = hit_r[~in_full]
    if len(tail_r):
        tail = S[tail_r, full * c:]
        kr, kc = np.nonzero((tail >= t[tail_r, None]) & (tail > -np.inf))
        parts_r.append(tail_r[kr])
        parts_c.append(kc + full * c)
    if not parts_r:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(parts_r), np.concatenate(parts_c)


def distance_blocks(X, *, metric: str = "cosine", max_block_bytes: int = DEFAULT_MAX_BLOCK_BYTES,
                    rows=None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, D)`` with D (b, n) float32 the distances of rows start:start+b to all rows of X.

    The same values (and conventions: self and exact twins at 0) as the full distance matrices, a
    block at a time so that callers needing whole rows (ranks) never hold n x n in memory.
    With ``rows`` (int indices) only those rows are yielded: ``start`` then counts positions in ``rows``.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    A = as_matrix(X)
    n = len(A)
    query = np.arange(n) if rows is None else _check_rows(rows, n)
    plan = _cosine_plan(A) if metric == "cosine" else _euclid_plan(A)
    rows_per_block = max(1, int(max_block_bytes // (plan.itemsize * max(n, 1))))
    cols = np.arange(n)
    for start in range(0, len(query), rows_per_block):
        rows = query[start:start + rows_per_block]
        G = plan.rows[rows] @ plan.cols_t
        products = plan.fix(G, rows) if metric == "cosine" else G
        D = plan.to_distance(products, rows[:, None], cols[None, :])
        D[plan.root[rows][:, None] == plan.root[None, :]] = 0.0
        yield start, D


def row_neighbours(unit, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` cosine-nearest rows to row ``row`` of ``unit`` (rows from :func:`l2_normalize`), itself excluded.

    One matrix-vector product (O(n d)): what a click needs, instead of every row's neighbours. Returns
    ``(indices (k,) int64, distances (k,) float32)`` ordered like :func:`knn` (ascending distance, lower
    index first on ties); k is clamped to n - 1.
    """
    A = as_matrix(unit, "unit")
    n = len(A)
    if not isinstance(row, (int, np.integer)) or not 0 <= row < n:
        raise ValueError(f"row must be an index in [0, {n}), got {row!r}")
    k = int(min(int(k), n - 1))
    if k < 1:
        return np.empty(0, np.int64), np.empty(0, np.float32)
    sims = A @ A[row]
    sims[row] = -np.inf
    candidates = np.argpartition(-sims, k - 1)[:k] if k < n - 1 else np.flatnonzero(np.isfinite(sims))
    # Widen to every row tied with the k-th so the lower-index-first order is exact.
    kth = sims[candidates].min()
    candidates = np.flatnonzero(sims >= kth)
    order = np.lexsort((candidates, -sims[candidates]))[:k]
    idx = candidates[order].astype(np.int64)
    return idx, np.clip(1.0 - sims[idx], 0.0, 2.0).astype(np.float32)
