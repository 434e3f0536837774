"""A tiny image-text model: hashed n-gram text features and two linear heads trained with symmetric InfoNCE.

This is the essay's "contrastive image pre-training" in miniature: (image, tag text) pairs pull an image
vector and its words to the same point of a shared unit sphere. Nothing is downloaded; text features are
signed feature hashing of words, word pairs and character n-grams (stable across runs: crc32, not ``hash``).
"""

from __future__ import annotations

import re
import time
import zlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from explorer.contrastive import _Adam, _as_matrix, _one_blas_thread, _as_tags, check_settings, clip_loss, normalize_backward, normalize_rows
from explorer.imageset import tag_order
from explorer.progress import ProgressCallback, report

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _tokens(text: str, char_ngrams: tuple[int, int]) -> tuple[list[str], list[str]]:
    words = _WORD.findall(str(text).lower())
    word_feats = [f"w:{w}" for w in words] + [f"b:{a} {b}" for a, b in zip(words, words[1:])]
    lo, hi = char_ngrams
    chars = []
    for w in words:
        padded = f"<{w}>"
        chars += [f"c:{padded[i:i + n]}" for n in range(lo, hi + 1) for i in range(len(padded) - n + 1)]
    return word_feats, chars


def _hash_into(row: np.ndarray, tokens: list[str]) -> None:
    for tok in tokens:
        h = zlib.crc32(tok.encode("utf-8"))
        row[h % len(row)] += 1.0 if (h >> 31) & 1 else -1.0


def hash_text_features(texts: Sequence[str], *, dim: int = 2048, char_ngrams: tuple[int, int] = (2, 4),
                       char_weight: float = 0.5) -> np.ndarray:
    """Signed hashed features of words, word bigrams and character n-grams -> (len(texts), dim) float64.

    Word and character parts are L2-normalised separately and mixed with ``char_weight``; an empty text
    gives a zero row. Words are lower-cased letter/digit runs, so "Thumbs-up" and "thumbs up" match.
    """
    if dim < 16:
        raise ValueError(f"dim must be >= 16, got {dim}")
    if not 1 <= char_ngrams[0] <= char_ngrams[1]:
        raise ValueError(f"char_ngrams must be (min, max) with 1 <= min <= max, got {char_ngrams}")
    out = np.zeros((len(texts), dim))
    for i, text in enumerate(texts):
        words, chars = _tokens(text, char_ngrams)
        w, c = np.zeros(dim), np.zeros(dim)
        _hash_into(w, words)
        _hash_into(c, chars)
        out[i] = w / max(np.linalg.norm(w), 1e-12) + char_weight * c / max(np.linalg.norm(c), 1e-12)
    return out


def image_texts(tags: Sequence[str], extra_tags: dict[str, Sequence[str]] | None = None) -> list[str]:
    """The caption of each image: its tag followed by its extra tag values ("thumbs up hand")."""
    extra = extra_tags or {}
    return [" ".join([str(t)] + [str(col[i]) for col in extra.values() if str(col[i])]) for i, t in enumerate(tags)]


@dataclass
class TextModelSettings:
    """Hyper-parameters of ``train_image_text``; validated once here."""

    out_dim: int = 64
    text_dim: int = 2048
    temperature: float = 0.1
    steps: int = 200
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-3

    def __post_init__(self) -> None:
        check_settings(self, at_least_one=("out_dim", "text_dim", "steps", "batch_size"),
                       positive=("temperature", "learning_rate"))


@dataclass
class ImageTextModel:
    """Two linear heads into one unit sphere: images (d,) -> (out_dim,) and hashed text (text_dim,) -> (out_dim,)."""

    image_mean: np.ndarray
    image_scale: float
    W_image: np.ndarray
    W_text: np.ndarray
    settings: TextModelSettings
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def encode_images(self, X) -> np.ndarray:
        """Unit vectors (n, out_dim) for image vectors X (n, d)."""
        X = _as_matrix(X)
        if X.shape[1] != len(self.image_mean):
            raise ValueError(f"X has {X.shape[1]} dimensions but the model was trained on {len(self.image_mean)}")
        return normalize_rows(((X - self.image_mean) / self.image_scale) @ self.W_image)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors (m, out_dim) for phrases (a phrase with no known letters gives a zero row)."""
        return normalize_rows(hash_text_features(texts, dim=self.settings.text_dim) @ self.W_text)


def train_image_text(X, texts: Sequence[str], *, settings: TextModelSettings | None = None, seed: int = 0,
                     progress: ProgressCallback | None = None) -> ImageTextModel:
    """Fit both heads on (image vector, caption) pairs with the symmetric image-text InfoNCE loss.

    X : (n, d) image vectors; texts : n captions (see ``image_texts``). Same caption = same target.
    """
    settings = settings or TextModelSettings()
    X = _as_matrix(X)
    texts = _as_tags(texts, len(X), "texts")
    start = time.perf_counter()
    unique, caption = np.unique(texts, return_inverse=True)
    T = hash_text_features(list(unique), dim=settings.text_dim)
    mean = X.mean(axis=0)
    scale = float(np.sqrt(np.mean(np.sum((X - mean) ** 2, axis=1)))) or 1.0
    Xs = ((X - mean) / scale).astype(np.float32)
    T = T.astype(np.float32)
    rng = np.random.default_rng(seed)
    params = {"W_image": rng.normal(0, 1 / np.sqrt(settings.out_dim), (X.shape[1], settings.out_dim)) * 3,
              "W_text": rng.normal(0, 1 / np.sqrt(settings.out_dim), (settings.text_dim, settings.out_dim))}
    params = {k: v.astype(np.float32) for k, v in params.items()}
    opt = _Adam(params, settings.learning_rate, settings.weight_decay)
    losses = []
    batch = min(settings.batch_size, len(X))
    with _one_blas_thread():
        for step in range(settings.steps):
            idx = rng.choice(len(X), size=batch, replace=False)
            loss, grads = _clip_step(params, Xs[idx], T[caption[idx]], caption[idx], settings.temperature)
            opt.step(params, grads)
            losses.append(loss)
            if (step + 1) % 10 == 0 or step + 1 == settings.steps:
                report(progress, step + 1, settings.steps, f"training the image-text model (loss {loss:.3f})")
    return ImageTextModel(mean, scale, params["W_image"], params["W_text"], settings, losses,
                          time.perf_counter() - start)


def _clip_step(params: dict, Xb: np.ndarray, Tb: np.ndarray, labels: np.ndarray, temperature: float):
    Hi, Ht = Xb @ params["W_image"], Tb @ params["W_text"]
    Zi, Zt = normalize_rows(Hi), normalize_rows(Ht)
    loss, dZi, dZt = clip_loss(Zi, Zt, labels, temperature)
    _, dHi = normalize_backward(Hi, dZi)
    _, dHt = normalize_backward(Ht, dZt)
    return loss, {"W_image": Xb.T @ dHi, "W_text": Tb.T @ dHt}


# ---------------------------------------------------------------------------------------------------------
# Using the model: phrase -> images, tags, and a point on the map


@dataclass
class TextQuery:
    """A phrase matched against images: cosine ``scores`` (n,) in the joint space, best first in ``nearest``."""

    phrase: str
    scores: np.ndarray
    nearest: list[tuple[int, float]]
    known: bool  # False when the phrase has no letters or digits (the scores are then all 0)


def query_images(model: ImageTextModel, phrase: str, X, *, k: int = 10) -> TextQuery:
    """Score every image vector in X (n, d) against ``phrase``; ``nearest`` holds the top ``k`` (index, score)."""
    if not isinstance(phrase, str):
        raise ValueError(f"phrase must be a string, got {type(phrase).__name__}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    t = model.encode_texts([phrase])[0]
    scores = model.encode_images(X) @ t
    top = np.argsort(-scores, kind="stable")[:k]
    return TextQuery(phrase, scores, [(int(i), float(scores[i])) for i in top], bool(np.any(t)))


def rank_tags(model: ImageTextModel, phrase: str, X, tags: Sequence[str]) -> list[tuple[str, float]]:
    """Tags ordered by the cosine between ``phrase`` and the centroid of the tag's images in the joint space."""
    tags = _as_tags(tags, len(_as_matrix(X)))
    Z = model.encode_images(X)
    t = model.encode_texts([phrase])[0]
    order = tag_order(tags)
    centroids = normalize_rows(np.stack([Z[tags == tag].mean(axis=0) for tag in order]))
    scores = centroids @ t
    return [(order[i], float(scores[i])) for i in np.argsort(-scores, kind="stable")]


def star_position(coords, scores, *, k: int = 10, sharpness: float = 20.0) -> np.ndarray:
    """Where a query goes on a 2-D map: the softmax(sharpness * score)-weighted mean of the map positions of
    its ``k`` best-scoring images. Works for any projection (t-SNE has no transform for new points); rows
    of ``coords`` that are NaN (excluded from the map) are ignored. Returns (2,) or NaNs when none are placed."""
    coords = np.asarray(coords, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if coords.ndim != 2 or len(coords) != len(scores):
        raise ValueError(f"coords must be (n, 2) matching scores ({len(scores)}), got {coords.shape}")
    ok = np.flatnonzero(np.isfinite(coords).all(axis=1))
    if len(ok) == 0:
        return np.full(coords.shape[1], np.nan)
    best = ok[np.argsort(-scores[ok], kind="stable")[:k]]
    w = np.exp(sharpness * (scores[best] - scores[best].max()))
    return (w[:, None] * coords[best]).sum(axis=0) / w.sum()


def blend_tags(X, tags: Sequence[str], first: str, second: str, *, weight: float = 0.5, k: int = 10) -> dict:
    """Tag arithmetic in the image embedding space: (1-weight) * centroid(first) + weight * centroid(second).

    Centroids are means of L2-normalised vectors. Returns ``{"vector": (d,), "scores": (n,) cosine,
    "nearest": [(index, cosine)]}`` with the ``k`` images closest to the blend.
    """
    Z = normalize_rows(_as_matrix(X))
    tags = _as_tags(tags, len(Z))
    for name, tag in (("first", first), ("second", second)):
        if tag not in set(tags):
            raise ValueError(f"{name} tag {tag!r} is not in the set")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    blend = (1 - weight) * Z[tags == first].mean(axis=0) + weight * Z[tags == second].mean(axis=0)
    scores = Z @ normalize_rows(blend[None])[0]
    top = np.argsort(-scores, kind="stable")[:k]
    return {"vector": blend, "scores": scores, "nearest": [(int(i), float(scores[i])) for i in top]}
