"""Bench the exports on a synthetic set: Projector bundle, Parquet, HTML map, against writing the .npz.

Run: python bench/bench_export.py [--n 5000] [--dims 256]
Prints seconds and output size per format, the ratio to the .npz baseline measured in the same run
(the ``embed`` command's file), the peak memory of the process and the machine load.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from explorer.io import export  # noqa: E402


def synthetic_rows(n: int, dims: int) -> export.ExportRows:
    rng = np.random.default_rng(0)
    base = []
    for i in range(64):  # smooth pictures, like real thumbnails (noise would not compress at all)
        y, x = np.mgrid[0:72, 0:96]
        pic = np.stack([(x * (i + 1)) % 256, (y * 3 + i * 4) % 256, ((x + y) * 2) % 256], axis=-1).astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pic).save(buffer, "JPEG", quality=80)
        base.append(buffer.getvalue())
    return export.ExportRows(ids=[f"{i:08x}" for i in range(n)], sources=[f"set/tag{i % 9}/img{i}.jpg" for i in range(n)],
                             columns={"tag": [f"tag{i % 9}" for i in range(n)], "kind": [f"k{i % 2}" for i in range(n)]},
                             vectors=rng.normal(size=(n, dims)).astype(np.float32),
                             thumbnails=[base[i % 64] for i in range(n)], embedder_name="synthetic", name="bench")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--dims", type=int, default=256)
    args = parser.parse_args()
    rows = synthetic_rows(args.n, args.dims)
    coords = np.random.default_rng(1).normal(size=(args.n, 2))
    steps = {
        "npz (baseline)": lambda: export.npz_bytes(rows),
        "parquet": lambda: export.embeddings_parquet_bytes(rows),
        "projector bundle": lambda: export.projector_files(rows),
        "html map": lambda: export.html_map(rows, coords).encode("utf-8"),
        "map table parquet": lambda: export.map_table_bytes(export.map_frame(rows, coords), "parquet"),
    }
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores shared); n={args.n:,}, d={args.dims}")
    baseline = None
    with tempfile.TemporaryDirectory():
        for name, step in steps.items():
            start = time.perf_counter()
            out = step()
            seconds = time.perf_counter() - start
            size = sum(map(len, out.values())) if isinstance(out, dict) else len(out)
            baseline = baseline or seconds
            print(f"{name:20s} {seconds:7.2f} s  {size / 2**20:8.1f} MB  x{seconds / baseline:5.1f} of npz")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; "
          f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
