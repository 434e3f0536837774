"""Small drawing helpers shared by the pages: chart config, selections, image grids, the neighbour panel."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.workset import WorkSet
from ui.compute import thumbnail
from ui.safe import md
from ui.state import chosen_tags, set_focus_row

# Plotly runs from the bundle Streamlit serves; no MathJax typesetting, no logo link, no cloud buttons.
PLOTLY_CONFIG = {"displaylogo": False, "scrollZoom": True, "typesetMath": False, "showLink": False,
                 "modeBarButtonsToRemove": ["sendDataToCloud", "toggleSpikelines"]}


def rows_from_event(event) -> tuple[list[int], bool]:
    """Row indices (from ``customdata``) picked in a plotly_chart selection, and whether a box/lasso was drawn."""
    if not event:
        return [], False
    selection = event.get("selection", {}) if hasattr(event, "get") else {}
    rows: list[int] = []
    for point in selection.get("points", []) or []:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if data is None:
            continue
        try:
            rows.append(int(data))
        except (TypeError, ValueError):
            continue
    area = bool(selection.get("box") or selection.get("lasso"))
    return list(dict.fromkeys(rows)), area


def rerun_here() -> None:
    """Rerun the fragment this runs in (only it), or the whole page outside a fragment."""
    ctx = get_script_run_ctx()
    st.rerun(scope="fragment" if ctx is not None and getattr(ctx, "current_fragment_id", None) else "app")


def image_of(ws: WorkSet, i: int) -> np.ndarray | bytes | None:
    """The largest picture we hold for row ``i`` (normalised pixels, else the thumbnail), or None."""
    if ws.images is None:
        return thumbnail(ws, i)  # a sharded folder's thumbnail, else None
    return ws.images.pixels[i]


def image_or_name(ws: WorkSet, i: int, *, caption: str, width: int) -> None:
    """Image ``i`` with ``caption`` (user text, escaped here), or just the caption when the set has no pictures."""
    image = image_of(ws, i)
    if image is not None:
        st.image(image, caption=md(caption, max_length=200), width=width)
    else:
        st.text(caption)


# A grid's pictures never grow past their column (st.image's width is a fixed px count) and a caption
# takes at most two lines (a long file name used to wrap to seven).
GRID_STYLE = """<style>
[data-testid="stColumn"] [data-testid="stImageContainer"], [data-testid="stColumn"] [data-testid="stImage"] img
  {max-width:100% !important; height:auto !important}
[data-testid="stColumn"] [data-testid="stImageCaption"] {display:-webkit-box; -webkit-line-clamp:2;
  -webkit-box-orient:vertical; overflow:hidden; overflow-wrap:anywhere}
</style>"""


def short_name(source: str, max_chars: int = 18) -> str:
    """A file's name without its folders, cut in the middle past ``max_chars`` ("IMG_2024…0131.jpg")."""
    name = source.replace("\\", "/").rsplit("/", 1)[-1] or source
    if len(name) <= max_chars:
        return name
    keep = max_chars - 1
    return name[: keep - keep // 2] + "…" + name[-(keep // 2):]


def image_grid(ws: WorkSet, rows: Sequence[int], *, captions: Sequence[str] | None = None,
               columns: int = 6, width: int = 110, key: str = "grid", focus_buttons: bool = False) -> None:
    """Thumbnails of ``rows`` in a grid; optional buttons to focus an image.

    ``captions`` are taken as text (they quote tags and file names) and escaped here, because st.image
    renders its caption as Markdown.
    """
    if ws.images is None and getattr(ws, "shard", None) is None:
        st.info("This set is an .npz of vectors without pictures; names and tags only.")
        st.dataframe({"image": [ws.sources[i] for i in rows], "tag": [chosen_tags(ws)[i] for i in rows]}, hide_index=True)
        return
    st.html(GRID_STYLE)
    for start in range(0, len(rows), columns):
        cols = st.columns(columns)
        for j, i in enumerate(rows[start:start + columns]):
            with cols[j]:
                caption = (captions[start + j] if captions is not None
                           else f"{short_name(ws.sources[i])} · {chosen_tags(ws)[i]}")
                picture = thumbnail(ws, i)
                if picture is None:  # a sharded folder written from vectors alone
                    st.text(caption)
                else:
                    st.image(picture, caption=md(caption, max_length=200), width=width)
                if focus_buttons and st.button("look closer", key=f"{key}_{i}", help="Make this the selected image"):
                    set_focus_row(i)
                    rerun_here()


def neighbour_panel(ws: WorkSet, row: int, neighbours: np.ndarray, distances: np.ndarray) -> None:
    """The clicked image large, its tags, then its nearest neighbours with cosine distances."""
    st.markdown("#### Selected image")
    image_or_name(ws, row, caption=ws.sources[row], width=260)
    st.text("\n".join(f"{c}: {ws.columns[c][row]}" for c in list(ws.columns)))
    if ws.images is not None and ws.images.notes[row]:
        st.caption(md(ws.images.notes[row], max_length=300))
    valid = [(int(j), float(d)) for j, d in zip(neighbours, distances) if int(j) >= 0 and np.isfinite(d)]
    st.markdown(f"#### Its {len(valid)} nearest neighbours")
    st.caption("Cosine distance in feature space: 0 = pointing the same way, 1 = unrelated. "
               "They are ringed on the map.")
    same = sum(chosen_tags(ws)[j] == chosen_tags(ws)[row] for j, _ in valid)
    if valid:
        st.caption(f"{same} of {len(valid)} share its tag.")
    image_grid(ws, [j for j, _ in valid], captions=[f"d={d:.3f} · {chosen_tags(ws)[j]}" for j, d in valid],
               columns=3, width=100, key="nb", focus_buttons=True)
