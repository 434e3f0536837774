"""The set every page works on: ``current_set()`` gives the sidebar's choice as a ``WorkSet`` record
(``explorer.workset``) embedded with the chosen embedder, or None when nothing is loaded (a message was
already drawn; the page should ``st.stop()``). The chosen tag column comes from ``ui.state.tag_column(ws)``
and its values from ``ui.state.chosen_tags(ws)``.
"""

from __future__ import annotations

import streamlit as st

from explorer.io import export
from explorer.workset import WorkSet
from explorer.words import plural
from ui import state
from ui.compute import embed
from ui.safe import md
from ui.sets import load_choice, sync_url


def current_set() -> WorkSet | None:
    """The record for the sidebar's current choice, embedded, or None (with a message drawn) if nothing loads."""
    choice = state.current_choice()
    loaded = load_choice(choice)
    if loaded is None:
        _explain_nothing(choice)
        return None
    if len(loaded.ids) < state.MIN_IMAGES:
        st.warning(f"Only {plural(len(loaded.ids), 'image')} loaded: a map needs at least {state.MIN_IMAGES}. "
                   "Add more images.")
        return None
    record = loaded
    if loaded.vectors is None:
        try:
            record = embed(loaded, choice.embedder)
        except Exception as exc:  # an optional embedder failing must not take the page down
            st.error(f"The embedder '{md(choice.embedder)}' failed: {type(exc).__name__}: "
                     f"{md(exc, max_length=300)}")
            return None
    state.rows_belong_to(loaded.set_key)
    _focus_from_url(record)
    return record


def describe(ws: WorkSet) -> str:
    """"**N images** from NAME, embedded with E" (Markdown, user text escaped) for page captions."""
    return f"**{len(ws.ids):,} images** from {md(ws.name)}, {md(ws.vectors_label)}"


def row_label(ws: WorkSet):
    """``i -> "i · source (tag)"`` as plain text (for select boxes, not Markdown), in the chosen tag column."""
    tags = state.chosen_tags(ws)
    return lambda i: f"{i} · {ws.sources[i]} ({tags[i]})"


def export_rows(ws: WorkSet) -> export.ExportRows:
    """The set as export rows: every tag column, the vectors and (when it has pictures) the thumbnails."""
    thumbs = list(ws.images.thumbnails) if ws.images is not None else None
    return export.ExportRows(ids=list(ws.ids), sources=list(ws.sources),
                             columns={k: list(v) for k, v in ws.columns.items()}, vectors=ws.vectors,
                             thumbnails=thumbs, embedder_name=ws.embedder_name, name=ws.name)


def selection_csv(ws: WorkSet, rows) -> bytes:
    """The one selection CSV (``explorer.io.export.selection_csv``: id, source, tag, every extra column)."""
    return export.selection_csv(export_rows(ws), rows)


def _explain_nothing(choice: state.SourceChoice) -> None:
    if choice.kind == "upload":
        st.info("Drop images (or a ZIP of one folder per tag) on the uploader in the sidebar, give them "
                "a tag and press **Add to set**. Add more batches with other tags to build one set.")
    elif choice.kind == "saved":
        st.info("Open a set's link (`?set=…`) to come back to it: every set you build from your images, a "
                "server folder or an .npz is saved on this server and its link is in the address bar.")
    elif choice.kind in ("server", "npz") and not choice.ref:
        st.info("Choose what to load in the sidebar.")


def _focus_from_url(ws: WorkSet) -> None:
    """Apply a bookmarked ``focus=`` image id once; then keep the URL's ``focus`` on the clicked image."""
    wanted = state.take_url_focus()
    if wanted:
        try:
            state.set_focus_row(ws.ids.index(wanted))
        except ValueError:
            pass
    row = state.focus_row(ws)
    sync_url(focus=ws.ids[row] if row is not None else None)
