"""Bench: the numpy contrastive head vs scikit-learn's NCA on held-out images, and hands-vs-objects separation.

For each shared real set (sign-language digits = hands, grocery = objects) and each available embedder
(pixels, hog, efficientnet-lite0 when torch is installed) it trains on a stratified 70 % and measures the
other 30 % (10-NN majority-vote tag agreement and cosine silhouette, held-out images among themselves).
Baseline in the same run: sklearn NeighborhoodComponentsAnalysis (64 components) on the same split.
Then separation of the hands set vs the objects set on the same embedder (same images per tag), and of
the built-in demo's hand and object groups.

    python bench/bench_contrastive.py [--data DIR] [--cache-dir DIR] [--embedders pixels,hog,...]

Embeddings go through the embedding cache (``$EXPLORER_CACHE_DIR``), so a second run skips the CNN.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explorer.story import contrastive as C  # noqa: E402
from explorer.story import smear as story  # noqa: E402
from explorer.io.cache import EmbeddingCache, default_cache_dir  # noqa: E402
from explorer.embedders import available_embedders, embed_set, get_embedder  # noqa: E402

SETS = {"hands (sign digits)": "sign-language-digits", "objects (grocery)": "grocery-subset"}


def fmt(x) -> str:
    return "  n/a" if x is None else f"{x:+.3f}" if x < 0 else f"{x:.3f}"


def nca_held_out(X, tags, train, test, seed) -> dict:
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    start = time.perf_counter()
    nca = NeighborhoodComponentsAnalysis(n_components=min(64, X.shape[1]), random_state=seed, max_iter=50)
    nca.fit(X[train], tags[train])
    seconds = time.perf_counter() - start
    Z = nca.transform(X[test])
    return {"knn": C.knn_agreement(Z, tags[test]), "sil": C.cosine_silhouette(Z, tags[test]), "seconds": seconds}


def held_out_row(X, tags, seed) -> dict:
    ours = C.held_out_comparison(X, tags, seed=seed)
    mlp = C.held_out_comparison(X, tags, seed=seed, settings=C.TrainSettings(kind="mlp"))
    nca = nca_held_out(X, np.asarray(tags), ours.train_index, ours.held_out_index, seed)
    return {"ours": ours, "mlp": mlp, "nca": nca}


def print_held_out(rows: list[tuple[str, str, dict]]) -> None:
    print("\nHeld-out 10-NN tag agreement / cosine silhouette (30 % of images, never trained on)")
    print(f"{'set':<20} {'embedder':<19} {'before':>13} {'linear head':>13} {'MLP head':>13} {'NCA':>13}"
          f" {'t_lin s':>8} {'t_NCA s':>8}")
    for set_name, emb, r in rows:
        o, m, n = r["ours"], r["mlp"], r["nca"]
        print(f"{set_name:<20} {emb:<19} {fmt(o['knn_before'])} {fmt(o['silhouette_before'])}"
              f" {fmt(o['knn_after'])} {fmt(o['silhouette_after'])} {fmt(m['knn_after'])} {fmt(m['silhouette_after'])}"
              f" {fmt(n['knn'])} {fmt(n['sil'])} {o['seconds']:8.2f} {n['seconds']:8.2f}")


def timing(X, tags) -> None:
    """Training time on 2,000 images vs NCA's fit on the same rows (same run, same machine load)."""
    from sklearn.neighbors import NeighborhoodComponentsAnalysis

    rows = np.arange(min(2000, len(X)))
    tags = np.asarray(tags)
    seconds = {}
    for kind in ("linear", "mlp"):
        start = time.perf_counter()
        C.train_head(X[rows], tags[rows], settings=C.TrainSettings(kind=kind), seed=0)
        seconds[kind] = time.perf_counter() - start
    start = time.perf_counter()
    NeighborhoodComponentsAnalysis(n_components=64, random_state=0, max_iter=50).fit(X[rows], tags[rows])
    nca = time.perf_counter() - start
    print(f"training time on {len(rows)} x {X.shape[1]} ({C.TrainSettings().steps} steps of "
          f"{C.TrainSettings().batch_size}): linear {seconds['linear']:.2f} s, MLP {seconds['mlp']:.2f} s; "
          f"baseline NCA (64 components, 50 iterations) {nca:.2f} s; "
          f"ratio linear/NCA {seconds['linear'] / nca:.2f}, MLP/NCA {seconds['mlp'] / nca:.2f}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--embedders", default=",".join(e for e in available_embedders() if e != "color-histogram"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from explorer.io.sources import load_folder

    cache = EmbeddingCache(Path(args.cache_dir) if args.cache_dir else default_cache_dir())
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}", flush=True)
    loaded = {}
    for label, folder in SETS.items():
        root = Path(args.data) / folder
        if not root.is_dir():
            print(f"skip {label}: {root} not found")
            continue
        loaded[label] = load_folder(root)
        print(f"{label}: {len(loaded[label])} images, {len(loaded[label].tag_counts())} tags", flush=True)
    held_rows, vectors = [], {}
    for emb_name in args.embedders.split(","):
        emb = get_embedder(emb_name)
        for label, s in loaded.items():
            start = time.perf_counter()
            X = embed_set(s, emb, cache=cache)
            print(f"embedded {label} with {emb_name}: {time.perf_counter() - start:.1f} s", flush=True)
            vectors[(label, emb_name)] = X
            held_rows.append((label, emb_name, held_out_row(X, s.tags, args.seed)))
            if label.startswith("hands") and emb_name == "pixels":
                timing(X, s.tags)
    print_held_out(held_rows)
    print_separation(loaded, vectors, args)
    return 0


def print_separation(loaded, vectors, args) -> None:
    print("\nHands vs objects, same embedder (cosine silhouette / 10-NN agreement; same images per tag and tag count)")
    print(f"{'embedder':<19} {'group':<22} {'tags':>4} {'per tag':>7} {'silhouette':>10} {'10-NN':>6} {'chance':>6}")
    for emb_name in args.embedders.split(","):
        groups = {label: (vectors[(label, emb_name)], loaded[label].tags) for label in loaded
                  if (label, emb_name) in vectors}
        if len(groups) == 2:
            _print_groups(emb_name, story.compare_groups(groups, embedder=emb_name, per_tag=100, seed=args.seed))
    from explorer.io.demos import load_demo

    demo = load_demo("hands")
    rows = story.group_rows(demo.extra_tags["kind"])
    for emb_name in args.embedders.split(","):
        X = get_embedder(emb_name).embed(demo.pixels)
        groups = {f"demo {k}": (X[r], [demo.tags[i] for i in r]) for k, r in rows.items()}
        _print_groups(emb_name, story.compare_groups(groups, embedder=emb_name, seed=args.seed))


def _print_groups(emb_name: str, out) -> None:
    for name, g in out.groups.items():
        print(f"{emb_name:<19} {name:<22} {g['n_tags']:>4} {out.per_tag:>7} {fmt(g['silhouette']):>10}"
              f" {fmt(g['knn_agreement']):>6} {fmt(g['chance']):>6}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
