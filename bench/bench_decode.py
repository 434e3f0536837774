"""Benchmark: images/s of the explorer decode pipeline vs a naive Pillow loop, measured in the same run.

Generates ~60 photo-like 1600x1200 JPEGs (quality 90) in a temporary folder (never in the repository),
times ``explorer.sources.load_folder`` (draft-mode decode, both cores) against
``Image.open(p).convert("RGB").resize((128, 128))`` over the same files, and prints the ratio.
If ``../shared/data/sign-language-digits`` exists it also times both on that real set.

    python bench/bench_decode.py [--count 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from explorer.images import decode_many  # noqa: E402
from explorer.io.sources import load_folder  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def photo_like(seed: int, width: int = 1600, height: int = 1200) -> Image.Image:
    """Smooth gradients, a few filled shapes and sensor-like noise: JPEG sizes close to real photos."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    c = rng.uniform(0, 1, (3, 3))
    base = np.stack([255 * (c[i, 0] * x / width + c[i, 1] * y / height + c[i, 2]) / (1 + c[i].sum())
                     for i in range(3)], axis=-1)
    im = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        box = [x0, y0, x0 + rng.integers(40, 500), y0 + rng.integers(40, 500)]
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    arr = np.asarray(im).astype(np.int16) + rng.normal(0, 6, (height, width, 3)).astype(np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def naive(paths: list[Path]) -> None:
    for p in paths:
        Image.open(p).convert("RGB").resize((128, 128))


def measure(fn, n: int, repeat: int) -> tuple[float, float]:
    """(images per wall-clock second, CPU ms per image) of the best of ``repeat`` runs.

    CPU time (all threads of this process) is printed too because a shared machine steals wall time.
    """
    best_wall, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return n / best_wall, 1000 * best_cpu / n


def compare(label: str, folder: Path, paths: list[Path], repeat: int) -> None:
    loaded = load_folder(folder)  # warm-up, also checks every file loads
    assert len(loaded) == len(paths), (len(loaded), len(paths), loaded.skipped[:3])
    ours, ours_cpu = measure(lambda: load_folder(folder), len(paths), repeat)
    base, base_cpu = measure(lambda: naive(paths), len(paths), repeat)
    print(f"{label}: {len(paths)} images")
    print(f"  explorer load_folder (draft decode, 2 threads, +thumbnail +sha256): {ours:8.1f} img/s"
          f"  {ours_cpu:6.2f} CPU ms/img")
    print(f"  naive open().convert('RGB').resize((128,128)) loop:                 {base:8.1f} img/s"
          f"  {base_cpu:6.2f} CPU ms/img")
    print(f"  ratio: {ours / base:.2f}x images/s (wall), {base_cpu / ours_cpu:.2f}x less CPU per image")


def thread_scaling(paths: list[Path], repeat: int) -> None:
    """decode_many on bytes already in memory, 1 vs 2 workers: how much the second core adds here."""
    data = [p.read_bytes() for p in paths]
    one, _ = measure(lambda: decode_many(data, workers=1), len(data), repeat)
    two, _ = measure(lambda: decode_many(data, workers=2), len(data), repeat)
    print(f"  decode_many from memory: 1 worker {one:.1f} img/s, 2 workers {two:.1f} img/s, scaling {two / one:.2f}x"
          f" (load average now {os.getloadavg()[0]:.1f}; on a busy machine this tends to 1.0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}  pillow: {Image.__version__}  load average: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench_decode_") as tmp:
        folder = Path(tmp) / "set"
        (folder / "synthetic").mkdir(parents=True)
        paths = []
        for i in range(args.count):
            path = folder / "synthetic" / f"{i:03d}.jpg"
            photo_like(i).save(path, quality=90)
            paths.append(path)
        mean_kb = sum(p.stat().st_size for p in paths) / len(paths) / 1024
        print(f"generated {len(paths)} 1600x1200 JPEGs, mean {mean_kb:.0f} KB")
        compare("synthetic 1600x1200", folder, paths, args.repeat)
        thread_scaling(paths, args.repeat)
    signs = SHARED / "sign-language-digits"
    if signs.is_dir():
        real = sorted(p for p in signs.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
        compare("sign-language-digits (real)", signs, real, 1)
    else:
        print(f"sign-language-digits not found at {signs}; real-set figure skipped")


if __name__ == "__main__":
    main()
