"""An image-text model: two linear projections between locked towers, trained with symmetric InfoNCE.

This is the essay's "contrastive image pre-training" in miniature, built the way locked-image tuning (LiT)
builds one: the image vectors (any embedder) and a text encoder (``explorer.story.text_encoders``: hashed words
and letter groups, or the pretrained MiniLM sentence encoder) stay fixed; only the two projections into one
shared unit sphere are trained, on captions made from the tags ("a photo of a {tag}"). ``zero_shot`` holds
whole tags out of training and measures how well their images are found by their names. The hashed
features are signed feature hashing of words, word pairs and character n-grams (stable across runs: crc32,
not ``hash``); a phrase with none of the tag words is reported as unknown rather than ranked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from explorer.distances import as_matrix, l2_normalize
from explorer.imageset import tag_codes, tag_order
from explorer.progress import ProgressCallback, report
from explorer.story.contrastive import (Adam, as_tags, check_settings, clip_loss, normalize_backward,
                                        one_blas_thread, split_by_image)
from explorer.story.text_encoders import (WORD, HashedTextEncoder, TextEncoder, get_text_encoder,
                                          hash_text_features)


def image_texts(tags: Sequence[str], extra_tags: dict[str, Sequence[str]] | None = None) -> list[str]:
    """The caption of each image: its tag followed by its extra tag values ("thumbs up hand")."""
    extra = extra_tags or {}
    return [" ".join([str(t)] + [str(col[i]) for col in extra.values() if str(col[i])]) for i, t in enumerate(tags)]


TEMPLATES: tuple[str, ...] = ("{tag}", "a photo of a {tag}", "a picture of {tag}", "an image of {tag}",
                              "a close-up photo of {tag}")


def tag_captions(tag: str, templates: Sequence[str] = TEMPLATES) -> list[str]:
    """The captions a tag is trained and asked with: the tag itself and plain templates around it."""
    return [t.format(tag=str(tag)) for t in templates]


@dataclass
class TextModelSettings:
    """Hyper-parameters of ``train_image_text`` / ``train_on_tags``; validated once here.

    ``text_dim`` is the size of the hashed text features (used when no other text encoder is given).
    """

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


@dataclass(frozen=True)
class Vocabulary:
    """The words and letter groups (3-4 letters) of the tag texts a model was trained on.

    Template words ("a photo of") are not part of it: a phrase made only of them says nothing about a tag.
    """

    words: frozenset
    grams: frozenset

    @classmethod
    def of(cls, texts: Sequence[str]) -> "Vocabulary":
        words = {w for text in texts for w in WORD.findall(str(text).lower())}
        return cls(frozenset(words), frozenset(g for w in words for g in _grams(w)))

    def knows(self, word: str) -> bool:
        """A word is known when it is a training word, or at least half its letter groups are (plurals,
        typos, hyphen-less spellings); one- and two-letter words must match exactly."""
        if word in self.words:
            return True
        grams = _grams(word)
        return len(word) >= 3 and bool(grams) and sum(g in self.grams for g in grams) >= 0.5 * len(grams)


def _grams(word: str) -> list[str]:
    padded = f"<{word}>"
    return [padded[i:i + n] for n in (3, 4) for i in range(len(padded) - n + 1)]


@dataclass
class ImageTextModel:
    """Two linear projections into one unit sphere: image vectors (d,) -> (out_dim,) and text-encoder
    vectors (text_dim,) -> (out_dim,). The towers (image embedder, text encoder) stay locked (as in LiT)."""

    image_mean: np.ndarray
    image_scale: float
    W_image: np.ndarray
    W_text: np.ndarray
    settings: TextModelSettings
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    encoder: TextEncoder | None = None  # None: hashed features of settings.text_dim (the original model)
    vocabulary: Vocabulary | None = None  # the tag words it was trained on (None for an old pickled model)

    @property
    def text_model(self) -> str:
        return self.encoder.name if self.encoder is not None else "hashed"

    def encode_images(self, X) -> np.ndarray:
        """Unit vectors (n, out_dim) for image vectors X (n, d)."""
        X = as_matrix(X, "X", dtype=np.float64, finite=True, min_rows=1)
        if X.shape[1] != len(self.image_mean):
            raise ValueError(f"X has {X.shape[1]} dimensions but the model was trained on {len(self.image_mean)}")
        return l2_normalize(((X - self.image_mean) / self.image_scale) @ self.W_image, dtype=None)

    def text_features(self, texts: Sequence[str]) -> np.ndarray:
        """The locked text tower's vectors (m, text_dim) for ``texts``."""
        if self.encoder is None:
            return hash_text_features(texts, dim=self.settings.text_dim)
        return self.encoder.encode(texts)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors (m, out_dim) for phrases (with hashed features, a phrase with no letters gives a zero row)."""
        return l2_normalize(self.text_features(texts) @ self.W_text, dtype=None)

    def tag_prototypes(self, tags: Sequence[str], templates: Sequence[str] = TEMPLATES) -> np.ndarray:
        """One unit vector (len(tags), out_dim) per tag name: the mean of its template captions (prompt ensemble)."""
        tags = [str(t) for t in tags]
        Z = self.encode_texts([c for t in tags for c in tag_captions(t, templates)])
        return l2_normalize(Z.reshape(len(tags), len(templates), -1).mean(axis=1), dtype=None)


def _training_setup(X, settings: TextModelSettings, seed: int, text_dim: int):
    mean = X.mean(axis=0)
    scale = float(np.sqrt(np.mean(np.sum((X - mean) ** 2, axis=1)))) or 1.0
    rng = np.random.default_rng(seed)
    params = {"W_image": rng.normal(0, 1 / np.sqrt(settings.out_dim), (X.shape[1], settings.out_dim)) * 3,
              "W_text": rng.normal(0, 1 / np.sqrt(settings.out_dim), (text_dim, settings.out_dim))}
    return mean, scale, rng, {k: v.astype(np.float32) for k, v in params.items()}


def _fit(X, F: np.ndarray, caption_ids: np.ndarray, labels: np.ndarray, settings: TextModelSettings, seed: int,
         progress, encoder: TextEncoder | None, vocabulary: Vocabulary | None) -> ImageTextModel:
    """Train both projections. F (u, text_dim): the distinct captions' text vectors; caption_ids (n, a): the
    a caption alternatives of each image (one is drawn per image and step); labels (n,): images with the same
    label share their captions, so they are positives of each other."""
    start = time.perf_counter()
    mean, scale, rng, params = _training_setup(X, settings, seed, F.shape[1])
    Xs = ((X - mean) / scale).astype(np.float32)
    F = F.astype(np.float32)
    opt = Adam(params, settings.learning_rate, settings.weight_decay)
    losses = []
    batch = min(settings.batch_size, len(X))
    with one_blas_thread():
        for step in range(settings.steps):
            idx = rng.choice(len(X), size=batch, replace=False)
            pick = caption_ids[idx, 0] if caption_ids.shape[1] == 1 else \
                caption_ids[idx, rng.integers(0, caption_ids.shape[1], size=batch)]
            loss, grads = _clip_step(params, Xs[idx], F[pick], labels[idx], settings.temperature)
            opt.step(params, grads)
            losses.append(loss)
            if (step + 1) % 10 == 0 or step + 1 == settings.steps:
                report(progress, step + 1, settings.steps, f"training the image-text model (loss {loss:.3f})")
    return ImageTextModel(mean, scale, params["W_image"], params["W_text"], settings, losses,
                          time.perf_counter() - start, encoder, vocabulary)


def train_image_text(X, texts: Sequence[str], *, settings: TextModelSettings | None = None, seed: int = 0,
                     progress: ProgressCallback | None = None, encoder: TextEncoder | None = None) -> ImageTextModel:
    """Fit both heads on (image vector, caption) pairs with the symmetric image-text InfoNCE loss.

    X : (n, d) image vectors; texts : n captions (see ``image_texts``). Same caption = same target.
    encoder : the locked text tower (default: hashed features of ``settings.text_dim``).
    """
    settings = settings or TextModelSettings()
    X = as_matrix(X, "X", dtype=np.float64, finite=True, min_rows=1)
    texts = as_tags(texts, len(X), "texts")
    unique, caption = np.unique(texts, return_inverse=True)
    F = hash_text_features(list(unique), dim=settings.text_dim) if encoder is None else encoder.encode(list(unique))
    return _fit(X, F, caption[:, None], caption, settings, seed, progress, encoder, Vocabulary.of(unique))


def train_on_tags(X, tags: Sequence[str], *, encoder: TextEncoder | None = None,
                  extra_tags: dict[str, Sequence[str]] | None = None, templates: Sequence[str] = TEMPLATES,
                  settings: TextModelSettings | None = None, seed: int = 0,
                  progress: ProgressCallback | None = None) -> ImageTextModel:
    """Fit the projections on images and captions built from their tags: every template around the tag
    (one drawn per image and step) and, with ``extra_tags``, the tag followed by the image's other tag values.
    Images with the same tag are positives of each other."""
    settings = settings or TextModelSettings()
    X = as_matrix(X, "X", dtype=np.float64, finite=True, min_rows=1)
    tags = as_tags(tags, len(X))
    if not templates:
        raise ValueError("templates must hold at least one caption template")
    per_image = [tag_captions(t, templates) for t in tags]
    if extra_tags:
        per_image = [caps + [joined] for caps, joined in zip(per_image, image_texts(list(tags), extra_tags))]
    unique, inverse = np.unique(np.asarray([c for caps in per_image for c in caps], dtype=object),
                                return_inverse=True)
    encoder = encoder or _default_encoder(settings)
    codes, _ = tag_codes(tags)
    vocabulary = Vocabulary.of(list(tags) + image_texts(list(tags), extra_tags) if extra_tags else list(tags))
    return _fit(X, encoder.encode(list(unique)), inverse.reshape(len(X), -1), codes, settings, seed, progress,
                encoder, vocabulary)


def _default_encoder(settings: TextModelSettings) -> TextEncoder:
    encoder = get_text_encoder("hashed")
    return encoder if encoder.dim == settings.text_dim else HashedTextEncoder(settings.text_dim)


def _clip_step(params: dict, Xb: np.ndarray, Tb: np.ndarray, labels: np.ndarray, temperature: float):
    Hi, Ht = Xb @ params["W_image"], Tb @ params["W_text"]
    Zi, Zt = l2_normalize(Hi, dtype=None), l2_normalize(Ht, dtype=None)
    loss, dZi, dZt = clip_loss(Zi, Zt, labels, temperature)
    _, dHi = normalize_backward(Hi, dZi)
    _, dHt = normalize_backward(Ht, dZt)
    return loss, {"W_image": Xb.T @ dHi, "W_text": Tb.T @ dHt}


# ---------------------------------------------------------------------------------------------------------
# Zero-shot: tags the projections never saw


@dataclass
class ZeroShotResult:
    """Top-1 accuracy of classifying held-out images among ALL tag names by text similarity.

    ``seen_top1``: held-out images of tags that were trained on (other images of them were);
    ``unseen_top1``: images of the ``held_out_tags``, whose images and captions were never in training;
    ``chance``: 1 / number of tag names. None where there is nothing to measure.
    ``unseen_only_top1``: the never-seen tags' images classified among the never-seen tag names only (the
    classic zero-shot protocol; chance ``1 / len(held_out_tags)``): whether the text encoder carries any
    meaning across to new tags even when the trained tags out-score them among all names.
    """

    seen_top1: float | None
    unseen_top1: float | None
    chance: float
    held_out_tags: list[str]
    text_model: str
    train_index: np.ndarray
    seen_test_index: np.ndarray
    unseen_index: np.ndarray
    train_captions: list[str]
    model: ImageTextModel
    unseen_only_top1: float | None = None

    @property
    def unseen_only_chance(self) -> float:
        return 1.0 / len(self.held_out_tags)

    def as_json(self) -> dict:
        return {"seen_top1": self.seen_top1, "unseen_top1": self.unseen_top1, "chance": self.chance,
                "held_out_tags": list(self.held_out_tags)}


def choose_held_out_tags(tags: Sequence[str], k: int, *, seed: int = 0) -> list[str]:
    """``k`` tag names drawn with the seed (in first-seen order); at least 2 tags must stay for training."""
    order = tag_order(tags)
    if not 1 <= int(k) <= len(order) - 2:
        raise ValueError(f"the zero-shot hold-out must be between 1 and {len(order) - 2} tags "
                         f"(the set has {len(order)} tags and training needs at least 2), got {k}")
    chosen = set(np.random.default_rng(seed).choice(len(order), int(k), replace=False).tolist())
    return [t for i, t in enumerate(order) if i in chosen]


def classify(model: ImageTextModel, X, tag_names: Sequence[str]) -> np.ndarray:
    """Index into ``tag_names`` of the best-matching tag prototype for each image vector -> (n,) int."""
    return np.argmax(model.encode_images(X) @ model.tag_prototypes(tag_names).T, axis=1)


@dataclass(frozen=True)
class ZeroShotSplit:
    """Rows of one generalised zero-shot split: ``train`` (images of seen tags methods may learn from),
    ``seen_test`` (the other images of the seen tags) and ``unseen`` (every image of ``unseen_tags``)."""

    names: list[str]
    unseen_tags: list[str]
    train: np.ndarray
    seen_test: np.ndarray
    unseen: np.ndarray

    @property
    def seen_tags(self) -> list[str]:
        return [t for t in self.names if t not in self.unseen_tags]


def zero_shot_split(tags: Sequence[str], held_out: int | Sequence[str], *, held_out_images: float = 0.3,
                    seed: int = 0) -> ZeroShotSplit:
    """Hold out whole tags (``held_out``: how many, drawn with the seed, or their names) and a stratified,
    seeded share of the other tags' images. The one split every zero-shot method is measured on."""
    tags = np.asarray([str(t) for t in tags], dtype=object)
    names = tag_order(tags)
    unseen_tags = choose_held_out_tags(tags, held_out, seed=seed) if isinstance(held_out, (int, np.integer)) \
        else [str(t) for t in held_out]
    missing = [t for t in unseen_tags if t not in names]
    if missing or not 1 <= len(unseen_tags) <= len(names) - 2:
        raise ValueError(f"held-out tags must be 1 to {len(names) - 2} of the set's tags, got {unseen_tags}")
    unseen = np.flatnonzero(np.isin(tags, unseen_tags))
    seen = np.flatnonzero(~np.isin(tags, unseen_tags))
    train_rel, test_rel = split_by_image(list(tags[seen]), held_out=held_out_images, seed=seed)
    return ZeroShotSplit(names, unseen_tags, seen[train_rel], seen[test_rel], unseen)


def zero_shot(X, tags: Sequence[str], *, held_out: int | Sequence[str] = 2, encoder: TextEncoder | None = None,
              held_out_images: float = 0.3, settings: TextModelSettings | None = None, seed: int = 0,
              progress: ProgressCallback | None = None) -> ZeroShotResult:
    """Hold out whole tags and a stratified share of the other tags' images (``zero_shot_split``); train the
    projections on the rest; classify every held-out image among all tag names."""
    X = as_matrix(X, "X", dtype=np.float64, finite=True, min_rows=1)
    tags = as_tags(tags, len(X))
    split = zero_shot_split(tags, held_out, held_out_images=held_out_images, seed=seed)
    names, unseen_tags, unseen = split.names, split.unseen_tags, split.unseen
    train, seen_test = split.train, split.seen_test
    model = train_on_tags(X[train], tags[train], encoder=encoder, settings=settings, seed=seed, progress=progress)
    predicted = np.asarray(names, dtype=object)[classify(model, X, names)]

    def top1(rows: np.ndarray) -> float | None:
        return float(np.mean(predicted[rows] == tags[rows])) if len(rows) else None

    captions = sorted({c for t in set(tags[train]) for c in tag_captions(t)})
    among_unseen = np.asarray(unseen_tags, dtype=object)[classify(model, X[unseen], unseen_tags)]
    return ZeroShotResult(top1(seen_test), top1(unseen), 1.0 / len(names), unseen_tags, model.text_model,
                          train, seen_test, unseen, captions, model,
                          float(np.mean(among_unseen == tags[unseen])) if len(unseen) else None)


# ---------------------------------------------------------------------------------------------------------
# Using the model: phrase -> images, tags, and a point on the map


@dataclass
class TextQuery:
    """A phrase matched against images: cosine ``scores`` (n,) in the joint space, best first in ``nearest``.

    ``known`` is False when nothing of the phrase is known to the model (then ``scores`` are all 0 and
    ``nearest`` is empty: no ranking). With the hashed encoder only the words of the tag texts (or words
    sharing most of their letter groups) are known; ``unknown_words`` lists the rest, ``filler_words``
    the caption-template words ("a", "photo", "of") that say nothing about a tag. Both are left out of the
    hashed encoding. A sentence encoder reads every word, so for it ``unknown_words`` stays empty.
    """

    phrase: str
    scores: np.ndarray
    nearest: list[tuple[int, float]]
    known: bool
    unknown_words: list[str] = field(default_factory=list)
    filler_words: list[str] = field(default_factory=list)
    read_as: str = ""  # the text actually encoded


FILLER_WORDS = frozenset(w for t in TEMPLATES for w in WORD.findall(t.lower()) if w != "tag")


def read_phrase(model: ImageTextModel, phrase: str) -> tuple[str, list[str], list[str]]:
    """(text to encode, unknown words, filler words) for ``phrase`` under ``model``'s text encoder."""
    if not isinstance(phrase, str):
        raise ValueError(f"phrase must be a string, got {type(phrase).__name__}")
    words = WORD.findall(phrase.lower())
    if model.text_model != "hashed" or model.vocabulary is None:
        return (phrase if words else ""), [], []
    vocab = model.vocabulary
    known = [w for w in words if vocab.knows(w)]
    filler = list(dict.fromkeys(w for w in words if not vocab.knows(w) and w in FILLER_WORDS))
    unknown = list(dict.fromkeys(w for w in words if not vocab.knows(w) and w not in FILLER_WORDS))
    return " ".join(known), unknown, filler


def query_images(model: ImageTextModel, phrase: str, X, *, k: int = 10) -> TextQuery:
    """Score every image vector in X (n, d) against ``phrase``; ``nearest`` holds the top ``k`` (index, score),
    empty when the phrase is unknown (see ``TextQuery``)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    text, unknown, filler = read_phrase(model, phrase)
    n = len(as_matrix(X, "X", dtype=np.float64, finite=True, min_rows=1))
    if not text:
        return TextQuery(phrase, np.zeros(n), [], False, unknown, filler, "")
    t = model.encode_texts([text])[0]
    scores = model.encode_images(X) @ t
    top = np.argsort(-scores, kind="stable")[:k]
    return TextQuery(phrase, scores, [(int(i), float(scores[i])) for i in top], bool(np.any(t)), unknown,
                     filler, text)


def rank_tags(model: ImageTextModel, phrase: str, X, tags: Sequence[str]) -> list[tuple[str, float]]:
    """Tags ordered by the cosine between ``phrase`` and the centroid of the tag's images in the joint space;
    empty when the model knows nothing of the phrase (see ``query_images``)."""
    tags = as_tags(tags, len(as_matrix(X, "X", dtype=np.float64, finite=True, min_rows=1)))
    text, _, _ = read_phrase(model, phrase)
    if not text:
        return []
    Z = model.encode_images(X)
    t = model.encode_texts([text])[0]
    if not np.any(t):
        return []
    order = tag_order(tags)
    centroids = l2_normalize(np.stack([Z[tags == tag].mean(axis=0) for tag in order]), dtype=None)
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
    Z = l2_normalize(as_matrix(X, "X", dtype=np.float64, finite=True, min_rows=1), dtype=None)
    tags = as_tags(tags, len(Z))
    for name, tag in (("first", first), ("second", second)):
        if tag not in set(tags):
            raise ValueError(f"{name} tag {tag!r} is not in the set")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    blend = (1 - weight) * Z[tags == first].mean(axis=0) + weight * Z[tags == second].mean(axis=0)
    scores = Z @ l2_normalize(blend[None], dtype=None)[0]
    top = np.argsort(-scores, kind="stable")[:k]
    return {"vector": blend, "scores": scores, "nearest": [(int(i), float(scores[i])) for i in top]}
