"""Maps of many points: what a click, a zoom or a box needs, answered from arrays already in memory.

A map of a million points cannot be sent to a browser point by point, and a click must not recompute
anything that does not depend on it. This module holds the pure-numpy pieces behind that:

- :class:`NeighbourIndex` — the cosine-nearest rows to one row among *all* rows (one matrix-vector
  product, no normalised copy of the vectors: a million 512-d rows stay one 2 GB array, not two);
- :func:`density_grid` — point counts on a regular grid (the layer drawn where points overlap);
- :func:`display_rows` — the seeded sample of rows drawn as clickable points over that layer;
- :func:`rows_in_box`, :func:`rows_in_polygon`, :func:`region_rows` — the real points of a zoomed
  region or of a box/lasso selection, found over all rows;
- :func:`measure_sample` — the stated sample the map's measures are estimated on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from explorer.distances import as_matrix, check_k
from explorer.measures import sample_rows

# Above this many points the map is drawn as a density layer under a sample of points; at or below it
# every point is drawn (100,000 WebGL points draw in about a second in Chromium, measured in issue 17).
LARGE_MAP_ABOVE = 200_000
# Points drawn over the density layer of a large map: enough to click anywhere there is something,
# few enough that the browser draws them in well under a second.
DISPLAY_SAMPLE = 30_000
# A zoomed region with more points than this shows a seeded sample of them (the density layer shows the rest).
REGION_LIMIT = 20_000
# Density grid cells along the longer axis of the map.
DENSITY_BINS = 320
# Points the measures of a large map are estimated on (neighbours counted within the sample).
MEASURE_SAMPLE = 10_000
# Rows per block of the neighbour product: bounds the temporary similarity block, not the answer.
QUERY_BLOCK = 262_144


@dataclass(frozen=True)
class DensityGrid:
    """Point counts on a grid: ``counts`` (ny, nx) int64 over ``x_edges`` (nx + 1,) and ``y_edges`` (ny + 1,)."""

    counts: np.ndarray
    x_edges: np.ndarray
    y_edges: np.ndarray

    @property
    def total(self) -> int:
        return int(self.counts.sum())


class NeighbourIndex:
    """Cosine neighbours of one row among all rows of ``vectors`` (n, d), without copying them.

    Rows that are not finite or are all zero have no direction: they are never anyone's neighbour and
    have none themselves (an empty answer). The order matches ``explorer.distances.row_neighbours``:
    ascending cosine distance, lower row first on ties.
    """

    def __init__(self, vectors: np.ndarray):
        self.vectors = as_matrix(vectors, "vectors", dtype=None)
        if self.vectors.dtype not in (np.float32, np.float64):
            self.vectors = self.vectors.astype(np.float32)
        self.inv_norm = self._inverse_norms(self.vectors)

    @staticmethod
    def _inverse_norms(A: np.ndarray) -> np.ndarray:
        """1 / |row| (float64), 0 for rows with no direction; float32 sums of squares, block by block (no
        float64 copy of a million rows), redone in float64 only for rows whose float32 sum over- or underflowed."""
        inv = np.zeros(len(A), dtype=np.float64)
        for start in range(0, len(A), QUERY_BLOCK):
            block = A[start:start + QUERY_BLOCK]
            with np.errstate(over="ignore", invalid="ignore"):
                sq = np.einsum("ij,ij->i", block, block).astype(np.float64)
            redo = np.flatnonzero(~np.isfinite(sq) | (sq == 0))
            if redo.size:  # NaN/inf rows stay non-finite; huge or tiny finite rows get an exact norm
                wide = block[redo].astype(np.float64)
                ok = np.isfinite(wide).all(axis=1)
                peak = np.where(ok, np.abs(np.where(np.isfinite(wide), wide, 0)).max(axis=1), 1.0)
                scaled = np.where(ok[:, None], wide / np.maximum(peak, 1e-300)[:, None], 0.0)
                sq[redo] = np.where(ok, (np.linalg.norm(scaled, axis=1) * peak) ** 2, np.nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                inv[start:start + len(block)] = np.where(np.isfinite(sq) & (sq > 0), 1.0 / np.sqrt(sq), 0.0)
        return inv

    def __len__(self) -> int:
        return len(self.vectors)

    def query(self, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest rows to ``row`` (itself excluded): (indices (<=k,) int64, distances float32)."""
        n = len(self.vectors)
        if not isinstance(row, (int, np.integer)) or isinstance(row, bool) or not 0 <= row < n:
            raise ValueError(f"row must be an index in [0, {n}), got {row!r}")
        k = check_k(k)
        if self.inv_norm[row] == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        sims = self.similarities(self.vectors[row] * self.inv_norm[row])
        sims[row] = -np.inf
        usable = int(np.count_nonzero(self.inv_norm)) - 1
        k = min(k, usable)
        if k < 1:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        candidates = np.argpartition(-sims, k - 1)[:k]
        kth = sims[candidates].min()
        candidates = np.flatnonzero(sims >= kth)  # every row tied with the k-th: exact lower-index order
        order = np.lexsort((candidates, -sims[candidates]))[:k]
        idx = candidates[order].astype(np.int64)
        return idx, np.clip(1.0 - sims[idx], 0.0, 2.0).astype(np.float32)

    def similarities(self, unit_query: np.ndarray) -> np.ndarray:
        """Cosine similarity (n,) float64 of every row to a unit vector; -inf for rows with no direction."""
        q = np.asarray(unit_query, dtype=self.vectors.dtype)
        out = np.empty(len(self.vectors), dtype=np.float64)
        for start in range(0, len(self.vectors), QUERY_BLOCK):
            block = self.vectors[start:start + QUERY_BLOCK]
            with np.errstate(invalid="ignore", over="ignore"):
                out[start:start + len(block)] = block @ q
        out *= self.inv_norm
        out[self.inv_norm == 0] = -np.inf
        return out


def _finite_xy(coords: np.ndarray) -> np.ndarray:
    A = np.asarray(coords)
    if A.ndim != 2 or A.shape[1] < 2:
        raise ValueError(f"coords must be an (n, 2|3) array, got shape {A.shape}")
    return A[:, :2]


def _span(values: np.ndarray, given: Optional[Sequence[float]]) -> tuple[float, float]:
    if given is not None:
        lo, hi = float(given[0]), float(given[1])
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise ValueError(f"a range must be two finite numbers, low < high; got {tuple(given)!r}")
        return lo, hi
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo - 0.5, hi + 0.5) if hi <= lo else (lo, hi)


def density_grid(coords: np.ndarray, *, bins: int = DENSITY_BINS, x_range: Optional[Sequence[float]] = None,
                 y_range: Optional[Sequence[float]] = None) -> DensityGrid:
    """Counts of the finite points of ``coords`` (n, 2|3; the first two axes) on a grid of square cells,
    ``bins`` along the longer side of the region (the whole map unless ``x_range``/``y_range`` are given).

    Every finite point inside the region lands in exactly one cell (the upper edges are inclusive), so the
    counts sum to the number of such points — all finite points when no range is given.
    """
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool) or not 2 <= bins <= 4096:
        raise ValueError(f"bins must be an integer in [2, 4096], got {bins!r}")
    xy = _finite_xy(coords)
    x0, x1 = _span(xy[:, 0], x_range)
    y0, y1 = _span(xy[:, 1], y_range)
    cell = max(x1 - x0, y1 - y0) / bins
    nx = max(1, int(np.ceil((x1 - x0) / cell - 1e-9)))
    ny = max(1, int(np.ceil((y1 - y0) / cell - 1e-9)))
    x_edges = np.linspace(x0, x1, nx + 1)
    y_edges = np.linspace(y0, y1, ny + 1)
    inside = _inside_box(xy, x0, x1, y0, y1)
    counts = np.zeros((ny, nx), dtype=np.int64)
    for start in range(0, len(xy), 1_000_000):  # bounded temporaries for very large maps
        chunk = xy[start:start + 1_000_000][inside[start:start + 1_000_000]].astype(np.float64)
        ix = np.clip(((chunk[:, 0] - x0) / (x1 - x0) * nx).astype(np.int64), 0, nx - 1)
        iy = np.clip(((chunk[:, 1] - y0) / (y1 - y0) * ny).astype(np.int64), 0, ny - 1)
        counts += np.bincount(iy * nx + ix, minlength=nx * ny).reshape(ny, nx)
    return DensityGrid(counts=counts, x_edges=x_edges, y_edges=y_edges)


def _inside_box(xy: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)


def rows_in_box(coords: np.ndarray, x_range: Sequence[float], y_range: Sequence[float]) -> np.ndarray:
    """Sorted rows whose (x, y) lie inside the box, edges included; non-finite rows never do."""
    xy = _finite_xy(coords)
    (x0, x1), (y0, y1) = sorted(map(float, x_range)), sorted(map(float, y_range))
    return np.flatnonzero(_inside_box(xy, x0, x1, y0, y1))


def rows_in_polygon(coords: np.ndarray, xs: Sequence[float], ys: Sequence[float]) -> np.ndarray:
    """Sorted rows whose (x, y) lie inside the closed polygon (a lasso) with vertices ``xs``, ``ys``
    (even-odd rule, as Plotly's lasso). Only points in the polygon's bounding box are tested."""
    px, py = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    if px.shape != py.shape or px.ndim != 1 or len(px) < 3 or not np.isfinite(px).all() or not np.isfinite(py).all():
        raise ValueError("a polygon needs at least three finite vertices, as many x as y")
    candidates = rows_in_box(coords, (px.min(), px.max()), (py.min(), py.max()))
    xy = np.asarray(coords)[candidates, :2].astype(np.float64)
    x, y = xy[:, 0], xy[:, 1]
    inside = np.zeros(len(candidates), dtype=bool)
    for i in range(len(px)):
        x1, y1, x2, y2 = px[i - 1], py[i - 1], px[i], py[i]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < at)
    return candidates[inside]


def region_rows(coords: np.ndarray, x_range: Sequence[float], y_range: Sequence[float], *,
                limit: int = REGION_LIMIT, seed: int = 0) -> tuple[np.ndarray, int]:
    """The real points of a zoomed region: (rows, how many are inside). Every row inside when there are at
    most ``limit``, else a seeded sample of ``limit`` of them (sorted)."""
    limit = check_k(limit, name="limit")
    inside = rows_in_box(coords, x_range, y_range)
    if len(inside) <= limit:
        return inside, len(inside)
    return inside[sample_rows(len(inside), limit, seed=seed)], len(inside)


def display_rows(coords: np.ndarray, *, size: int = DISPLAY_SAMPLE, seed: int = 0) -> np.ndarray:
    """The rows drawn as points on a large map: every finite row when there are at most ``size``, else a
    sorted seeded sample of ``size`` of them (uniform, so the drawn points follow the density layer)."""
    size = check_k(size, name="size")
    finite = np.flatnonzero(np.isfinite(_finite_xy(coords)).all(axis=1))
    return finite[sample_rows(len(finite), size, seed=seed)]


def measure_sample(n: int, *, size: int = MEASURE_SAMPLE, seed: int = 0) -> Optional[np.ndarray]:
    """The rows a large map's measures are computed on (neighbours counted within them), or None when
    the set is small enough to measure whole."""
    size = check_k(size, name="size")
    return None if n <= size else sample_rows(n, size, seed=seed)


def is_large(n_points: int) -> bool:
    """True when a map of this many points is drawn as density + sample rather than point by point."""
    return n_points > LARGE_MAP_ABOVE
