"""Time building the built-in demo sets against the 2 s budget and against reading the same images from PNG.

Baseline (same run): decoding the hands set's own images from in-memory PNG files with a plain
``Image.open(...).convert("RGB")`` loop, i.e. what loading an equivalent folder would cost at best.
Run: ``python bench/bench_demos.py [--repeat 3] [--size 128] [--preview assets/hands-demo-preview.png]``
(``--preview`` also writes the contact sheet shown in the README: two images per class, 96 px).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.io.demos import load_demo  # noqa: E402

BUDGET_S = 2.0


def _best(fn, repeat: int) -> tuple[float, float, object]:
    """Best wall and CPU seconds over ``repeat`` runs (best = least disturbed by other processes)."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus), result


def _png_decode_baseline(pixels: np.ndarray, repeat: int) -> float:
    files = []
    for p in pixels:
        buffer = io.BytesIO()
        Image.fromarray(p).save(buffer, format="PNG", compress_level=1)
        files.append(buffer.getvalue())

    def decode():
        return [np.asarray(Image.open(io.BytesIO(f)).convert("RGB")) for f in files]

    return _best(decode, repeat)[0]


def write_preview(path: Path, per_class: int = 2, columns: int = 7, side: int = 96) -> None:
    """A small contact sheet of demo:hands (palette PNG keeps the noisy backgrounds under ~150 KB)."""
    images = load_demo("hands", seed=0, image_size=side)
    picks = [i for tag in images.tag_counts()
             for i in [j for j, t in enumerate(images.tags) if t == tag][1:1 + per_class]]
    rows = -(-len(picks) // columns)
    sheet = Image.new("RGB", (columns * side, rows * side), "white")
    for k, i in enumerate(picks):
        sheet.paste(Image.fromarray(images.pixels[i]), ((k % columns) * side, (k // columns) * side))
    sheet.quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB, {len(picks)} images)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--preview", type=Path, help="also write a contact sheet PNG of demo:hands here")
    args = parser.parse_args()
    if args.preview:
        write_preview(args.preview)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; best of {args.repeat}")

    wall, cpu, hands = _best(lambda: load_demo("hands", seed=0, image_size=args.size), args.repeat)
    n = len(hands)
    verdict = "within" if wall <= BUDGET_S else "OVER"
    print(f"demo:hands  {n} images at {args.size}px: {wall:.3f} s wall ({cpu:.3f} s CPU), "
          f"{1000 * wall / n:.2f} ms/image, {wall / BUDGET_S:.2f}x the {BUDGET_S:.0f} s budget ({verdict})")
    png = _png_decode_baseline(hands.pixels, args.repeat)
    print(f"baseline: decoding the same {n} images from PNG bytes: {png:.3f} s; "
          f"generation / PNG decode = {wall / png:.2f}x")

    first = _best(lambda: load_demo("digits", image_size=args.size), 1)[0]
    print(f"demo:digits first call (imports scikit-learn's datasets module): {first:.3f} s wall")
    wall, cpu, digits = _best(lambda: load_demo("digits", image_size=args.size), args.repeat)
    print(f"demo:digits {len(digits)} images at {args.size}px: {wall:.3f} s wall ({cpu:.3f} s CPU), "
          f"{1000 * wall / len(digits):.2f} ms/image")


if __name__ == "__main__":
    main()
