"""The "why hands smear" numbers: separation reports, restricted configurations and hands-vs-objects comparisons.

Results are dataclasses read by attribute (``TagMeasures``, ``SeparationReport``) whose ``to_json()`` gives
the JSON the CLI prints; every number is JSON-ready (plain Python floats/ints/strings, None instead of NaN).
The functions measure; they never decide the conclusion a view will show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Sequence

import numpy as np

from explorer.distances import as_matrix
from explorer.imageset import tag_codes, tag_order
from explorer.measures import knn_tag_agreement, separation
from explorer.progress import ProgressCallback
from explorer.projection import project
from explorer.story import contrastive as C
from explorer.story import textmodel
from explorer.story.augment import augment_batch
from explorer.story.text_encoders import get_text_encoder

ALIGNMENT_MAX_IMAGES = 500  # augmenting and re-embedding is the slow part; the mean settles long before


def _num(value) -> float | None:
    """A plain float, or None for None/NaN/inf (JSON has no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _matrix(X, name: str = "X") -> np.ndarray:
    """Finite, non-empty float64 vectors: the story's rule, through the one validator."""
    return as_matrix(X, name, dtype=np.float64, finite=True, min_rows=1)


@dataclass(frozen=True)
class TagMeasures:
    """Overall and per-tag separation of a set's vectors under its tags (see :func:`tag_measures`)."""

    n_images: int
    n_tags: int
    k: int
    knn_agreement: float | None
    chance: float | None
    neighbour_same_tag: float | None
    silhouette: float | None
    intra_mean: float | None
    inter_mean: float | None
    per_tag: dict[str, dict[str, Any]]
    confusion: dict[str, list]  # {"tags": [...], "matrix": [[...]]}
    smears: list[dict]
    notes: list[str]

    def to_json(self) -> dict:
        """The JSON object (keys in field order), as ``python -m explorer separation`` prints it."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class SeparationReport:
    """What :func:`separation_report` measured: the tag measures, uniformity, alignment, and, when asked, the
    held-out contrastive comparison (``held_out``: its JSON entries) and the zero-shot numbers."""

    measures: TagMeasures
    embedder: str | None
    seed: int
    uniformity: float | None
    alignment: float | None
    alignment_images: int
    held_out: dict | None = None  # held_out_knn_agreement, held_out_silhouette (and contrastive) when trained
    zero_shot: dict | None = None

    @property
    def notes(self) -> list[str]:
        return self.measures.notes

    def to_json(self) -> dict:
        """Exactly the keys (and order) the CLI's ``separation --json`` has always printed."""
        out = {**self.measures.to_json(), "embedder": self.embedder, "seed": self.seed,
               "uniformity": self.uniformity, "alignment": self.alignment, "alignment_images": self.alignment_images}
        out.update(self.held_out or {})
        if self.zero_shot is not None:
            out["zero_shot"] = self.zero_shot
        return out


@dataclass(frozen=True)
class RestrictedSeparation:
    """Separation of all tags, of a chosen subset, and the mean of random subsets of the same size."""

    all_tags: dict  # n_images, n_tags, knn_agreement, chance, silhouette
    subset: dict
    subset_tags: list[str]
    random_subsets: dict  # draws, silhouette_mean, knn_agreement_mean

    def to_json(self) -> dict:
        return {"all": self.all_tags, "subset": self.subset, "subset_tags": self.subset_tags,
                "random_subsets": self.random_subsets}


@dataclass(frozen=True)
class GroupComparison:
    """Separation of several groups under one embedder, cut to the same images per tag and number of tags."""

    groups: dict[str, dict]
    per_tag: int
    n_tags: int
    controlled: list[str]
    not_controlled: list[str]

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _tags_of(image_set, tags, n: int) -> list[str]:
    if tags is None:
        if image_set is None:
            raise ValueError("tags must be given when image_set is None (vectors from an .npz)")
        tags = image_set.tags
    tags = [str(t) for t in tags]
    if len(tags) != n:
        raise ValueError(f"tags has {len(tags)} entries but vectors has {n} rows")
    return tags


def tag_measures(X, tags: Sequence[str], *, k: int = 10) -> TagMeasures:
    """Overall and per-tag separation of vectors X (n, d) under cosine distance.

    Fields: ``knn_agreement`` (leave-one-out majority-vote k-NN accuracy), ``chance`` (share of the most
    common tag), ``neighbour_same_tag`` (mean share of the k neighbours with the same tag), ``silhouette``,
    ``intra_mean``/``inter_mean`` (mean cosine distance of same-/different-tag pairs), ``per_tag``,
    ``confusion`` ({"tags", "matrix"}: row a = share of tag a's neighbours with tag b), ``smears``
    (the tag pairs that are each other's neighbours most often, highest first), ``notes``.
    """
    X = _matrix(X)
    tags = [str(t) for t in tags]
    sep = separation(X, tags, k=k)
    agree = knn_tag_agreement(X, tags, k=k, metric="cosine")
    same = agree.same_tag_fraction[np.isfinite(agree.same_tag_fraction)]
    return TagMeasures(
        n_images=len(X), n_tags=len(sep.tag_order), k=int(sep.k),
        knn_agreement=_num(agree.overall), chance=_num(agree.chance),
        neighbour_same_tag=_num(same.mean()) if len(same) else None,
        silhouette=_num(sep.silhouette), intra_mean=_num(sep.intra_mean), inter_mean=_num(sep.inter_mean),
        per_tag={t: {"silhouette": _num(s.silhouette), "knn_agreement": _num(s.knn_agreement), "count": s.count}
                 for t, s in sep.per_tag.items()},
        confusion={"tags": list(sep.tag_order), "matrix": [[float(v) for v in row] for row in sep.confusion]},
        smears=smear_pairs(sep.confusion, sep.tag_order),
        notes=list(dict.fromkeys(sep.notes + agree.notes)),
    )


def smear_pairs(confusion: np.ndarray, tag_order: Sequence[str], *, top: int = 5) -> list[dict]:
    """Tag pairs ranked by how often each appears among the other's neighbours (mean of both directions)."""
    M = np.asarray(confusion, dtype=float)
    pairs = [{"tags": [tag_order[a], tag_order[b]], "share": float((M[a, b] + M[b, a]) / 2)}
             for a in range(len(M)) for b in range(a + 1, len(M))]
    pairs.sort(key=lambda p: -p["share"])
    return [p for p in pairs[:top] if p["share"] > 0]


def separation_report(image_set, vectors, embedder, *, tags: Sequence[str] | None = None,
                      train_contrastive: bool = False, seed: int = 0, k: int = 10,
                      text_encoder=None, zero_shot_holdout: int | None = None,
                      progress: ProgressCallback | None = None) -> SeparationReport:
    """How well tags separate in feature space (``to_json()``: the CLI's JSON object).

    image_set : ImageSet or None; embedder : Embedder or None. Both are needed for ``alignment`` (it
    embeds augmented twins of up to ALIGNMENT_MAX_IMAGES images); without them alignment is None and a
    note says why. tags : the row tags when image_set is None (e.g. from an .npz).
    vectors : (n, d). With ``train_contrastive`` a linear SupCon head is trained on a stratified 70 %
    and ``held_out_knn_agreement`` / ``held_out_silhouette`` compare the other 30 % before and after.
    With ``text_encoder`` (an ``explorer.text_encoders.TextEncoder``) or ``zero_shot_holdout`` (K tags),
    ``zero_shot`` gives the image-text model's top-1 on held-out images of seen and of never-seen tags
    (see ``explorer.textmodel.zero_shot``); a bad K raises ValueError.
    """
    X = _matrix(vectors, "vectors")
    tags = _tags_of(image_set, tags, len(X))
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    measures = tag_measures(X, tags, k=k)
    notes = list(measures.notes)  # the entries below add theirs, in this order
    alignment = _alignment_entry(image_set, embedder, len(X), seed, progress, notes)
    held_out = _held_out_entry(X, tags, seed, k, progress, notes) if train_contrastive else None
    zero_shot = (_zero_shot_entry(X, tags, text_encoder, zero_shot_holdout, seed, progress, notes)
                 if text_encoder is not None or zero_shot_holdout is not None else None)
    return SeparationReport(measures=replace(measures, notes=notes), embedder=getattr(embedder, "name", None),
                            seed=int(seed), uniformity=_num(C.uniformity(X, seed=seed)) if len(X) >= 2 else None,
                            alignment=alignment["alignment"], alignment_images=alignment["alignment_images"],
                            held_out=held_out, zero_shot=zero_shot)


def default_zero_shot_holdout(n_tags: int) -> int:
    """A fifth of the tags (at least 1, leaving at least 2 to train on)."""
    return max(1, min(n_tags - 2, round(n_tags / 5)))


def _zero_shot_entry(X, tags, text_encoder, holdout: int | None, seed: int, progress, notes: list) -> dict:
    if text_encoder is None:
        text_encoder = get_text_encoder("hashed")
    n_tags = len(set(tags))
    holdout = default_zero_shot_holdout(n_tags) if holdout is None else holdout
    res = textmodel.zero_shot(X, tags, held_out=int(holdout), encoder=text_encoder, seed=seed, progress=progress)
    notes.append(f"zero-shot: {res.text_model} text encoder; {len(res.held_out_tags)} of {n_tags} tags held out "
                 f"({len(res.unseen_index)} images), {len(res.seen_test_index)} held-out images of the other tags; "
                 f"projections trained on {len(res.train_index)} images; each classified among all {n_tags} tag names; "
                 f"among the held-out tag names only, the held-out tags' images score top-1 "
                 f"{_num(res.unseen_only_top1)} (chance {res.unseen_only_chance:.3f})")
    out = res.as_json()
    return {key: (_num(v) if key != "held_out_tags" else v) for key, v in out.items()}


def _alignment_entry(image_set, embedder, n: int, seed: int, progress, notes: list) -> dict:
    if image_set is None or embedder is None:
        notes.append("alignment needs the images and the embedder to embed augmented twins; "
                     "vectors alone (an .npz) cannot give it")
        return {"alignment": None, "alignment_images": 0}
    rows = np.arange(n)
    if n > ALIGNMENT_MAX_IMAGES:
        rows = np.sort(np.random.default_rng(seed).choice(n, ALIGNMENT_MAX_IMAGES, replace=False))
        notes.append(f"alignment measured on a seeded sample of {ALIGNMENT_MAX_IMAGES} of {n} images")
    twins = augment_batch(image_set.pixels[rows], seed=seed, progress=progress)
    twin_vectors = embedder.embed(twins, progress=progress)
    originals = embedder.embed(image_set.pixels[rows], progress=progress)
    return {"alignment": _num(C.alignment(originals, twin_vectors)), "alignment_images": int(len(rows))}


def _held_out_entry(X, tags, seed: int, k: int, progress, notes: list) -> dict:
    try:
        res = C.held_out_comparison(X, tags, seed=seed, k=k, progress=progress)
    except ValueError as exc:
        notes.append(f"contrastive head not trained: {exc}")
        return {"held_out_knn_agreement": None, "held_out_silhouette": None}
    if res.note:  # too few images to hold any out
        notes.append(f"contrastive head not measured: {res.note}")
        return {"held_out_knn_agreement": None, "held_out_silhouette": None}
    settings = res.result.settings
    return {
        "held_out_knn_agreement": {"before": _num(res.knn_before), "after": _num(res.knn_after)},
        "held_out_silhouette": {"before": _num(res.silhouette_before), "after": _num(res.silhouette_after)},
        "contrastive": {"kind": settings.kind, "loss": settings.loss, "steps": settings.steps,
                        "temperature": settings.temperature, "out_dim": settings.out_dim,
                        "n_train": res.n_train, "n_held_out": res.n_held_out,
                        "seconds": _num(res.seconds), "loss_start": _num(res.train_loss[0]),
                        "loss_end": _num(res.train_loss[-1])},
    }


# ---------------------------------------------------------------------------------------------------------
# Restrict the configurations


def restrict_configurations(X, tags: Sequence[str], subset: Sequence[str], *, k: int = 10, draws: int = 20,
                            seed: int = 0) -> RestrictedSeparation:
    """Separation of all tags vs only the tags in ``subset``, plus random subsets of the same size.

    Fewer tags raise k-NN agreement by chance alone (``chance`` rises), so the random-subset baseline
    says whether *this* subset separates better than any subset of that size would.
    """
    X = _matrix(X)
    tags = C.as_tags(tags, len(X))
    all_tags = tag_order(tags)
    subset = list(dict.fromkeys(str(t) for t in subset))
    unknown = [t for t in subset if t not in all_tags]
    if unknown:
        raise ValueError(f"subset names tags not in the set: {unknown}")
    if len(subset) < 2:
        raise ValueError(f"subset needs at least 2 tags to measure separation, got {len(subset)}")
    rng = np.random.default_rng(seed)
    baseline = [_subset_numbers(X, tags, list(rng.choice(all_tags, len(subset), replace=False)), k)
                for _ in range(draws if len(subset) < len(all_tags) else 0)]
    return RestrictedSeparation(all_tags=_subset_numbers(X, tags, all_tags, k),
                                subset=_subset_numbers(X, tags, subset, k), subset_tags=subset,
                                random_subsets={"draws": len(baseline),
                                                "silhouette_mean": _mean([b["silhouette"] for b in baseline]),
                                                "knn_agreement_mean": _mean([b["knn_agreement"] for b in baseline])})


def _subset_numbers(X, tags: np.ndarray, chosen: list[str], k: int) -> dict:
    keep = np.isin(tags, chosen)
    m = tag_measures(X[keep], list(tags[keep]), k=k).to_json()
    return {key: m[key] for key in ("n_images", "n_tags", "knn_agreement", "chance", "silhouette")}


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


# ---------------------------------------------------------------------------------------------------------
# Hands vs objects


def balanced_rows(tags: Sequence[str], *, per_tag: int | None = None, n_tags: int | None = None,
                  seed: int = 0) -> np.ndarray:
    """Seeded row indices with the same number of images for every kept tag (at most ``per_tag``)
    and at most ``n_tags`` tags (chosen at random with the seed)."""
    tags = np.asarray([str(t) for t in tags], dtype=object)
    order = tag_order(tags)
    rng = np.random.default_rng(seed)
    if n_tags is not None and n_tags < len(order):
        order = [order[i] for i in sorted(rng.choice(len(order), n_tags, replace=False))]
    m = min(int((tags == t).sum()) for t in order)
    m = m if per_tag is None else min(m, per_tag)
    rows = [rng.choice(np.flatnonzero(tags == t), m, replace=False) for t in order]
    return np.sort(np.concatenate(rows))


def compare_groups(groups: dict[str, tuple], *, k: int = 10, per_tag: int | None = None, seed: int = 0,
                   embedder: str | None = None, image_size: int | None = None) -> GroupComparison:
    """Separation of several groups (e.g. "hands", "objects") embedded by the same embedder.

    groups : name -> (X (n, d), tags). Each group is cut to the same images per tag and the same number of
    tags (the smallest over groups, seeded), so k-NN chance and silhouette sample sizes match.
    Returns a ``GroupComparison`` (``groups``: name -> numbers; ``controlled``, ``not_controlled``).
    """
    if len(groups) < 2:
        raise ValueError(f"groups needs at least 2 entries to compare, got {len(groups)}")
    counts = {name: tag_codes(list(map(str, g[1])))[0] for name, g in groups.items()}
    n_tags = min(int(c.max()) + 1 for c in counts.values())
    per = min(int(np.bincount(c).min()) for c in counts.values())
    per = per if per_tag is None else min(per, per_tag)
    out = {}
    for name, (X, tags) in groups.items():
        rows = balanced_rows(tags, per_tag=per, n_tags=n_tags, seed=seed)
        X = _matrix(X)
        m = tag_measures(X[rows], [str(tags[i]) for i in rows], k=k).to_json()
        out[name] = {key: m[key] for key in ("n_images", "n_tags", "knn_agreement", "chance", "silhouette",
                                               "intra_mean", "inter_mean", "per_tag", "smears")}
    controlled = [f"same embedder ({embedder})" if embedder else "same embedder",
                  f"{per} images per tag and {n_tags} tags in every group (seeded sample)"]
    if image_size:
        controlled.append(f"same image size ({image_size} px square)")
    return GroupComparison(groups=out, per_tag=per, n_tags=n_tags, controlled=controlled,
                           not_controlled=["backgrounds and clutter", "framing, scale and pose of the subject",
                                           "lighting and camera", "how different the tags are meant to be"])


def group_rows(column: Sequence[str]) -> dict[str, np.ndarray]:
    """Row indices per value of an extra tag column (e.g. ``kind`` -> {"hand": [...], "object": [...]})."""
    column = np.asarray([str(v) for v in column], dtype=object)
    return {v: np.flatnonzero(column == v) for v in dict.fromkeys(column)}


# ---------------------------------------------------------------------------------------------------------
# Helpers the story views share (pure; the pages cache them)


def embed_twins(pixels: np.ndarray, embedder, *, seed: int = 0, progress: ProgressCallback | None = None) -> np.ndarray:
    """Vectors (n, d) of the augmented twins of ``pixels`` (n, S, S, 3) under ``embedder``."""
    twins = augment_batch(pixels, seed=seed, progress=progress)
    return np.asarray(embedder.embed(twins, progress=progress), dtype=np.float32)


def joint_map(X, X_twin, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One PCA map fitted on images and twins together -> (coords (n, 2), twin_coords (n, 2))."""
    both = np.vstack([_matrix(X), _matrix(X_twin, "X_twin")]).astype(np.float32)
    coords = project(both, method="pca", n_components=2, random_state=seed).coords
    return coords[: len(X)], coords[len(X):]
