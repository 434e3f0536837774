"""Benchmark explorer.projection against openTSNE (and optionally scikit-learn) on the same vectors, in one run.

Prints, for each data set: the time to our final t-SNE map (``project(method="tsne")``: it stops once the
layout has stopped moving) against openTSNE's default ``openTSNE.TSNE().fit`` (every default: 750
iterations, one thread, Barnes-Hut below 10,000 points and FFT above), both on the L2-normalised vectors
(cosine geometry), with trustworthiness (k=10, on the same random sample of points for both); then our
PCA vs scikit-learn's. Each t-SNE is timed ``--repeats`` times: medians, spreads and the ratio.

Targets (issue 17): final-map time <= 0.8x openTSNE's default on 1,797 digits and on 10,000 x 512, and
trustworthiness within 0.005 of openTSNE's. ``--with-50k`` adds 50,000 x 512 (tens of minutes on a busy
machine); bench/bench_map_cli.py times the whole ``map`` command at that size. Issue 3's comparison with
``sklearn.manifold.TSNE`` is behind ``--sklearn``.

    python bench/bench_projection.py              # digits and 10,000 x 512
    python bench/bench_projection.py --quick      # digits and 3,000 x 128
    python bench/bench_projection.py --with-50k   # also 50,000 x 512
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def _median_spread(values: list[float]) -> str:
    return f"median {statistics.median(values):6.1f} s (min {min(values):.1f}, max {max(values):.1f}, n={len(values)})"


def bench_tsne(name: str, X: np.ndarray, args) -> None:
    import openTSNE

    Xn = unit_rows(X)
    sample = args.trust_sample if args.trust_sample and args.trust_sample < len(Xn) else 0
    print(f"\n== t-SNE on {name}: {X.shape[0]:,} x {X.shape[1]} (L2-normalised rows), load {_load()} ==", flush=True)
    ours_t, ref_t, ours_tw, ref_tw = [], [], [], []

    def run_ours(r):
        ours, t = timed(lambda: project(Xn, method="tsne", random_state=r))
        ours_t.append(t)
        ours_tw.append(trust(Xn, ours.coords, sample))
        p = ours.params
        print(f"  ours   run {r + 1}: {t:7.1f} s  trustworthiness {ours_tw[-1]:.4f}  ({p['gradient']}, "
              f"{p['neighbors']} kNN, {p['input_dims']}-d input, {p['iterations']} of "
              f"{p['early_exaggeration_iter'] + p['n_iter']} iterations, n_jobs={p['n_jobs']})  load {_load()}",
              flush=True)

    def run_reference(r):
        Y, t = timed(lambda: np.asarray(openTSNE.TSNE(random_state=r).fit(Xn)))
        ref_t.append(t)
        ref_tw.append(trust(Xn, Y, sample))
        print(f"  openTSNE default run {r + 1}: {t:7.1f} s  trustworthiness {ref_tw[-1]:.4f}  load {_load()}",
              flush=True)

    for r in range(args.repeats):  # alternate who goes first: the machine's load drifts during a run
        for run in ((run_ours, run_reference) if r % 2 == 0 else (run_reference, run_ours)):
            run(r)
    ratio = statistics.median(ours_t) / statistics.median(ref_t)
    gap = statistics.median(ours_tw) - statistics.median(ref_tw)
    where = f"on a {sample:,}-point sample" if sample else "on all points"
    print(f"ours:     {_median_spread(ours_t)}   trustworthiness {statistics.median(ours_tw):.4f}")
    print(f"openTSNE: {_median_spread(ref_t)}   trustworthiness {statistics.median(ref_tw):.4f} ({where})")
    print(f"time ratio ours/openTSNE = {ratio:.2f} (target <= 0.80: {'met' if ratio <= 0.8 else 'MISSED'})   "
          f"trustworthiness ours - openTSNE = {gap:+.4f} (target >= -0.005: {'met' if gap >= -0.005 else 'MISSED'})",
          flush=True)
    if args.sklearn:
        bench_sklearn(Xn, statistics.median(ours_t), statistics.median(ours_tw), sample)


def bench_sklearn(Xn: np.ndarray, t_ours: float, tw_ours: float, sample: int) -> None:
    from sklearn.manifold import TSNE

    model = TSNE(n_components=2, perplexity=30.0, init="pca", random_state=0, n_jobs=2)
    Y, t_sk = timed(lambda: model.fit_transform(Xn))
    tw_sk = trust(Xn, Y, sample)
    print(f"sklearn TSNE (barnes_hut, defaults, n_jobs=2): {t_sk:7.1f} s   trustworthiness {tw_sk:.4f}")
    print(f"time ratio ours/sklearn = {t_ours / t_sk:.2f}   trustworthiness ours - sklearn = "
          f"{tw_ours - tw_sk:+.4f}", flush=True)


def warm_up() -> None:
    """Import openTSNE, scikit-learn and scipy (seconds on a busy machine) and run both t-SNEs once on a tiny
    set before any timing, so neither side is charged for imports the other then gets for free."""
    import openTSNE

    X = unit_rows(clustered_vectors(300, 32, seed=1))
    project(X, method="tsne", n_iter=20, early_exaggeration_iter=10)
    openTSNE.TSNE(n_iter=20, early_exaggeration_iter=10, random_state=0).fit(X)


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


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
    parser.add_argument("--with-50k", action="store_true", help="also 50,000 x 512 (slow)")
    parser.add_argument("--sklearn", action="store_true", help="also time sklearn.manifold.TSNE (issue 3)")
    parser.add_argument("--no-digits", action="store_true", help="skip the digits comparison")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the --n x --dim set")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each t-SNE (medians and spreads)")
    parser.add_argument("--trust-sample", type=int, default=3000,
                        help="compute trustworthiness on this many random points (0 = all)")
    args = parser.parse_args(argv)
    n = args.n or (3000 if args.quick else 10_000)
    d = args.dim or (128 if args.quick else 512)
    print(f"load average at start: {_load()} on {os.cpu_count()} cores "
          "(timings are only comparable within one run)")
    warm_up()
    if not args.no_digits:
        from sklearn.datasets import load_digits

        bench_tsne("sklearn digits", load_digits().data, args)
    if not args.no_synthetic:
        X = clustered_vectors(n, d)
        bench_tsne("clustered synthetic", X, args)
        bench_pca(X, repeats=3)
    if args.with_50k:
        bench_tsne("clustered synthetic", clustered_vectors(50_000, 512), args)
    print(f"\nload average at end: {_load()}")


if __name__ == "__main__":
    main()
