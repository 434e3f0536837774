"""Text search over a set: a phrase finds images by their name, by a tag, or by meaning, and says which.

The order is the Projector's: text that is an image's name (or its file stem) finds that image; text that
is a tag value finds that tag's images; anything else is matched by meaning, with ConSE (no training:
``explorer.story.conse``) or a trained image-text model (``explorer.story.textmodel``), whichever is given,
and the result names the method. Words a trained hashed model does not know are reported, not ranked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Sequence

import numpy as np

from explorer.story.conse import ConseModel
from explorer.story.textmodel import ImageTextModel, query_images
from explorer.words import plural

KINDS = ("name", "tag", "text", "unknown", "empty")
DEFAULT_K = 10
_SPACES = re.compile(r"\s+")


@dataclass
class SearchResult:
    """What a phrase found: ``rows`` (best first) with their ``scores``; ``kind`` says how they were found.

    kind : "name" (an image's name), "tag" (a tag value; ``column`` names its column), "text" (by meaning,
        ``method`` says which model), "unknown" (no word of the phrase is known to the model) or "empty".
    total : how many images matched a name or tag (``rows`` may show only the first ``k``).
    """

    phrase: str
    kind: str
    method: str
    rows: list[int]
    scores: list[float]
    total: int = 0
    column: str | None = None
    unknown_words: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """One line for the page: what was found, how, and what was not understood."""
        shown = (f"{len(self.rows)} of {plural(self.total, 'image')}" if self.total > len(self.rows)
                 else plural(len(self.rows), "image"))
        if self.kind == "empty":
            return "Type a phrase, an image name or a tag."
        if self.kind == "name":
            return f"Name match: {shown} named “{self.phrase}”."
        if self.kind == "tag":
            return f"Tag match: {shown} tagged “{self.phrase}” ({self.column})."
        unknown = f" Unknown words: {', '.join(self.unknown_words)}." if self.unknown_words else ""
        if self.kind == "unknown":
            return f"No word of “{self.phrase}” is known to the {self.method}; nothing ranked.{unknown}"
        return f"Text match by {self.method}: the {len(self.rows)} best-scoring images.{unknown}"

    def to_json(self) -> dict:
        return {"phrase": self.phrase, "kind": self.kind, "method": self.method, "rows": list(self.rows),
                "scores": [float(s) for s in self.scores], "total": self.total, "column": self.column,
                "unknown_words": list(self.unknown_words), "message": self.message}


def normalise(text: str) -> str:
    """Lower case, outer spaces dropped, inner runs of spaces made one: how names and tags are compared."""
    return _SPACES.sub(" ", str(text)).strip().lower()


def name_rows(phrase: str, names: Sequence[str]) -> list[int]:
    """Rows whose name, file name or file stem equals ``phrase`` (case and spacing ignored)."""
    want = normalise(phrase)
    found = []
    for i, name in enumerate(names):
        path = PurePosixPath(str(name).replace("\\", "/"))
        if want in {normalise(name), normalise(path.name), normalise(path.stem)}:
            found.append(i)
    return found


def tag_rows(phrase: str, columns: dict[str, Sequence[str]]) -> tuple[str | None, list[int]]:
    """(column, rows) of the first tag column holding ``phrase`` as a value (case and spacing ignored)."""
    want = normalise(phrase)
    for column, values in columns.items():
        rows = [i for i, v in enumerate(values) if normalise(v) == want]
        if rows:
            return column, rows
    return None, []


def conse_method_name(conse: ConseModel) -> str:
    return f"ConSE (efficientnet-lite0's ImageNet classes, {conse.text_model} text encoder; nothing trained)"


def model_method_name(model: ImageTextModel) -> str:
    return f"trained image-text model ({model.text_model} text encoder, projections trained on this set's tags)"


def search(phrase: str, *, names: Sequence[str], columns: dict[str, Sequence[str]], k: int = DEFAULT_K,
           conse: ConseModel | None = None, probs=None, model: ImageTextModel | None = None, X=None) -> SearchResult:
    """Find images for ``phrase`` among n images: by name, then by tag, then by meaning.

    names : the n image names (file names or ids); columns : tag column -> n values. For meaning, either
    ``conse`` with ``probs`` (n, 1000) or a trained ``model`` with image vectors ``X`` (n, d); with neither,
    text that is no name or tag finds nothing (kind "unknown", method "no text model").
    """
    if not isinstance(phrase, str):
        raise ValueError(f"phrase must be a string, got {type(phrase).__name__}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not normalise(phrase):
        return SearchResult(phrase, "empty", "", [], [])
    rows = name_rows(phrase, names)
    if rows:
        return SearchResult(phrase, "name", "name match", rows[:k], [1.0] * min(k, len(rows)), len(rows))
    column, rows = tag_rows(phrase, columns)
    if rows:
        return SearchResult(phrase, "tag", "tag match", rows[:k], [1.0] * min(k, len(rows)), len(rows), column)
    if conse is not None and probs is not None:
        return _by_conse(phrase, conse, probs, k)
    if model is not None and X is not None:
        return _by_model(phrase, model, X, k)
    return SearchResult(phrase, "unknown", "no text model", [], [])


def _ranked(scores: np.ndarray, k: int) -> tuple[list[int], list[float]]:
    top = np.argsort(-scores, kind="stable")[:k]
    return [int(i) for i in top], [float(scores[i]) for i in top]


def _by_conse(phrase: str, conse: ConseModel, probs: Any, k: int) -> SearchResult:
    scores = conse.image_vectors(probs) @ conse.tag_vectors([phrase])[0]
    if not np.any(scores):  # a phrase of no letters under a hashed encoder: a zero text vector
        return SearchResult(phrase, "unknown", conse_method_name(conse), [], [])
    rows, best = _ranked(scores, k)
    return SearchResult(phrase, "text", conse_method_name(conse), rows, best)


def _by_model(phrase: str, model: ImageTextModel, X: Any, k: int) -> SearchResult:
    query = query_images(model, phrase, X, k=k)
    if not query.known:
        return SearchResult(phrase, "unknown", model_method_name(model), [], [], unknown_words=query.unknown_words)
    return SearchResult(phrase, "text", model_method_name(model), [i for i, _ in query.nearest],
                        [s for _, s in query.nearest], unknown_words=query.unknown_words)
