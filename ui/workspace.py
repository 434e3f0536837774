"""The set every page works on: ``current_workspace()`` and the names pages import from here.

API for pages (keep it small; the story pages use it too):

- ``current_workspace() -> Workspace | None`` — the set chosen in the sidebar, embedded with the chosen
  embedder. ``None`` means nothing is loaded (a message was already drawn); the page should ``st.stop()``.
- ``Workspace`` fields: ``name``, ``images`` (ImageSet, or None for an .npz without pictures), ``ids``,
  ``sources``, ``tags`` (the chosen tag column), ``tag_column``, ``tag_columns``, ``vectors`` (n, d)
  float32, ``embedder_name``, ``embedder`` (None for an .npz), ``key`` (content key of set + embedder),
  ``skipped``; ``ws.column(name)`` gives any tag column; ``len(ws)`` the number of images.
- ``get_projection(ws, method=, dims=, perplexity=, seed=, on_layout=None) -> Projection`` — cached by
  content; ``on_layout(iteration, coords)`` sees intermediate t-SNE layouts on a cache miss.
- ``get_neighbours(ws, k)`` — every row's k nearest (cached); ``neighbours_of(ws, row, k)`` — one row's.
- ``thumbnail_uris(ws, side) -> list[str]`` — data-URI JPEGs, cached; ``thumbnail(ws, i)`` raw bytes.
- ``focus_row() / set_focus_row(i)`` and ``selected_rows() / set_selected_rows(rows)`` — the image the user
  clicked and the box/lasso selection, shared across pages (per browser session).
- ``memo(kind, key, compute)`` — a bounded process-wide cache for any other expensive, content-keyed step.

The jobs live in their own modules, re-exported here: ``ui.state`` (session state), ``ui.compute``
(process-wide caches bounded in entries and bytes), ``ui.sets`` (loading, the saved-set store and the
URL), ``ui.status`` (progress boxes, skipped files).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st

from explorer.imageset import ImageSet, SkippedFile
from explorer.workset import content_key, workset_key
from ui.compute import (CACHE_MAX_BYTES, _stores, background, cached_projection, get_neighbours,  # noqa: F401
                        get_projection, memo, mosaic_for, neighbours_of, thumbnail, thumbnail_uris)
from ui.safe import md
from ui.sets import URL_FOCUS_KEY, load_choice, sync_url  # noqa: F401
from ui.state import (BATCHES_KEY, CHOICE_KEY, DEFAULT_EMBEDDER, DEFAULT_SOURCE, FOCUS_KEY, KIND_KEY,  # noqa: F401
                      MIN_IMAGES, SELECTED_KEY, SourceChoice, current_choice, focus_row, selected_rows,
                      set_focus_row, set_selected_rows, upload_batches)
from ui.status import progress_box, show_skipped  # noqa: F401

__all__ = ["Workspace", "current_workspace", "memo", "content_key", "progress_box", "get_projection",
           "get_neighbours", "neighbours_of", "focus_row", "set_focus_row", "selected_rows", "set_selected_rows"]


@dataclass
class Workspace:
    """The set every page shows; see the module docstring for the fields."""

    name: str
    key: str
    images: ImageSet | None
    ids: list[str]
    sources: list[str]
    tag_column: str
    columns: dict[str, list[str]]
    vectors: np.ndarray
    embedder_name: str
    embedder: Any = None
    skipped: list[SkippedFile] = field(default_factory=list)
    shard: Any = None  # explorer.cluster.shards.ShardedSet: pictures and written maps stay in its Parquet files

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def tags(self) -> list[str]:
        return self.columns[self.tag_column]

    @property
    def tag_columns(self) -> list[str]:
        return list(self.columns)

    def column(self, name: str) -> list[str]:
        return self.columns[name]

    def label(self, i: int) -> str:
        """``"i · source (tag)"`` as plain text (for select boxes, not Markdown)."""
        return f"{i} · {self.sources[i]} ({self.tags[i]})"


def current_workspace() -> Workspace | None:
    """The workspace for the sidebar's current choice, or None (with a message drawn) if nothing loads."""
    from ui.compute import embed

    choice = current_choice()
    loaded = load_choice(choice)
    if loaded is None:
        if choice.kind == "upload":
            st.info("Drop images (or a ZIP of one folder per tag) on the uploader in the sidebar, give them "
                    "a tag and press **Add to set**. Add more batches with other tags to build one set.")
        elif choice.kind == "saved":
            st.info("Open a set's link (`?set=…`) to come back to it: every set you build from your images, a "
                    "server folder or an .npz is saved on this server and its link is in the address bar.")
        elif choice.kind in ("server", "npz") and not choice.ref:
            st.info("Choose what to load in the sidebar.")
        return None
    if len(loaded.ids) < MIN_IMAGES:
        st.warning(f"Only {len(loaded.ids)} image(s) loaded: a map needs at least {MIN_IMAGES}. Add more images.")
        return None
    if loaded.vectors is not None:
        vectors, embedder, name, key = loaded.vectors, None, loaded.embedder_name, loaded.key
    else:
        try:
            vectors, embedder = embed(loaded.images, loaded.set_key, choice.embedder)
        except Exception as exc:  # an optional embedder failing must not take the page down
            st.error(f"The embedder '{md(choice.embedder)}' failed: {type(exc).__name__}: {md(exc, max_length=300)}")
            return None
        # the core's key of set + embedder (explorer.workset), the same the CLI makes
        name, key = choice.embedder, workset_key(loaded.set_key, embedder.cache_key)
    column = choice.tag_column if choice.tag_column in loaded.columns else "tag"
    if st.session_state.get("fse_rows_of") not in (None, loaded.set_key):
        # row indices mean nothing in another set: forget the clicked image and the selection
        set_focus_row(None)
        set_selected_rows([])
    st.session_state["fse_rows_of"] = loaded.set_key
    ws = Workspace(name=loaded.name, key=key, images=loaded.images, ids=loaded.ids, sources=loaded.sources,
                   tag_column=column, columns=loaded.columns, vectors=vectors, embedder_name=name,
                   embedder=embedder, skipped=loaded.skipped, shard=loaded.shard)
    _focus_from_url(ws)
    return ws


def _focus_from_url(ws: Workspace) -> None:
    """Apply a bookmarked ``focus=`` image id once; then keep the URL's ``focus`` on the clicked image."""
    wanted = st.session_state.pop(URL_FOCUS_KEY, None)
    if wanted:
        try:
            set_focus_row(ws.ids.index(wanted))
        except ValueError:
            pass
    row = focus_row(ws)
    sync_url(focus=ws.ids[row] if row is not None else None)
