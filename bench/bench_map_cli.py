"""Benchmark: ``python -m explorer map`` (t-SNE, measures included) vs openTSNE's default t-SNE alone.

Writes ``--n`` (default 50,000) synthetic clustered vectors of ``--d`` (512) dimensions as an ``.npz``
through ``explorer.io.store``, then in one run, each in a fresh process:

- the CLI: ``python -m explorer map V.npz --method tsne --out map.csv`` — wall time including start-up,
  loading the file, t-SNE, the map's measures (estimated on a sample above 20,000 points) and the CSV;
- the baseline: ``openTSNE.TSNE().fit(X)`` with every default, timed around ``fit`` only (loading
  the vectors and importing openTSNE are not counted against it).

Target (issue 17): CLI total <= 0.8x openTSNE's fit (issue 11: <= 1.0x). Also prints how long the sampled measures take on their own
(on a PCA map of the same vectors), and the machine's load before and after.

    python bench/bench_map_cli.py [--n 50000] [--d 512] [--clusters 20]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from explorer.io.store import save_embeddings  # noqa: E402

BASELINE = """
import sys, time
import numpy as np
X = np.load(sys.argv[1])["vectors"]
import openTSNE
start = time.perf_counter()
openTSNE.TSNE().fit(X)
print(f"{time.perf_counter() - start:.3f}")
"""


def clustered(n: int, d: int, clusters: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Gaussian clusters of different sizes and spreads around random centres."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(clusters, n, p=rng.dirichlet(np.full(clusters, 3.0)))
    centres = rng.standard_normal((clusters, d)) * 2.0
    spread = rng.uniform(0.6, 1.6, clusters)[labels, None]
    X = centres[labels] + spread * rng.standard_normal((n, d))
    return X.astype(np.float32), [f"c{v:02d}" for v in labels]


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--clusters", type=int, default=20)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}  load average before: {load()}")
    with tempfile.TemporaryDirectory(prefix="bench_map_cli_") as tmp:
        npz = Path(tmp) / "vectors.npz"
        X, tags = clustered(args.n, args.d, args.clusters)
        ids = [f"v{i}" for i in range(args.n)]
        save_embeddings(npz, SimpleNamespace(ids=ids, sources=ids, tags=tags, extra_tags={}), X, "synthetic")
        print(f"{args.n:,} x {args.d} vectors in {args.clusters} clusters -> {npz.stat().st_size / 2**20:.0f} MB .npz")

        from explorer.measures import map_measures
        from explorer.projection import project

        coords = project(X, method="pca").coords
        start = time.perf_counter()
        m = map_measures(X, coords, tags, k=10)
        measures_s = time.perf_counter() - start
        print(f"map_measures alone (PCA map): {measures_s:.1f} s on {m.sample_size:,} of {m.population:,} points")

        env = {**os.environ, "EXPLORER_CACHE_DIR": str(Path(tmp) / "cache")}
        start = time.perf_counter()
        cli = subprocess.run([sys.executable, "-m", "explorer", "map", str(npz), "--method", "tsne",
                              "--out", str(Path(tmp) / "map.csv")], cwd=REPO, env=env, capture_output=True, text=True)
        cli_s = time.perf_counter() - start
        if cli.returncode:
            sys.exit(f"the CLI failed: {cli.stderr[-2000:]}")
        summary = [line for line in cli.stderr.splitlines()
                   if re.match(r"(trustworthiness|knn_agreement|measures )", line)]
        print(f"load average between: {load()}")
        base = subprocess.run([sys.executable, "-c", BASELINE, str(npz)], capture_output=True, text=True, env=env)
        if base.returncode:
            sys.exit(f"openTSNE failed: {base.stderr[-2000:]}")
        base_s = float(base.stdout.strip().splitlines()[-1])
    print(f"python -m explorer map (t-SNE + measures + load + CSV, whole process): {cli_s:7.1f} s")
    print(f"openTSNE.TSNE().fit(X) defaults, fit only:                           {base_s:7.1f} s")
    print(f"ratio CLI / openTSNE: {cli_s / base_s:.2f}  (target <= 0.80: {'met' if cli_s / base_s <= 0.8 else 'MISSED'})")
    for line in summary:
        print(f"  {line}")
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
