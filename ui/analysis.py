"""Light, pure numpy summaries the Distances and Pair pages draw (no streamlit, no heavy work)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def sample_rows_per_tag(tags: Sequence[str], limit: int, *, seed: int = 0) -> np.ndarray:
    """At most ``limit`` row indices, drawn per tag in proportion (every tag keeps ≥ 1 row), sorted."""
    n = len(tags)
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    tag_arr = np.asarray(tags, dtype=object)
    picks = []
    distinct = list(dict.fromkeys(tags))
    for tag in distinct:
        rows = np.flatnonzero(tag_arr == tag)
        take = max(1, int(round(limit * rows.size / n)))
        picks.append(rng.choice(rows, size=min(take, rows.size), replace=False))
    out = np.sort(np.concatenate(picks))
    return out[:limit] if out.size > limit else out


def tag_mean_similarity(similarity: np.ndarray, tags: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Mean similarity between every pair of tags (t, t), excluding each image's similarity to itself."""
    order = list(dict.fromkeys(tags))
    tag_arr = np.asarray(tags, dtype=object)
    masks = [tag_arr == t for t in order]
    out = np.zeros((len(order), len(order)))
    for a, ma in enumerate(masks):
        for b, mb in enumerate(masks):
            block = similarity[np.ix_(ma, mb)]
            if a == b:
                m = block.shape[0]
                out[a, b] = (block.sum() - np.trace(block)) / (m * m - m) if m > 1 else np.nan
            else:
                out[a, b] = block.mean()
    return out, order


def same_vs_different(similarity: np.ndarray, tags: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cosine distances (1 - similarity) of every unordered pair, split into same-tag and different-tag."""
    tag_arr = np.asarray(tags, dtype=object)
    iu = np.triu_indices(len(tags), k=1)
    dist = 1.0 - similarity[iu]
    same = tag_arr[iu[0]] == tag_arr[iu[1]]
    return dist[same], dist[~same]


def cosine_walk(a: np.ndarray, b: np.ndarray) -> dict:
    """The numbers of the cosine formula for two vectors, and each dimension's share of cos θ."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    dot = float(a @ b)
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    cos = dot / (na * nb) if na > 0 and nb > 0 else float("nan")
    contrib = (a * b) / (na * nb) if na > 0 and nb > 0 else np.zeros_like(a)
    return {"dot": dot, "norm_a": na, "norm_b": nb, "cos": cos, "distance": 1.0 - cos, "contributions": contrib}


def format_row(vector: np.ndarray, count: int = 12) -> str:
    """``[0 0 1 0 …]``: the first ``count`` values, compact (integers shown without decimals)."""
    head = np.asarray(vector[:count], dtype=np.float64)
    whole = np.all(np.abs(head - np.round(head)) < 1e-9)
    body = " ".join(f"{v:.0f}" if whole else f"{v:.3g}" for v in head)
    return f"[{body}{' …' if len(vector) > count else ''}]"
