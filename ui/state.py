"""Per-browser-session state shared by the pages: what the sidebar chose, the clicked image, the selection.

Every session key lives here so pages, the sidebar and tests agree on the names.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

# Session keys (one place, so pages and tests agree).
CHOICE_KEY = "fse_choice"
FOCUS_KEY = "fse_focus_row"
SELECTED_KEY = "fse_selected_rows"
BATCHES_KEY = "fse_upload_batches"
KIND_KEY = "fse_kind"
MAP_SEARCH_KEY = "fse_map_search"  # the map page's search box (ui/map_search.py)
MAP_SEARCH_METHOD_KEY = "fse_map_search_method"

DEFAULT_SOURCE = "demo:hands"
# HOG by default: on the hands demo it is the cheapest embedder that shows the story on the first screen
# (objects form clusters, gestures overlap); raw pixels put nearly every image in one cloud. Measured here
# (quiet machine, cold cache): hog embed 0.9 s + t-SNE 1.9 s for 448 images; the essay's pixels method
# is one click away and is where the presenter mode starts.
DEFAULT_EMBEDDER = "hog"
MIN_IMAGES = 3


@dataclass(frozen=True)
class SourceChoice:
    """What the sidebar selected: ``kind`` is demo | upload | server | npz | saved; ``ref`` the spec or path."""

    kind: str = "demo"
    ref: str = DEFAULT_SOURCE
    embedder: str = DEFAULT_EMBEDDER
    tag_column: str = "tag"
    manifest_tag_column: str | None = None


def current_choice() -> SourceChoice:
    return st.session_state.get(CHOICE_KEY) or SourceChoice()


def upload_batches() -> list[dict]:
    """This session's upload batches: dicts with ``id``, ``tag``, ``images`` (ImageSet), ``files``, ``bytes``."""
    return st.session_state.setdefault(BATCHES_KEY, [])


def focus_row(ws=None) -> int | None:
    """The image the user clicked last (row index), if it is a row of ``ws``."""
    row = st.session_state.get(FOCUS_KEY)
    if row is None or (ws is not None and not 0 <= int(row) < len(ws)):
        return None
    return int(row)


def set_focus_row(row: int | None) -> None:
    st.session_state[FOCUS_KEY] = None if row is None else int(row)


def selected_rows(ws=None) -> list[int]:
    rows = st.session_state.get(SELECTED_KEY) or []
    return [int(r) for r in rows if ws is None or 0 <= int(r) < len(ws)]


def set_selected_rows(rows) -> None:
    st.session_state[SELECTED_KEY] = [int(r) for r in rows]
