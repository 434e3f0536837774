"""Times the embedders and the embedding cache; prints figures and ratios measured in the same run.

    python bench/bench_embed.py [--images 1000] [--pretrained-images 256] [--cache-entries 20000]

1. Each available embedder on ~1,000 images of ``demo:hands`` (random images if the demo is missing);
   HOG with one worker vs two threads.
2. The cache: storing N synthetic 512-d vectors (first run) vs looking them all up again (second run),
   against a naive baseline of one ``.npy`` file per entry in 256 shard folders.
3. ``embed_set`` end to end: a cold cache vs a warm one on the same images.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.io.cache import EmbeddingCache  # noqa: E402
from explorer.embedders import available_embedders, embed_set, get_embedder  # noqa: E402
from explorer.imageset import ImageSet, unique_ids  # noqa: E402


def bench_images(n: int) -> ImageSet:
    try:
        from explorer.io.demos import load_demo
    except ImportError:
        load_demo = None
    if load_demo is not None:
        sets, total, seed = [], 0, 0
        while total < n:
            s = load_demo("hands", seed=seed)
            sets.append(s)
            total += len(s)
            seed += 1
        joined = ImageSet.concatenate(sets, name="demo:hands")
        print(f"images: {n} from demo:hands (seeds 0..{seed - 1}), {joined.image_size}x{joined.image_size}")
        return joined.subset(range(n))
    pixels = np.random.default_rng(0).integers(0, 256, (n, 128, 128, 3), dtype=np.uint8)
    hashes = [hashlib.sha256(p.tobytes()).hexdigest() for p in pixels]
    print(f"images: {n} random 128x128 (explorer.io.demos not available)")
    return ImageSet(ids=unique_ids(hashes), hashes=hashes, sources=hashes, tags=["random"] * n, pixels=pixels,
                    thumbnails=[b""] * n)


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench_embedders(images: ImageSet, pretrained_n: int) -> None:
    print("\n== embedders ==")
    for name in available_embedders():
        subset = images if name != "efficientnet-lite0" else images.subset(range(min(pretrained_n, len(images))))
        e = get_embedder(name)
        if name == "efficientnet-lite0":
            load_s, _ = timed(lambda: e.embed(subset.pixels[:1]))  # model load + first batch warm-up
            print(f"{name:18s} model load + warm-up: {load_s:.2f} s")
        secs, out = timed(lambda: e.embed(subset.pixels))
        print(f"{name:18s} {len(subset):5d} images in {secs:6.2f} s = {len(subset) / secs:8.1f} images/s  "
              f"-> {out.shape[1]} dims")
    serial, threaded = get_embedder("hog"), get_embedder("hog")
    serial.workers, threaded.workers = 1, 2
    one, _ = timed(lambda: serial.embed(images.pixels))
    two, _ = timed(lambda: threaded.embed(images.pixels))
    print(f"hog workers: 1 thread {one:.2f} s, 2 threads {two:.2f} s -> speed-up x{one / two:.2f}")


def naive_per_file(root: Path, hashes: list[str], vectors: np.ndarray) -> tuple[float, float]:
    """Baseline: one .npy per entry, sharded by the first two hex digits (write, then read all back)."""
    def write():
        for h, v in zip(hashes, vectors):
            folder = root / h[:2]
            folder.mkdir(exist_ok=True)
            np.save(folder / f"{h}.npy", v)

    def read():
        return [np.load(root / h[:2] / f"{h}.npy") for h in hashes]

    w, _ = timed(write)
    r, back = timed(read)
    assert all(np.array_equal(a, b) for a, b in zip(back[:100], vectors[:100]))
    return w, r


def bench_cache(entries: int, dim: int, tmp: Path) -> None:
    print(f"\n== cache: {entries} entries of {dim} dims (float32, {entries * dim * 4 / 2**20:.0f} MiB) ==")
    hashes = [hashlib.sha256(f"img{i}".encode()).hexdigest() for i in range(entries)]
    vectors = np.random.default_rng(1).standard_normal((entries, dim)).astype(np.float32)
    cache = EmbeddingCache(tmp / "packs")
    key = "bench:v1:{}"

    def first_run():
        misses = [i for i, v in enumerate(cache.get_many(hashes, key, 128, dim=dim)) if v is None]
        for start in range(0, len(misses), 2048):  # embed_set stores 8 x batch_size rows at a time
            rows = misses[start:start + 2048]
            cache.put_many([hashes[i] for i in rows], key, 128, vectors[rows])

    first, _ = timed(first_run)
    second, got = timed(lambda: cache.get_many(hashes, key, 128, dim=dim))
    assert all(g is not None for g in got) and np.array_equal(np.stack(got), vectors)
    third, _ = timed(lambda: EmbeddingCache(tmp / "packs").get_many(hashes, key, 128, dim=dim))
    packs = len(list((tmp / "packs").rglob("*.pack")))
    per = 1e6 / entries
    print(f"packs : first run (all miss + store) {first:6.2f} s ({first * per:.0f} us/entry), "
          f"second run (all hit) {second:6.3f} s ({second * per:.1f} us/entry), fresh cache object "
          f"{third:.3f} s; {packs} pack files. (The first run here stores ready-made vectors; the cost that "
          f"a hit saves is the embedding itself, see embed_set below.)")
    (tmp / "naive").mkdir()
    w, r = naive_per_file(tmp / "naive", hashes, vectors)
    print(f"naive : one .npy per entry, write {w:6.2f} s, read all {r:6.3f} s -> packs read x{r / second:.1f} faster")


def bench_embed_set(images: ImageSet, tmp: Path) -> None:
    print("\n== embed_set: cold vs warm cache ==")
    for name in ("pixels", "hog"):
        e = get_embedder(name)
        cache = EmbeddingCache(tmp / f"set-{name}")
        cold, a = timed(lambda: embed_set(images, e, cache=cache))
        warm, b = timed(lambda: embed_set(images, e, cache=EmbeddingCache(tmp / f"set-{name}")))
        assert np.array_equal(a, b)
        print(f"{name:8s} {len(images)} images: cold {cold:6.2f} s, warm {warm:6.3f} s -> x{cold / warm:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--pretrained-images", type=int, default=256)
    parser.add_argument("--cache-entries", type=int, default=20000)
    parser.add_argument("--cache-dim", type=int, default=512)
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    images = bench_images(args.images)
    tmp = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    try:
        bench_embedders(images, args.pretrained_images)
        bench_cache(args.cache_entries, args.cache_dim, tmp)
        bench_embed_set(images, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
