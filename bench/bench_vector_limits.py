"""Benchmark: peak memory (RSS above the child's idle level) of each hostile vector file of issue 20,
each opened in a fresh child process as the app opens an upload (tests/amplifiers.VECTOR_CHILD).

Run it on this checkout and on an older one for the "before" column, e.g.
``mkdir /tmp/base && git archive 880f911 | tar -x -C /tmp/base``:

    python bench/bench_vector_limits.py [--repo PATH] [--cases bundle-zip-120MB-rows,...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE / "tests"))
import amplifiers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", default=str(HERE))
    parser.add_argument("--cases", default=",".join(amplifiers.VECTOR_CASES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cases = amplifiers.vector_cases(Path(folder), args.cases.split(","))
        print(f"{'case':30} {'file':>10} {'above idle':>11} {'time':>7}  outcome")
        for case, (name, path) in cases.items():
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", amplifiers.VECTOR_CHILD, args.repo, str(path), name],
                                 capture_output=True, text=True, timeout=1800)
            seconds = time.perf_counter() - start
            lines = out.stdout.strip().splitlines()
            if out.returncode or len(lines) < 3:
                print(f"{case:30} {path.stat().st_size:>10,} {'crashed':>11} {seconds:6.1f}s  {out.stderr.strip()[-200:]}")
                continue
            *outcome, idle, peak = lines
            print(f"{case:30} {path.stat().st_size:>10,} {int(peak) - int(idle):>8} MB {seconds:6.1f}s  "
                  f"{' '.join(outcome)[:110]}")


if __name__ == "__main__":
    main()
