"""Benchmark explorer.projection against scikit-learn on the same vectors, in one run.

Prints, for each data set: our t-SNE (openTSNE) vs ``sklearn.manifold.TSNE`` (wall time and
trustworthiness at k=10, both on the L2-normalised vectors, i.e. cosine geometry), and our PCA vs
scikit-learn's default PCA (and its "full" solver for reference).

Targets (issue 3): t-SNE <= 0.5x sklearn's time at 10k x 512 with trustworthiness within 0.005 of it;
no slower than sklearn at digits size (1,797 x 64).

    python bench/bench_projection.py            # full run: digits and 10,000 x 512 (several minutes)
    python bench/bench_projection.py --quick    # digits and 3,000 x 128, about a minute on a quiet machine
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.projection import project  # noqa: E402


def clustered_vectors(n: int, d: int, *, n_clusters: int = 30, seed: int = 0) -> np.ndarray:
    """Synthetic CNN-like features (n, d) float32: uneven, overlapping clusters in a 40-d latent space,
    pushed through a random linear map and a ReLU (non-negative, correlated features) plus noise."""
    rng = np.random.default_rng(seed)
    latent_dim = 40
    sizes = rng.dirichlet(np.full(n_clusters, 2.0))
    labels = rng.choice(n_clusters, size=n, p=sizes)
    centres = rng.normal(size=(n_clusters, latent_dim)) * 2.5
    spread = rng.uniform(0.6, 1.4, size=n_clusters)
    latent = centres[labels] + rng.normal(size=(n, latent_dim)) * spread[labels, None]
    W = rng.normal(size=(latent_dim, d)) / np.sqrt(latent_dim)
    X = np.maximum(latent @ W + 0.5, 0.0) + 0.05 * rng.normal(size=(n, d))
    return X.astype(np.float32)


def unit_rows(X: np.ndarray) -> np.ndarray:
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def trust(X: np.ndarray, Y: np.ndarray, sample: int, seed: int = 0) -> float:
    """sklearn's trustworthiness (k=10); on a random subset of points when ``sample`` is set."""
    from sklearn.manifold import trustworthiness

    if sample and sample < len(X):
        idx = np.random.default_rng(seed).choice(len(X), size=sample, replace=False)
        X, Y = X[idx], Y[idx]
    return float(trustworthiness(X, Y, n_neighbors=10))


def bench_tsne(name: str, X: np.ndarray, args) -> None:
    from sklearn.manifold import TSNE

    Xn = unit_rows(X)
    print(f"\n== t-SNE on {name}: {X.shape[0]:,} x {X.shape[1]} (L2-normalised rows) ==", flush=True)
    ours, t_ours = timed(lambda: project(Xn, method="tsne", random_state=0))
    tw_ours = trust(Xn, ours.coords, args.trust_sample)
    p = ours.params
    print(f"ours (openTSNE, {p['gradient']}, {p['neighbors']} kNN, {p['input_dims']}-d input, "
          f"{p['early_exaggeration_iter']}+{p['n_iter']} it, n_jobs={p['n_jobs']}): "
          f"{t_ours:7.1f} s   trustworthiness {tw_ours:.4f}", flush=True)
    if args.skip_sklearn:
        return
    model = TSNE(n_components=2, perplexity=30.0, init="pca", random_state=0, n_jobs=2)
    Y, t_sk = timed(lambda: model.fit_transform(Xn))
    tw_sk = trust(Xn, Y, args.trust_sample)
    print(f"sklearn TSNE (barnes_hut, defaults, n_jobs=2):             "
          f"{t_sk:7.1f} s   trustworthiness {tw_sk:.4f}")
    print(f"time ratio ours/sklearn = {t_ours / t_sk:.2f}   trustworthiness ours - sklearn = "
          f"{tw_ours - tw_sk:+.4f}", flush=True)


def bench_pca(X: np.ndarray, repeats: int) -> None:
    from sklearn.decomposition import PCA

    print(f"\n== PCA to 2-D on {X.shape[0]:,} x {X.shape[1]} (best of {repeats}) ==", flush=True)

    def best(fn):
        return min(timed(fn)[1] for _ in range(repeats))

    ours = project(X, method="pca", metric="euclidean")
    t_ours = best(lambda: project(X, method="pca", metric="euclidean"))
    t_default = best(lambda: PCA(n_components=2).fit_transform(X))
    default_solver = PCA(n_components=2).fit(X)._fit_svd_solver
    t_full = best(lambda: PCA(n_components=2, svd_solver="full").fit_transform(X))
    print(f"ours ({ours.params['svd_solver']}, incl. row checks): {t_ours * 1000:8.1f} ms")
    print(f"sklearn default PCA (auto -> {default_solver}):      {t_default * 1000:8.1f} ms   "
          f"ratio ours/default = {t_ours / t_default:.2f}")
    print(f"sklearn PCA(svd_solver='full'):                  {t_full * 1000:8.1f} ms   "
          f"ratio ours/full = {t_ours / t_full:.2f}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits and 3,000 x 128 instead of 10,000 x 512")
    parser.add_argument("--n", type=int, default=None, help="points in the synthetic set (default 10,000)")
    parser.add_argument("--dim", type=int, default=None, help="dimensions of the synthetic set (default 512)")
    parser.add_argument("--skip-sklearn", action="store_true", help="time only our t-SNE")
    parser.add_argument("--no-digits", action="store_true", help="skip the digits comparison")
    parser.add_argument("--trust-sample", type=int, default=0,
                        help="compute trustworthiness on this many random points (0 = all)")
    args = parser.parse_args(argv)
    n = args.n or (3000 if args.quick else 10_000)
    d = args.dim or (128 if args.quick else 512)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(timings are only comparable within one run)")
    if not args.no_digits:
        from sklearn.datasets import load_digits

        bench_tsne("sklearn digits", load_digits().data, args)
    X = clustered_vectors(n, d)
    bench_tsne("clustered synthetic", X, args)
    bench_pca(X, repeats=3)
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
