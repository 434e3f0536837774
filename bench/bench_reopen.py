"""Benchmark: re-opening a folder of large JPEGs seen before (decoded-image cache) vs opening it cold.

Generates ``--count`` (default 600) photo-like 1600x1200 JPEGs (quality 90, each with its own content)
in a temporary folder, then times in one run:

- cold: ``python -m explorer embed FOLDER`` on an empty cache (every file decoded, then embedded);
- warm: the same command again (unchanged files are neither read nor decoded: path + size + mtime);
- warm by content: every file's mtime touched first, so each is read and hashed but not decoded;
- the embed command with ``--no-cache`` as the no-cache baseline.

Each run is a fresh process (as a user would run it). Target: warm <= 1/5 of cold.

    python bench/bench_reopen.py [--count 600] [--embedder pixels]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_decode import photo_like  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def make_folder(folder: Path, count: int) -> None:
    """``count`` distinct 1600x1200 JPEGs from a few photo-like bases, each with its own marks."""
    bases = [photo_like(seed) for seed in range(min(count, 12))]
    rng = np.random.default_rng(0)
    for i in range(count):
        tag = folder / f"tag{i % 4}"
        tag.mkdir(parents=True, exist_ok=True)
        im = bases[i % len(bases)].copy()
        draw = ImageDraw.Draw(im)
        for _ in range(3):
            x0, y0 = (int(v) for v in rng.integers(0, 1400, 2))
            draw.rectangle([x0, y0 // 2, x0 + 150, y0 // 2 + 150], fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        im.save(tag / f"{i:04d}.jpg", quality=90)


def embed(folder: Path, out: Path, cache: Path, embedder: str, *extra: str) -> float:
    env = {**os.environ, "EXPLORER_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "explorer", "embed", str(folder), "--embedder", embedder,
                    "--out", str(out), *extra], cwd=REPO, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--embedder", default="pixels")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}  load average: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="bench_reopen_") as tmp:
        folder, cache, out = Path(tmp) / "photos", Path(tmp) / "cache", Path(tmp) / "v.npz"
        make_folder(folder, args.count)
        files = sorted(folder.rglob("*.jpg"))
        mb = sum(p.stat().st_size for p in files) / 2**20
        print(f"generated {len(files)} 1600x1200 JPEGs, {mb:.0f} MB")
        baseline = embed(folder, out, cache, args.embedder, "--no-cache")
        cold = embed(folder, out, cache, args.embedder)
        warm = embed(folder, out, cache, args.embedder)
        for p in files:
            os.utime(p)
        by_content = embed(folder, out, cache, args.embedder)
        warm_again = embed(folder, out, cache, args.embedder)
    print(f"embed --no-cache (baseline): {baseline:6.2f} s")
    print(f"cold  (empty cache):         {cold:6.2f} s")
    print(f"warm  (unchanged files):     {warm:6.2f} s   warm/cold = {warm / cold:.3f}  (target <= 0.2)")
    print(f"warm by content (touched):   {by_content:6.2f} s   ratio = {by_content / cold:.3f}")
    print(f"warm again:                  {warm_again:6.2f} s   ratio = {warm_again / cold:.3f}")
    print(f"load average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
