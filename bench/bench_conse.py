"""Bench: `separation` with ConSE vs without it, on the grocery photos (1,121 images), in the same run.

Target (issue 19): with ``--zero-shot-method conse --zero-shot-holdout 0`` at most 1.2× the time of plain
``separation --embedder efficientnet-lite0`` — ConSE is one matrix product on vectors already computed,
probabilities kept in the cache beside them, class names encoded once and cached. Both runs are the real
CLI in a fresh process with a warm embedding cache (one untimed warm-up run fills it), alternated
``--repeats`` times; the ratio of the medians is printed with the machine's load.

    python bench/bench_conse.py [--data DIR] [--repeats 1] [--text-model minilm]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str]) -> tuple[float, dict]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "explorer", *argv], cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--text-model", default="minilm")
    args = parser.parse_args()
    source = str(args.data / "grocery-subset")
    plain = ["separation", source, "--embedder", "efficientnet-lite0", "--json"]
    conse = plain + ["--text-model", args.text_model, "--zero-shot-method", "conse", "--zero-shot-holdout", "0"]
    print(f"load before: {os.getloadavg()[0]:.2f}")
    run(conse)  # warm-up: fills the embedding cache (vectors, probabilities, class-name text vectors)
    times: dict[str, list[float]] = {"plain": [], "conse": []}
    for _ in range(args.repeats):
        for name, argv in (("plain", plain), ("conse", conse)):
            seconds, report = run(argv)
            times[name].append(seconds)
            extra = f"  zero_shot {report['zero_shot']}" if "zero_shot" in report else ""
            print(f"{name:6s} {seconds:7.1f} s  load {os.getloadavg()[0]:.2f}{extra}", flush=True)
    a, b = statistics.median(times["plain"]), statistics.median(times["conse"])
    print(f"separation without ConSE {a:.1f} s, with ConSE {b:.1f} s: ratio {b / a:.2f} (target <= 1.2)")
    conse_part(source, args.text_model)


def conse_part(source: str, text_model: str) -> None:
    """The ConSE step alone, in this process (less noisy than two whole runs on a busy machine)."""
    sys.path.insert(0, str(ROOT))
    from explorer.io.cache import EmbeddingCache, default_cache_dir
    from explorer.io.load import load_workset
    from explorer.story.conse import ConseModel
    from explorer.story.text_encoders import get_text_encoder
    from explorer.story.zeroshot import evaluate, image_probabilities

    cache = EmbeddingCache(default_cache_dir())
    record = load_workset(source, embedder="efficientnet-lite0", cache=cache)
    t0 = time.perf_counter()
    encoder = get_text_encoder(text_model)
    encoder.encode(["warm"])  # loading the text encoder is counted apart: the plain run never loads it
    t1 = time.perf_counter()
    probs = image_probabilities(record, cache=cache)
    model = ConseModel.build(encoder, cache=cache)
    res = evaluate("conse", tags=record.tags, held_out=0, probs=probs, conse=model)
    t2 = time.perf_counter()
    print(f"ConSE step in-process: loading {text_model} {t1 - t0:.1f} s; probabilities from the cache, class-name "
          f"vectors from the cache and classifying {len(record)} images {t2 - t1:.2f} s (top-1 {res.unseen_top1:.3f}); "
          f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
