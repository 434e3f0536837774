"""Map a sharded folder too big for one t-SNE: fit on a stratified sample here, place the rest partition by partition.

The fit uses ``explorer.projection``'s own t-SNE setup and perplexity clamp (``fit_tsne_embedding``);
t-SNE places new points with openTSNE's ``TSNEEmbedding.transform``, PCA with the sample's axes.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.decomposition import PCA

from explorer.cluster.client import run_tasks
from explorer.cluster.shards import (MAP_PATTERN, PLACE_METHODS, ClusterError, open_sharded, vectors_of,
                                     write_table)
from explorer.measures import neighbours_kept, trustworthiness
from explorer.projection import TSNE_PCA_DIMS, choose_pca_solver, distinct_rows, fit_tsne_embedding, usable_rows
from explorer.progress import ProgressCallback, report

DEFAULT_FIT_SAMPLE = 10_000


def stratified_sample(tags: Sequence[str], size: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``size`` rows drawn at random within each tag, in proportion to the tag's share.

    Every tag gets at least one row when ``size`` allows (largest remainders decide the rest).
    """
    n = len(tags)
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    codes, inverse = np.unique(np.asarray(tags, dtype=object).astype(str), return_inverse=True)
    counts = np.bincount(inverse, minlength=len(codes))
    exact = size * counts / n
    quota = np.floor(exact).astype(int)
    if size >= len(codes):
        quota = np.maximum(quota, 1)
    order = np.argsort(-(exact - np.floor(exact)))
    i = 0
    while quota.sum() < size:
        t = order[i % len(order)]
        if quota[t] < counts[t]:
            quota[t] += 1
        i += 1
    while quota.sum() > size:  # minimum-one quotas overshot: take back from the largest tags
        quota[np.argmax(quota)] -= 1
    picked = [rng.choice(np.flatnonzero(inverse == t), size=q, replace=False) for t, q in enumerate(quota) if q]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)



def _usable(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit rows, mask of usable rows): the cosine geometry and row checks of ``projection.project``."""
    X = np.asarray(X, dtype=np.float64)
    rows, kept, _ = usable_rows(X, metric="cosine")
    ok = np.zeros(len(X), dtype=bool)
    ok[kept] = True
    return rows, ok



@dataclass
class Placer:
    """A map fitted on a sample that places any further rows: (rows - mean) @ axes.T, then t-SNE transform."""

    method: str
    mean: np.ndarray
    axes: np.ndarray  # (m, d) PCA axes: the map itself for PCA, the 50-d reduction before t-SNE
    embedding: Any = None  # openTSNE.TSNEEmbedding for t-SNE
    dims: int = 2

    def reduce(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Z, ok = _usable(X)
        return (Z - self.mean) @ self.axes.T, ok

    def place(self, X: np.ndarray) -> np.ndarray:
        """Coordinates (n, dims) float32 of the rows of X; NaN for rows with no direction or non-finite values."""
        R, ok = self.reduce(X)
        out = np.full((len(ok), self.dims), np.nan, dtype=np.float32)
        if not ok.any():
            return out
        if self.method == "pca":
            out[ok] = R[:, : self.dims]
        else:
            params = self.embedding.gradient_descent_params
            # A Dask worker is one process with one thread: parallelism comes from the workers. Measured
            # here (2,500 points into a 2,000-point map, 50 iterations, busy machine): BH on 2 threads
            # 11.0 s, BH on 1 thread 2.0 s, FFT on 1 thread 0.9 s.
            self.embedding.gradient_descent_params = {**params, "n_jobs": 1,
                                                      "negative_gradient_method": "fft" if self.dims == 2 else "bh"}
            try:
                out[ok] = np.asarray(self.embedding.transform(np.ascontiguousarray(R)), dtype=np.float32)
            finally:
                self.embedding.gradient_descent_params = params
        return out



def fit_placer(X: np.ndarray, *, method: str = "tsne", dims: int = 2, perplexity: float = 30.0,
               seed: int = 0, n_jobs: int = 2) -> tuple[Placer, np.ndarray, list[str]]:
    """Fit a map on the sample X (m, d): (placer, sample coordinates (m, dims) NaN for unusable, notes)."""
    if method not in PLACE_METHODS:
        raise ClusterError(f"--fit-sample supports --method tsne or pca, not {method!r}")
    Z, ok = _usable(X)
    unique, inverse = distinct_rows(Z)
    m, d = unique.shape
    notes: list[str] = []
    if m < max(3, dims + 1):
        raise ClusterError(f"the sample holds only {m} distinct usable vectors; a map needs more")
    k_axes = dims if method == "pca" else min(TSNE_PCA_DIMS, d, m)
    model = PCA(n_components=k_axes, svd_solver=choose_pca_solver(m, d), random_state=seed).fit(unique)
    placer = Placer(method=method, mean=model.mean_, axes=model.components_, dims=dims)
    reduced = (unique - model.mean_) @ model.components_.T
    if method == "tsne":
        # the same t-SNE as ``project()``: its perplexity clamp, gradient choice, neighbours and iterations
        embedding, more = fit_tsne_embedding(reduced, dims, perplexity=perplexity, random_state=seed, n_jobs=n_jobs)
        notes += more
        placer.embedding = embedding
        sample_coords = np.asarray(embedding, dtype=np.float32)
    else:
        sample_coords = reduced.astype(np.float32)
    coords = np.full((len(X), dims), np.nan, dtype=np.float32)
    coords[ok] = sample_coords[inverse]
    return placer, coords, notes



def sample_vectors(index: int, path: str, rows: np.ndarray, dims: int) -> tuple[int, np.ndarray]:
    """(index, the vectors at local ``rows`` of one partition file) — runs on a worker."""

    table = pq.read_table(path, columns=["vector"]).take(np.asarray(rows, dtype=np.int64))
    return index, vectors_of(table.column("vector"), len(rows), dims, Path(path))



def place_partition(index: int, path: str, skip_rows: np.ndarray, dims: int, placer: Placer):
    """(index, coordinates of this partition's rows not in ``skip_rows``) — runs on a worker."""

    table = pq.read_table(path, columns=["vector"])
    X = vectors_of(table.column("vector"), table.num_rows, dims, Path(path))
    keep = np.setdiff1d(np.arange(len(X)), skip_rows)
    return index, keep, placer.place(X[keep]) if len(keep) else np.zeros((0, placer.dims), np.float32)



@dataclass
class MapSummary:
    out: Path
    rows: int
    fitted: int
    seconds_fit: float
    seconds_place: float
    trustworthiness_sample: Optional[float]
    notes: list[str]



def map_folder(folder: str | os.PathLike, *, method: str = "tsne", fit_sample: int = DEFAULT_FIT_SAMPLE,
               dims: int = 2, perplexity: float = 30.0, seed: int = 0, client=None, out=None,
               all_neighbours: bool = False, k: int = 10,
               progress: ProgressCallback | None = None) -> MapSummary:
    """Fit ``method`` on a stratified sample of ``fit_sample`` rows here, place the rest partition by
    partition (on the cluster when ``client`` is given) and write ``map-<method>.parquet``."""

    if fit_sample < 3:
        raise ClusterError(f"--fit-sample must be at least 3, got {fit_sample}")
    folder = Path(folder)
    shard = open_sharded(folder, vectors=False)
    data = shard.data
    n, d = len(data.ids), int(shard.meta.get("dims", 0))
    if n < 3:
        raise ClusterError(f"{folder}: holds {n} vectors; a map needs at least 3")
    sample = stratified_sample(data.tags, fit_sample, seed)
    by_part = _split_rows(sample, shard.parts)
    t0 = time.perf_counter()
    blocks = dict(run_tasks(client, sample_vectors, [(i, str(p), rows, d) for i, (p, _, _) in
                                                          enumerate(shard.parts) if len(rows := by_part[i])]))
    X_sample = np.concatenate([blocks[i] for i in sorted(blocks)])
    report(progress, 0, len(shard.parts), f"fitting {method} on a sample of {len(sample):,} of {n:,} points")
    placer, sample_coords, notes = fit_placer(X_sample, method=method, dims=dims, perplexity=perplexity, seed=seed)
    t1 = time.perf_counter()
    coords = np.full((n, dims), np.nan, dtype=np.float32)
    coords[sample] = sample_coords
    tasks = [(i, str(p), by_part[i], d) for i, (p, _, count) in enumerate(shard.parts)
             if count > len(by_part[i])]
    done = 0
    for index, keep, placed in run_tasks(client, place_partition, tasks, broadcast={"placer": placer}):
        coords[shard.parts[index][1] + keep] = placed
        done += 1
        report(progress, done, len(tasks), f"partitions placed into the {method} map")
    t2 = time.perf_counter()
    fitted = np.zeros(n, dtype=bool)
    fitted[sample] = True
    kept = np.full(n, np.nan)
    valid = np.isfinite(sample_coords).all(axis=1)
    trust = None
    if valid.sum() > 3:
        kk = int(min(k, valid.sum() - 1))
        kept[sample[valid]] = neighbours_kept(X_sample[valid], sample_coords[valid], k=kk)
        trust = trustworthiness(X_sample[valid], sample_coords[valid], k=min(kk, (int(valid.sum()) - 1) // 2) or 1)
    if all_neighbours:
        full = open_sharded(folder).data.vectors
        on_map = np.isfinite(coords).all(axis=1)
        kept[on_map] = neighbours_kept(full[on_map], coords[on_map], k=int(min(k, on_map.sum() - 1)))
    table = {"id": pa.array(data.ids, pa.string()), "source": pa.array(data.sources, pa.string()),
             "tag": pa.array(data.tags, pa.string())}
    for axis, name in zip(range(dims), "xyz"):
        table[name] = pa.array(coords[:, axis], pa.float32())
    table["fitted"] = pa.array(fitted)
    table["neighbours_kept"] = pa.array(kept, pa.float64())
    path = Path(out) if out else folder / MAP_PATTERN.format(method)
    write_table(path, pa.table(table))
    return MapSummary(out=path, rows=n, fitted=int(len(sample)), seconds_fit=t1 - t0, seconds_place=t2 - t1,
                      trustworthiness_sample=trust, notes=notes)



def _split_rows(rows: np.ndarray, parts: list[tuple[Path, int, int]]) -> list[np.ndarray]:
    """Global sorted ``rows`` split into each partition's local row numbers."""
    out = []
    for _, start, count in parts:
        lo, hi = np.searchsorted(rows, [start, start + count])
        out.append(rows[lo:hi] - start)
    return out
