"""The story pages' cached computations, one key each, shared by the pages and presenter mode.

Presenter mode warms these up front; the Contrastive head and Why hands smear pages then find the same
entries (same ``ui.compute.memo`` keys), and the other way round. Tag colours and tag order live here
too, so a tag has one colour and tags one order on every page.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from explorer import palette
from explorer.figures import related_order
from explorer.projection import project
from explorer.story import contrastive as C
from explorer.story import smear as story
from explorer.workset import WorkSet
from ui.compute import memo
from ui.state import chosen_tags, tag_column
from ui.status import progress_box

Progress = Callable[[int, int, str], None]
DEFAULT_HEAD = C.TrainSettings()  # what the Contrastive head page trains before anyone touches a control


def tag_measures(ws: WorkSet, k: int = 10) -> story.TagMeasures:
    """``explorer.story.tag_measures`` of the set under its tag column (cached)."""
    return memo("other", ("story_measures", ws.key, tag_column(ws), int(k)),
                    lambda: story.tag_measures(ws.vectors, chosen_tags(ws), k=int(k)))


def head_key(ws: WorkSet, settings: C.TrainSettings = DEFAULT_HEAD, seed: int = 0) -> tuple:
    return ("story_head", ws.key, tag_column(ws), settings.kind, int(settings.steps), float(settings.temperature),
            int(seed))


def trained_head(ws: WorkSet, settings: C.TrainSettings = DEFAULT_HEAD, seed: int = 0,
                 progress: Progress | None = None) -> dict:
    """``held_out_comparison`` on the set (cached; a progress box unless ``progress`` is given).

    Raises ValueError when the set is too small to hold images out.
    """
    def compute():
        if progress is not None:
            return C.held_out_comparison(ws.vectors, chosen_tags(ws), settings=settings, seed=seed, progress=progress)
        with progress_box("Training the contrastive head") as box:
            return C.held_out_comparison(ws.vectors, chosen_tags(ws), settings=settings, seed=seed, progress=box)

    return memo("other", head_key(ws, settings, seed), compute)


def head_maps(ws: WorkSet, result: dict, *, method: str = "pca", settings: C.TrainSettings = DEFAULT_HEAD,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(before, after) maps of the vectors and of the head's outputs, same method and seed (not aligned)."""
    def compute():
        before = project(ws.vectors, method=method, random_state=seed).coords
        after = project(result.result.head.transform(ws.vectors), method=method, random_state=seed).coords
        return before, after

    return memo("other", ("story_head_maps", method) + head_key(ws, settings, seed), compute)


def grouping(ws: WorkSet) -> str | None:
    """The tag column that groups the current tags (hand/object), if the set has one (found once per set and
    column: it reads every row, a third of a second at a million rows, and every chart asks for it)."""
    column = tag_column(ws)
    return memo("other", ("grouping", ws.key, column), lambda: palette.grouping_column(ws.columns, column))


def tag_colours(ws: WorkSet) -> dict[str, str]:
    """One colour per tag for every chart of this set (families by the grouping column, if any)."""
    group = grouping(ws)
    return memo("other", ("tag_colours", ws.key, tag_column(ws), group),
                    lambda: palette.tag_colors(chosen_tags(ws), ws.columns[group] if group else None))


def groups_of(ws: WorkSet, tags: list[str]) -> list[str] | None:
    """The group of each of ``tags`` (by the grouping column), or None."""
    group = grouping(ws)
    if group is None:
        return None
    of = palette.tag_groups(chosen_tags(ws), ws.columns[group])
    return [of.get(t, "") for t in tags]


def related_tag_order(ws: WorkSet, similarity: np.ndarray, tags: list[str]) -> tuple[list[int], list[str] | None]:
    """(order of ``tags`` putting related tags side by side, each tag's group or None) for a tag x tag matrix.

    Tags are grouped by the grouping column (groups in the set's own order, e.g. hands before objects),
    then ordered by ``similarity`` (t, t) within each group (``explorer.figures.related_order``).
    """
    groups = groups_of(ws, tags)
    group_order = list(dict.fromkeys(ws.columns[grouping(ws)])) if groups is not None else []
    return related_order(similarity, groups, group_order=group_order), groups
