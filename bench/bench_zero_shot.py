"""Bench: generalised zero-shot on real sets — methods × sets × K, seen / unseen / H / chance over seeds.

Methods (explorer.story.zeroshot): hashed + projections, minilm + projections, ConSE (minilm, settings
chosen on the training split), combined (minilm projections for seen tags + ConSE for unseen, gate
calibrated on the training split). K = 0 is pure zero-shot (ConSE only, nothing trained): the plain
method (T = 10, clean names, "a photo of {}") and, as an honest estimate of choosing settings without
looking at the measured tags, settings chosen on half the tags and measured on the other half.
Every set is embedded by efficientnet-lite0 through the embedding cache (a second run skips the CNN).

    python bench/bench_zero_shot.py [--data DIR] [--seeds 5] [--ks 2,4] [--sets grocery,hands,digits]

Prints one row per (set, K, method): mean ± standard deviation over the seeds, and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.imageset import tag_order  # noqa: E402
from explorer.io.cache import EmbeddingCache, default_cache_dir  # noqa: E402
from explorer.story import zeroshot as Z  # noqa: E402
from explorer.story.conse import ConseModel, ConseSettings, choose_settings  # noqa: E402
from explorer.story.text_encoders import get_text_encoder  # noqa: E402
from explorer.io.load import load_workset  # noqa: E402

SETS = {"grocery": "grocery-subset", "hands": "demo:hands", "digits": "sign-language-digits"}
METHODS = (("projections", "hashed"), ("projections", "minilm"), ("conse", "minilm"), ("combined", "minilm"))


def fmt(mean, std) -> str:
    return "   n/a     " if mean is None else f"{mean:.3f}±{std:.3f}"


def load(name: str, data: Path, cache) -> tuple:
    source = SETS[name] if SETS[name].startswith("demo:") else str(data / SETS[name])
    record = load_workset(source, embedder="efficientnet-lite0", cache=cache)
    return record, Z.image_probabilities(record, cache=cache)


def pure_rows(name: str, record, probs, conse: ConseModel, seeds: list[int]) -> list[str]:
    tags = np.asarray(record.tags, dtype=object)
    names = tag_order(tags)
    plain = Z.evaluate("conse", tags=tags, held_out=0, probs=probs, conse=conse)
    rows = [f"{name:8s} K=0 conse (plain T=10)        unseen(all tags) {plain.unseen_top1:.3f}  "
            f"chance {plain.chance:.3f}"]
    accs = []
    for seed in seeds:  # choose settings on half the tags' images (among their names only), measure the rest
        order = np.random.default_rng(seed).permutation(len(names))
        half = [names[i] for i in order[: len(names) // 2]]
        pick = np.isin(tags, half)
        chosen = conse.with_settings(choose_settings(conse, probs[pick], tags[pick]).settings)
        predicted = np.asarray(names, dtype=object)[chosen.classify(probs, names)]
        accs.append(float(np.mean(predicted[~pick] == tags[~pick])))
    rows.append(f"{name:8s} K=0 conse (chosen on other half) unseen(all tags) {fmt(np.mean(accs), np.std(accs))}"
                f"  chance {plain.chance:.3f}  ({len(seeds)} seeds)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--ks", default="2,4")
    parser.add_argument("--sets", default="grocery,hands,digits")
    args = parser.parse_args()
    cache = EmbeddingCache(default_cache_dir())
    seeds = list(range(args.seeds))
    encoders = {name: get_text_encoder(name) for name in ("hashed", "minilm")}
    conse = ConseModel.build(encoders["minilm"], ConseSettings(), cache=cache)
    print(f"load before: {os.getloadavg()[0]:.2f}")
    for name in args.sets.split(","):
        start = time.perf_counter()
        record, probs = load(name, args.data, cache)
        print(f"\n{name}: {len(record)} images, {len(tag_order(record.tags))} tags")
        for row in pure_rows(name, record, probs, conse, seeds):
            print(row)
        for k in [int(k) for k in args.ks.split(",")]:
            for method, text in METHODS:
                summary = Z.evaluate_seeds(method, seeds=seeds, tags=record.tags, held_out=k, X=record.vectors,
                                           probs=probs, encoder=encoders[text], conse=conse).to_json()
                print(f"{name:8s} K={k} {method:11s} {text:7s} seen {fmt(summary['seen_top1'], summary['seen_top1_std'])}"
                      f"  unseen {fmt(summary['unseen_top1'], summary['unseen_top1_std'])}"
                      f"  H {fmt(summary['harmonic_mean'], summary['harmonic_mean_std'])}"
                      f"  chance {summary['chance']:.3f}", flush=True)
        print(f"({name}: {time.perf_counter() - start:.0f} s, load {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
