"""Generalised zero-shot, measured the standard way: seen top-1, unseen top-1 among ALL tags, their harmonic mean.

Xian et al., "Zero-shot learning — the good, the bad and the ugly" (CVPR 2017): some tags are held out
entirely (images and names), the rest split into training and test images; every test image is classified
among all tag names; ``seen_top1`` is measured on the seen tags' test images, ``unseen_top1`` on the held-out
tags' images, and H = 2·s·u / (s + u) rewards a method only when it does both.

Methods (``METHODS``), all on the same split (``explorer.story.textmodel.zero_shot_split``):
- ``projections``: the trained image-text projections (``explorer.story.textmodel``), today's method;
- ``conse``: ConSE (``explorer.story.conse``), nothing trained; its settings chosen on the training split;
- ``combined``: the projections for seen tags, ConSE for unseen ones, and a gate deciding which applies:
  an image with no near twin among the training images goes to ConSE. The gate's threshold is calibrated
  on the training images alone (``calibrate_gate``: a quantile of their leave-one-out novelty, chosen to
  keep the seen top-1 near ``seen_floor``).

With ``held_out=0`` only ConSE applies: the pure zero-shot case, top-1 over all tags with no tag trained.
Nothing of a held-out tag (its images or its name) reaches training, settings choice or calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from explorer.distances import l2_normalize
from explorer.embedders import get_embedder, set_head_probabilities
from explorer.imageset import tag_order
from explorer.progress import ProgressCallback
from explorer.story.conse import ConseModel, ConseSettings, check_probabilities, choose_settings
from explorer.story.textmodel import (TextModelSettings, ZeroShotSplit, classify, train_on_tags, zero_shot,
                                      zero_shot_split)

METHODS = ("projections", "conse", "combined")
SEEN_FLOOR = 0.9  # the seen top-1 the combined method's gate aims to keep (estimated on the training split)


def harmonic_mean(seen: float | None, unseen: float | None) -> float | None:
    """2·s·u / (s + u); 0 when both are 0; None when either is missing."""
    if seen is None or unseen is None:
        return None
    return 0.0 if seen + unseen == 0 else 2.0 * seen * unseen / (seen + unseen)


@dataclass
class GzslResult:
    """One method on one split: top-1 on the seen tags' test images and on the unseen tags' images, both
    among all tag names, their harmonic mean and chance (1 / number of tags). ``seen_top1`` and
    ``harmonic_mean`` are None in the pure zero-shot case (no tag held out, nothing trained)."""

    method: str
    text_model: str
    seen_top1: float | None
    unseen_top1: float | None
    chance: float
    held_out_tags: list[str]
    seed: int
    n_train: int = 0
    n_seen_test: int = 0
    n_unseen: int = 0
    conse_settings: dict | None = None
    gate: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def harmonic_mean(self) -> float | None:
        return harmonic_mean(self.seen_top1, self.unseen_top1)

    def to_json(self) -> dict:
        """The CLI's ``zero_shot`` entry: method, seen_top1, unseen_top1, harmonic_mean, chance, held_out_tags."""
        return {"method": self.method, "seen_top1": self.seen_top1, "unseen_top1": self.unseen_top1,
                "harmonic_mean": self.harmonic_mean, "chance": self.chance,
                "held_out_tags": list(self.held_out_tags)}


def _top1(predicted: np.ndarray, tags: np.ndarray, rows: np.ndarray) -> float | None:
    return float(np.mean(predicted[rows] == tags[rows])) if len(rows) else None


def _check_inputs(X, probs, tags: Sequence[str], method: str):
    if method not in METHODS:
        raise ValueError(f"unknown zero-shot method {method!r} (choose from: {', '.join(METHODS)})")
    tags = np.asarray([str(t) for t in tags], dtype=object)
    X = None if X is None else np.asarray(X, dtype=np.float64)
    if X is not None and (X.ndim != 2 or len(X) != len(tags)):
        raise ValueError(f"X must be (n, d) with one row per tag ({len(tags)}), got {X.shape}")
    P = None if probs is None else check_probabilities(probs)
    if P is not None and len(P) != len(tags):
        raise ValueError(f"probs has {len(P)} rows but there are {len(tags)} tags")
    if method != "projections" and P is None:
        raise ValueError(f"the {method} method needs the ImageNet probabilities of efficientnet-lite0")
    if method != "conse" and X is None:
        raise ValueError(f"the {method} method needs the image vectors")
    return X, P, tags


def evaluate(method: str, *, tags: Sequence[str], held_out: int | Sequence[str], X=None, probs=None,
             encoder: Any = None, conse: ConseModel | None = None, seed: int = 0,
             settings: TextModelSettings | None = None, choose: bool = True, seen_floor: float = SEEN_FLOOR,
             progress: ProgressCallback | None = None) -> GzslResult:
    """Measure ``method`` on the split drawn with ``seed`` (``held_out`` tags: a count or their names).

    X : (n, d) image vectors (projections, combined); probs : (n, 1000) ImageNet probabilities (conse,
    combined); encoder : the text encoder of the projections; conse : a ``ConseModel`` (built on
    ``encoder`` when None). ``choose``: pick ConSE's settings on the training split (else ``conse``'s own).
    seen_floor : the seen top-1 the combined method's gate aims to keep (``calibrate_gate``).
    """
    X, P, tags = _check_inputs(X, probs, tags, method)
    names = tag_order(tags)
    if isinstance(held_out, (int, np.integer)) and int(held_out) == 0:
        if method != "conse":
            raise ValueError(f"the {method} method trains on some tags: hold out at least 1 (0 is for conse only)")
        return _pure_conse(P, tags, names, conse or ConseModel.build(encoder), seed)
    if method == "projections":
        res = zero_shot(X, tags, held_out=held_out, encoder=encoder, settings=settings, seed=seed, progress=progress)
        return GzslResult("projections", res.text_model, res.seen_top1, res.unseen_top1, res.chance,
                          list(res.held_out_tags), seed, len(res.train_index), len(res.seen_test_index),
                          len(res.unseen_index))
    split = zero_shot_split(tags, held_out, seed=seed)
    conse = conse or ConseModel.build(encoder)
    if choose:
        conse = conse.with_settings(choose_settings(conse, P[split.train], tags[split.train]).settings)
    if method == "conse":
        predicted = np.asarray(names, dtype=object)[conse.classify(P, names)]
        return _result("conse", conse.text_model, predicted, tags, split, seed, conse)
    return _combined(X, P, tags, split, conse, encoder, settings, seed, progress, seen_floor)


def _result(method: str, text_model: str, predicted: np.ndarray, tags: np.ndarray, split: ZeroShotSplit,
            seed: int, conse: ConseModel | None, gate: dict | None = None) -> GzslResult:
    return GzslResult(method, text_model, _top1(predicted, tags, split.seen_test), _top1(predicted, tags, split.unseen),
                      1.0 / len(split.names), list(split.unseen_tags), seed, len(split.train), len(split.seen_test),
                      len(split.unseen), conse.settings.to_json() if conse else None, gate)


def _pure_conse(P: np.ndarray, tags: np.ndarray, names: list[str], conse: ConseModel, seed: int) -> GzslResult:
    predicted = np.asarray(names, dtype=object)[conse.classify(P, names)]
    return GzslResult("conse", conse.text_model, None, float(np.mean(predicted == tags)), 1.0 / len(names), [],
                      seed, 0, 0, len(tags), conse.settings.to_json(),
                      notes=["pure zero-shot: no tag trained; every image classified among all tag names"])


# ---------------------------------------------------------------------------------------------------------
# Combined: projections for seen tags, ConSE for unseen tags, a calibrated gate between them


def _nearest(X_train: np.ndarray, X: np.ndarray, *, exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(1 − cosine to the most similar training image, its row in X_train) for each row of X, in bounded blocks."""
    A, B = l2_normalize(X_train, dtype=np.float64), l2_normalize(X, dtype=np.float64)
    best, where = np.empty(len(B)), np.empty(len(B), dtype=np.int64)
    for start in range(0, len(B), 1024):  # bounded memory: 1024 × n_train similarities at a time
        sims = B[start:start + 1024] @ A.T
        if exclude_self:
            sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf
        where[start:start + 1024] = sims.argmax(axis=1)
        best[start:start + 1024] = sims[np.arange(len(sims)), where[start:start + 1024]]
    return 1.0 - best, where


def novelty(X_train: np.ndarray, X: np.ndarray, *, exclude_self: bool = False) -> np.ndarray:
    """How unlike the training images each row of X is: 1 − cosine to its most similar training image (n,).
    An image of a trained tag has near twins among the training images; an unseen tag's usually has not.
    ``exclude_self`` (X is X_train): each image's own row is skipped (leave-one-out)."""
    return _nearest(X_train, X, exclude_self=exclude_self)[0]


def calibrate_gate(X_train: np.ndarray, tags_train: Sequence[str], *, seen_floor: float = SEEN_FLOOR) -> dict:
    """The gate's novelty threshold, from the training images alone.

    The gate sends an image to ConSE when it has no near twin among the training images; every image of a
    trained tag it sends there is lost to the projections. So the share of a trained tag's images to keep
    is ``seen_floor`` divided by how often a training image's nearest other training image has its tag
    (leave-one-out: what the projections can at best be expected to get right), capped at 0.99; the
    threshold is that quantile of the training images' leave-one-out novelty.
    """
    if not 0.0 < seen_floor < 1.0:
        raise ValueError(f"seen_floor must be in (0, 1), got {seen_floor}")
    tags_train = np.asarray([str(t) for t in tags_train], dtype=object)
    if len(X_train) < 2 or len(tags_train) != len(X_train):
        raise ValueError(f"calibrating the gate needs at least 2 training images with a tag each, got "
                         f"{len(X_train)} images and {len(tags_train)} tags")
    loo, nearest = _nearest(X_train, X_train, exclude_self=True)
    agreement = float(np.mean(tags_train[nearest] == tags_train))
    keep = float(np.clip(seen_floor / max(agreement, 1e-9), 0.5, 0.99))
    return {"threshold": float(np.quantile(loo, keep)), "keep_seen": keep, "seen_floor": float(seen_floor),
            "nearest_agreement": agreement, "calibrated_on": int(len(X_train))}


def gate_predict(seen_pred: np.ndarray, unseen_pred: np.ndarray, novelty_scores: np.ndarray,
                 threshold: float) -> np.ndarray:
    """The seen method's answer where novelty ≤ threshold, the unseen method's above it."""
    return np.where(novelty_scores > threshold, unseen_pred, seen_pred)


def _combined(X, P, tags, split: ZeroShotSplit, conse: ConseModel, encoder, settings, seed: int,
              progress, seen_floor: float) -> GzslResult:
    train = split.train
    gate = calibrate_gate(X[train], tags[train], seen_floor=seen_floor)
    model = train_on_tags(X[train], tags[train], encoder=encoder, settings=settings, seed=seed, progress=progress)
    seen_names, unseen_names = split.seen_tags, list(split.unseen_tags)
    seen_pred = np.asarray(seen_names, dtype=object)[classify(model, X, seen_names)]
    unseen_pred = np.asarray(unseen_names, dtype=object)[conse.classify(P, unseen_names)]
    predicted = gate_predict(seen_pred, unseen_pred, novelty(X[train], X), gate["threshold"])
    return _result("combined", model.text_model, predicted, tags, split, seed, conse, gate)


# ---------------------------------------------------------------------------------------------------------
# Several seeds: the spread


@dataclass
class GzslSummary:
    """One method over several seeds: the mean and standard deviation of each figure."""

    method: str
    held_out: int
    seeds: list[int]
    runs: list[GzslResult]

    def _stat(self, name: str) -> tuple[float | None, float | None]:
        values = [getattr(r, name) for r in self.runs]
        values = [v for v in values if v is not None]
        if not values:
            return None, None
        return float(np.mean(values)), float(np.std(values))

    def to_json(self) -> dict:
        out: dict[str, Any] = {"method": self.method, "held_out": self.held_out, "seeds": list(self.seeds)}
        for name in ("seen_top1", "unseen_top1", "harmonic_mean"):
            mean, std = self._stat(name)
            out[name] = mean
            out[f"{name}_std"] = std
        out["chance"] = self.runs[0].chance if self.runs else None
        return out


def evaluate_seeds(method: str, *, seeds: Sequence[int], **kwargs) -> GzslSummary:
    """``evaluate`` once per seed (each seed draws its own held-out tags and image split)."""
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    runs = [evaluate(method, seed=s, **kwargs) for s in seeds]
    held = kwargs.get("held_out", 0)
    return GzslSummary(method, int(held) if isinstance(held, (int, np.integer)) else len(held), seeds, runs)



# ---------------------------------------------------------------------------------------------------------
# One set, as the separation command reports it


def image_probabilities(record: Any, *, cache: Any = None) -> np.ndarray:
    """The ImageNet probabilities (n, 1000) of a loaded set (``explorer.workset.WorkSet``) embedded by
    efficientnet-lite0: from the cache where they were kept with the vectors, else from the head.
    ValueError naming the embedder when the vectors are not efficientnet-lite0's."""
    embedder = record.embedder
    if not hasattr(embedder, "head_probabilities"):
        if record.embedder_name != "efficientnet-lite0":
            raise ValueError(f"ConSE reads efficientnet-lite0's ImageNet head, but these vectors are "
                             f"{record.embedder_name or 'of an unknown embedder'}: use --embedder efficientnet-lite0")
        embedder = get_embedder("efficientnet-lite0")
    return set_head_probabilities(record.images, record.vectors, embedder, cache=cache)


def separation_entry(method: str, record: Any, *, held_out: int, encoder: Any, seed: int = 0, cache: Any = None,
                     progress: ProgressCallback | None = None) -> tuple[dict, str]:
    """(the ``zero_shot`` entry of ``separation --zero-shot-method``, a note saying what was measured)."""
    probs = image_probabilities(record, cache=cache) if method != "projections" else None
    conse = ConseModel.build(encoder, cache=cache) if probs is not None else None
    res = evaluate(method, tags=record.tags, held_out=held_out, X=record.vectors, probs=probs, encoder=encoder,
                   conse=conse, seed=seed, progress=progress)
    n_tags = len(tag_order(record.tags))
    if not res.held_out_tags:
        note = (f"zero-shot ({method}, {res.text_model} text encoder): no tag trained; all {res.n_unseen} images "
                f"classified among all {n_tags} tag names (ConSE {ConseSettings(**_settings_args(res)).describe()})")
    else:
        note = (f"zero-shot ({method}, {res.text_model} text encoder): {len(res.held_out_tags)} of {n_tags} tags held "
                f"out ({res.n_unseen} images), {res.n_seen_test} held-out images of the other tags, "
                f"{res.n_train} training images; each classified among all {n_tags} tag names")
        if res.conse_settings:
            note += f"; ConSE settings chosen on the training split: {ConseSettings(**_settings_args(res)).describe()}"
        if res.gate:
            note += (f"; gate calibrated on the training images to keep {res.gate['keep_seen']:.0%} of a trained "
                     f"tag's images (seen floor {res.gate['seen_floor']:.2f})")
    return res.to_json(), note


def _settings_args(res: GzslResult) -> dict:
    s = dict(res.conse_settings or {})
    return {**s, "class_templates": tuple(s.get("class_templates", ("{}",))),
            "tag_templates": tuple(s.get("tag_templates", ("a photo of {}",)))}
