"""Benchmark: peak memory (RSS) of each hostile small file from issue 13, each in a fresh child process.

Cases: an 8000x8000 16-bit PNG, an 8000x8000 float32 TIFF (and 8000x6000 versions, inside the lower
pixel limit for wide modes), a ZIP of 49,000 tiny PNGs uploaded to a session, and an ``.npz`` declaring
262,144 x 1,024 float32, and an 8000x8000 RGBA PNG (64 Mpx, the 8-bit limit). Each child imports the explorer from ``--repo`` (default: this checkout; pass
an older worktree, e.g. ``git worktree add /tmp/base e7e49cb``, for the "before" figures), runs one case
and prints its peak RSS (VmHWM); the baseline is the same child doing nothing but the imports.

    python bench/bench_limits.py [--repo PATH] [--cases png16,tiff,png16-48,tiff-48,rgba,zip,npz]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests"))
import amplifiers  # noqa: E402

CHILD = amplifiers.PEAK_MB_CHILD + r"""
import time

sys.path.insert(0, sys.argv[1])
case, path = sys.argv[2], sys.argv[3]
from explorer import images
from explorer.io import sources
from explorer.io import store
import numpy as np
start = time.perf_counter()
outcome = "ok"
try:
    if case in ("png16", "tiff", "png16-48", "tiff-48", "rgba"):
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            d = images.decode_image(data)
            outcome = "decoded" + (f" ({d.note})" if d.note else "")
        except images.ImageRejected as exc:
            outcome = "refused: " + exc.reason
    elif case == "zip":
        with open(path, "rb") as fh:
            up = sources.Upload(name="tiny.zip", data=fh.read(), tag="")
        try:
            from explorer import limits
            s = sources.load_uploads([up], max_images=limits.SESSION_MAX_IMAGES)
        except ImportError:
            s = sources.load_uploads([up])  # before: no per-session count of archive members
        except sources.LoadError as exc:
            s, outcome = None, "refused: " + str(exc)
        if s is not None:
            outcome = f"{len(s)} images decoded"
    elif case == "npz":
        try:
            try:  # as the app opens it (explorer.limits); before issue 13 there were no such limits
                from explorer import limits
                f = store.load_embeddings(path, name="big.npz", max_rows=limits.NPZ_MAX_ROWS,
                                          max_dims=limits.NPZ_MAX_DIMS, max_bytes=limits.NPZ_MAX_BYTES,
                                          drop_non_finite=True)
            except ImportError:
                f = store.load_embeddings(path)
            outcome = f"loaded {f.vectors.shape}"
        except ValueError as exc:
            outcome = "refused: " + str(exc).split(": ", 1)[-1]
    elif case != "idle":
        raise SystemExit("unknown case " + case)
except MemoryError:
    outcome = "MemoryError"
print(peak_mb(), f"{time.perf_counter() - start:.1f}", outcome)
"""


def make_files(folder: Path) -> dict[str, Path]:
    return {"png16": amplifiers.write_png16(folder / "png16.png", 8000, 8000),
            "tiff": amplifiers.write_float_tiff(folder / "f32.tif", 8000, 8000),
            "png16-48": amplifiers.write_png16(folder / "png16-48.png", 8000, 6000),
            "tiff-48": amplifiers.write_float_tiff(folder / "f32-48.tif", 8000, 6000),
            "rgba": amplifiers.write_png_rgba(folder / "rgba.png", 8000, 8000),
            "zip": amplifiers.tiny_png_zip(folder / "tiny.zip", 49_000),
            "npz": amplifiers.npz_declaring(folder / "big.npz", 262_144, 1024)}


def run_case(repo: Path, case: str, path: Path | str) -> tuple[int, str, str]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(repo), case, str(path)], capture_output=True,
                         text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if out.returncode:
        return -1, "", f"child failed: {out.stderr.strip().splitlines()[-1:]}"
    mb, seconds, outcome = out.stdout.strip().split(" ", 2)
    return int(mb), seconds, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(HERE))
    parser.add_argument("--cases", default="png16,tiff,png16-48,tiff-48,rgba,zip,npz")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), repo {args.repo}")
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp))
        idle, _, _ = run_case(Path(args.repo), "idle", "")
        print(f"{'idle (imports only)':<12} {idle:>6} MB")
        for case in args.cases.split(","):
            mb, seconds, outcome = run_case(Path(args.repo), case, files[case])
            size = files[case].stat().st_size
            print(f"{case:<12} {mb:>6} MB peak ({mb - idle:+} MB over idle) {seconds:>6} s  "
                  f"file {size / 1024:,.0f} KB  {outcome[:150]}")
            time.sleep(0.2)


if __name__ == "__main__":
    main()
