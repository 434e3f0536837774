"""Feedback drawn while work runs or after it: progress boxes with counts, the skipped-files table."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import streamlit as st

from explorer.imageset import SkippedFile
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
    with holder.status(md(label, max_length=200), expanded=True) as status:
        bar = st.progress(0.0, text=md(label, max_length=200))

        def progress(done: int, total: int, message: str = "") -> None:
            still_wanted()
            frac = min(max(done / total, 0.0), 1.0) if total else 1.0
            bar.progress(frac, text=md(f"{message or label}: {done:,}/{total:,}", max_length=200))

        yield progress
        status.update(state="complete")
    holder.empty()


def show_skipped(skipped: list[SkippedFile], *, where=None) -> None:
    """An expander listing skipped files by name and reason (as a table: plain text, never Markdown)."""
    if not skipped:
        return
    where = where or st
    with where.expander(f"{len(skipped):,} file(s) skipped — see why"):
        st.dataframe({"file": [s.file for s in skipped], "reason": [s.reason for s in skipped]},
                     hide_index=True, width="stretch")
