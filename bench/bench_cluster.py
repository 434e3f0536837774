"""The Dask path: embed throughput with 1 and 2 workers, and `map --fit-sample` against t-SNE on everything.

    python bench/bench_cluster.py [--quick] [--images 120] [--size 3000x2000] [--vectors 200000]
                                  [--fit-sample 10000] [--embedder hog] [--skip-full-tsne]

1. A folder of generated large JPEGs (photo-like: smooth colour fields plus grain, quality 90) embedded by
   the single-process ``embed`` (baseline), then by ``embed --workers 1`` and ``--workers 2``: images/s.
2. N synthetic vectors (64-d, 40 Gaussian clusters of uneven size and spread) written as a sharded folder:
   ``map --fit-sample M`` (fit here, place on 2 workers) vs ``explorer.projection.project`` t-SNE on all N:
   wall time and trustworthiness (k=10) on the same random 2,000-point sample.
3. A worked estimate of the wall time for 10 million images from the measured per-worker throughput.

The machine is shared: `uptime` load is printed beside the figures; compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.cluster.client import open_client  # noqa: E402
from explorer.cluster.embed import embed_to_folder, worker_embedder  # noqa: E402
from explorer.cluster.placement import map_folder  # noqa: E402
from explorer.cluster.shards import open_sharded, write_vectors_folder  # noqa: E402
from explorer.io.store import EmbeddingFile  # noqa: E402


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def make_jpegs(folder: Path, n: int, width: int, height: int, tags: int = 4) -> int:
    """n photo-like JPEGs in ``tags`` sub-folders; returns the total bytes."""
    from PIL import Image

    rng = np.random.default_rng(0)
    total = 0
    for i in range(n):
        tag = folder / f"tag{i % tags}"
        tag.mkdir(parents=True, exist_ok=True)
        small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((width, height), Image.BICUBIC)
        grain = rng.integers(-12, 13, (height, width, 1), dtype=np.int16)
        pixels = np.clip(np.asarray(img, dtype=np.int16) + grain, 0, 255).astype(np.uint8)
        path = tag / f"photo_{i:05d}.jpg"
        Image.fromarray(pixels).save(path, "JPEG", quality=90)
        total += path.stat().st_size
    return total


def bench_embed(args, work: Path) -> dict:
    from explorer.embedders import embed_set, get_embedder
    from explorer.io.sources import load_source

    width, height = map(int, args.size.split("x"))
    photos = work / "photos"
    start = time.perf_counter()
    size = make_jpegs(photos, args.images, width, height)
    print(f"\n1. embed {args.images} generated JPEGs of {width}x{height} ({size / args.images / 2**20:.1f} MB each, "
          f"made in {time.perf_counter() - start:.0f} s) with {args.embedder}; {load()}")
    rates = {}
    embedder = get_embedder(args.embedder)
    embedder.embed(np.zeros((1, 128, 128, 3), np.uint8))  # imports and weights are not throughput
    start = time.perf_counter()
    images = load_source(str(photos))
    embed_set(images, embedder)
    rates["single process (embed FILE.npz)"] = args.images / (time.perf_counter() - start)
    for workers in (1, 2):
        out = work / f"shards-{workers}"
        with open_client(workers=workers, memory_limit="1.5GiB") as client:
            client.run(warm_worker, args.embedder)  # worker start-up and imports are not throughput
            start = time.perf_counter()
            summary = embed_to_folder(str(photos), out, args.embedder, client=client,
                                      partition_size=args.partition_size)
            rates[f"--workers {workers}"] = args.images / (time.perf_counter() - start)
            rates[f"per CPU-second, --workers {workers}"] = summary.images / max(summary.cpu_seconds, 1e-9)
    base = rates["single process (embed FILE.npz)"]
    for name, rate in rates.items():
        if not name.startswith("per CPU"):
            print(f"   {name:34s} {rate:7.1f} images/s   x{rate / base:.2f}")
    for name, rate in rates.items():
        if name.startswith("per CPU"):
            print(f"   {name:34s} {rate:7.1f} images per CPU-second of the worker (load-independent)")
    print(f"   ({load()})")
    return rates


def warm_worker(name: str) -> None:
    import pyarrow.parquet  # noqa: F401  (first use costs a second under load)

    from explorer.io.sources import build_image_set  # noqa: F401

    worker_embedder(name).embed(np.zeros((1, 128, 128, 3), np.uint8))


def clustered_vectors(n: int, d: int = 64, clusters: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    sizes = rng.dirichlet(np.ones(clusters) * 2)
    labels = rng.choice(clusters, size=n, p=sizes)
    centres = rng.normal(size=(clusters, d)) * 3
    spread = rng.uniform(0.5, 1.5, clusters)
    X = centres[labels] + rng.normal(size=(n, d)) * spread[labels, None]
    return X.astype(np.float32), [f"c{c}" for c in labels]


def bench_map(args, work: Path) -> dict:
    from explorer.measures import trustworthiness
    from explorer.projection import project

    n, m = args.vectors, args.fit_sample
    X, tags = clustered_vectors(n)
    ids = [f"v{i}" for i in range(n)]
    folder = write_vectors_folder(work / "vectors", EmbeddingFile(ids=ids, sources=ids, tags=tags, vectors=X,
                                                                  embedder="synthetic"), partition_size=args.partition_rows)
    evaluation = np.random.default_rng(1).choice(n, size=min(2000, n), replace=False)
    print(f"\n2. map {n:,} vectors (64-d, 40 clusters): fit on {m:,} + place on 2 workers vs t-SNE on all; {load()}")
    results = {}
    with open_client(workers=2, memory_limit="2GiB") as client:
        start = time.perf_counter()
        summary = map_folder(folder, method="tsne", fit_sample=m, client=client)
        wall = time.perf_counter() - start
    coords = open_sharded(folder, vectors=False).maps["tsne"].coords
    results["fit-sample + place"] = (wall, trustworthiness(X[evaluation], coords[evaluation], k=10),
                                     f"fit {summary.seconds_fit:.0f} s, place {summary.seconds_place:.0f} s "
                                     f"({(n - m) / max(summary.seconds_place, 1e-9):,.0f} points/s on 2 workers)")
    wall, trust, note = results["fit-sample + place"]
    print(f"   fit-sample + place: {wall:.1f} s, trustworthiness {trust:.4f}, {note} ({load()})", flush=True)
    if not args.skip_full_tsne:
        start = time.perf_counter()
        full = project(X, method="tsne", random_state=0).coords
        wall = time.perf_counter() - start
        results["t-SNE on all (project)"] = (wall, trustworthiness(X[evaluation], full[evaluation], k=10), "")
    print(f"   {'':28s} {'wall s':>8s} {'trust@10':>9s}")
    for name, (wall, trust, note) in results.items():
        print(f"   {name:28s} {wall:8.1f} {trust:9.4f}  {note}")
    if len(results) == 2:
        a, b = results["fit-sample + place"], results["t-SNE on all (project)"]
        print(f"   speed-up x{b[0] / a[0]:.1f}, trustworthiness {a[1] - b[1]:+.4f}")
    print(f"   ({load()})")
    results["place_rate"] = (n - m) / max(summary.seconds_place, 1e-9) / 2
    return results


def estimate(rates: dict, place_rate: float | None) -> None:
    # On a shared machine wall-clock rates measure the other users; the CPU time a worker spends per image
    # does not. A worker decodes on decode_many's 2 threads, so give each worker 2 cores.
    per_core = rates["per CPU-second, --workers 1"]
    machines, cores = 32, 16
    n = 10_000_000
    seconds = n / (per_core * machines * cores)
    print(f"\n3. Estimate for 10,000,000 images on {machines} machines x {cores} cores "
          f"({machines * cores // 2} workers of 2 cores):")
    print(f"   measured {per_core:.1f} images per CPU-second (one worker; {rates['--workers 1']:.1f} images/s wall "
          f"on this shared machine, {load()})")
    print(f"   10,000,000 / ({per_core:.1f} x {machines * cores}) = {seconds:,.0f} s = {seconds / 3600:.1f} h of "
          "embedding, if the workers get whole cores and shared storage delivers "
          f"{per_core * machines * cores * 1.8:,.0f} MB/s of these 1.8 MB JPEGs (not measured here)")
    if place_rate:
        workers = machines * cores // 2
        print(f"   map --fit-sample: the fit on one machine, then {place_rate:,.0f} points/s per worker measured "
              f"here (wall, shared machine) -> {n / (place_rate * workers) / 60:,.1f} min to place 10M on "
              f"{workers} workers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a minute or two")
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--size", default="3000x2000")
    parser.add_argument("--embedder", default="hog")
    parser.add_argument("--partition-size", type=int, default=10, help="files per partition")
    parser.add_argument("--vectors", type=int, default=200_000)
    parser.add_argument("--fit-sample", type=int, default=10_000)
    parser.add_argument("--partition-rows", type=int, default=20_000, help="vectors per partition")
    parser.add_argument("--skip-full-tsne", action="store_true", help="do not run t-SNE on all vectors")
    parser.add_argument("--parts", default="embed,map", help="which parts to run: embed, map or both")
    args = parser.parse_args()
    if args.quick:
        args.images, args.size, args.vectors, args.fit_sample, args.partition_rows = 24, "2400x1600", 20_000, 2_000, 2_500
        args.partition_size = 4
    os.environ.setdefault("EXPLORER_CACHE_DIR", tempfile.mkdtemp(prefix="bench-cluster-cache-"))
    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    print(f"bench_cluster: {os.cpu_count()} cores; {load()}")
    try:
        parts = set(args.parts.split(","))
        rates = bench_embed(args, work) if "embed" in parts else {}
        mapped = bench_map(args, work) if "map" in parts else {}
        if rates:
            estimate(rates, mapped.get("place_rate"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
