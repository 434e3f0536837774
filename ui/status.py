"""Feedback drawn while work runs or after it: progress boxes with counts, the skipped-files table, and the
action area at the top of the main area, where a failed action says why (one line, where the user looks)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import streamlit as st

from explorer.imageset import SkippedFile
from explorer.words import plural
from ui import state
from ui.liveness import abandon_check
from ui.safe import md


@contextmanager
def progress_box(label: str, where=None) -> Iterator[Callable[[int, int, str], None]]:
    """A status box with a progress bar, removed when the step is done; yields a progress callback.

    ``label`` and the callback's messages are text (a label may quote a server path) and are escaped here:
    status labels and progress texts render Markdown. ``where`` is a container (default: the page).
    """
    still_wanted = abandon_check()  # raises (stopping the work) once this browser has gone away
    holder = (where or st).empty()
    try:
        with holder.status(md(label, max_length=200), expanded=True) as status:
            bar = st.progress(0.0, text=md(label, max_length=200))

            def progress(done: int, total: int, message: str = "") -> None:
                still_wanted()
                frac = min(max(done / total, 0.0), 1.0) if total else 1.0
                bar.progress(frac, text=md(f"{message or label}: {done:,}/{total:,}", max_length=200))

            yield progress
            status.update(state="complete")
    finally:  # done or failed, the box goes: a failure must not leave "Reading…" with a full bar behind
        holder.empty()


def action_area():
    """Where an action's progress and its failure are drawn: the top of the main area (the page itself in
    a test that draws no ``app.py``)."""
    return state.action_area() or st.container()


def draw_action_area() -> None:
    """``app.py``, before the sidebar runs: the action area, showing the last failed action's message."""
    area = st.empty()
    state.set_action_area(area)
    message = state.action_error()
    if message:
        area.error(message)


def fail_action(message: str) -> None:
    """A failed action: its one-line message (escaped Markdown) in the action area now and until the next action."""
    one_line = " ".join(str(message).split())
    state.set_action_error(one_line)
    action_area().error(one_line)


def action_done() -> None:
    """An action that worked (or a new one starting): the last failure's message goes."""
    if state.action_error():
        state.set_action_error(None)
        area = state.action_area()
        if area is not None:
            area.empty()


def show_skipped(skipped: list[SkippedFile], *, where=None) -> None:
    """An expander listing skipped files by name and reason (as a table: plain text, never Markdown)."""
    if not skipped:
        return
    where = where or st
    with where.expander(f"{plural(len(skipped), 'file')} skipped — see why"):
        st.dataframe({"file": [s.file for s in skipped], "reason": [s.reason for s in skipped]},
                     hide_index=True, width="stretch")
