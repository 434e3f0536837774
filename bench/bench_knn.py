"""Benchmark exact cosine 10-NN: explorer.distances.knn vs sklearn brute force vs the GEMM floor.

All three run in one process on the same vectors (a Gaussian mixture, like real embeddings: clumps
of similar images). The GEMM floor is the blocked float32 product X @ X.T with no selection at all
(the full n x n matrix would be 10 GB at 50k), timed both with 2 BLAS threads and with our layout
(2 worker threads x 1 BLAS thread); the faster of the two is the floor.

    python bench/bench_knn.py            # 50,000 x 512 (about 2-3 minutes on 2 cores)
    python bench/bench_knn.py --n 10000  # quick run
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.distances import DEFAULT_MAX_BLOCK_BYTES, knn, l2_normalize  # noqa: E402


def mixture(n: int, d: int, *, clusters: int = 50, seed: int = 0) -> np.ndarray:
    """n points of a Gaussian mixture in d dimensions, float32."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    spread = rng.uniform(0.5, 1.5, clusters).astype(np.float32)
    label = rng.integers(0, clusters, n)
    return centres[label] + spread[label, None] * rng.standard_normal((n, d), dtype=np.float32)


def gemm_floor(N: np.ndarray, *, n_jobs: int) -> float:
    """Seconds for all row blocks of N @ N.T (same block size as knn), no selection."""
    from threadpoolctl import threadpool_limits

    n = len(N)
    rows = max(1, min(DEFAULT_MAX_BLOCK_BYTES // (4 * n * n_jobs), -(-n // n_jobs)))
    NT = np.ascontiguousarray(N.T)
    bufs = [np.empty((rows, n), np.float32) for _ in range(n_jobs)]

    def work(job: int) -> None:
        for start in range(job * rows, n, rows * n_jobs):
            stop = min(start + rows, n)
            np.matmul(N[start:stop], NT, out=bufs[job][: stop - start])

    t0 = time.perf_counter()
    if n_jobs == 1:
        work(0)
    else:
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(n_jobs) as pool:
            list(pool.map(work, range(n_jobs)))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--skip-sklearn", action="store_true")
    args = parser.parse_args()

    X = mixture(args.n, args.d)
    N = l2_normalize(X)
    print(f"{args.n:,} x {args.d} float32 Gaussian mixture, k={args.k}")

    floor_blas = gemm_floor(N, n_jobs=1)
    floor_threads = gemm_floor(N, n_jobs=2)
    floor = min(floor_blas, floor_threads)
    print(f"GEMM floor: {floor_blas:.2f} s (2 BLAS threads), {floor_threads:.2f} s (2 workers x 1 BLAS thread)")

    t0 = time.perf_counter()
    ours_i, ours_d = knn(X, args.k, metric="cosine")
    ours = time.perf_counter() - t0
    print(f"explorer knn: {ours:.2f} s = {ours / floor:.2f}x the GEMM floor (target <= 1.5x)")

    if args.skip_sklearn:
        return
    from sklearn.neighbors import NearestNeighbors

    t0 = time.perf_counter()
    nn = NearestNeighbors(n_neighbors=args.k, metric="cosine", algorithm="brute").fit(X)
    sk_d, sk_i = nn.kneighbors()
    sk = time.perf_counter() - t0
    print(f"sklearn brute cosine: {sk:.2f} s = {sk / floor:.2f}x the floor; "
          f"explorer is {sk / ours:.1f}x faster")

    same_sets = np.mean([set(a) == set(b) for a, b in zip(ours_i.tolist(), sk_i.tolist())])
    print(f"agreement with sklearn: identical neighbour sets for {same_sets:.4%} of points, "
          f"max |distance difference| {np.abs(np.sort(sk_d, axis=1) - ours_d).max():.2e}")


if __name__ == "__main__":
    main()
