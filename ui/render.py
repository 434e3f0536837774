"""Small drawing helpers shared by the pages: chart config, selections, image grids, the neighbour panel."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import streamlit as st

from ui import workspace as wsp
from ui.safe import md

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
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    st.rerun(scope="fragment" if ctx is not None and getattr(ctx, "current_fragment_id", None) else "app")


def selection_csv(ws: wsp.Workspace, rows: Sequence[int]) -> str:
    """The rows' names, ids and tag columns as CSV; a cell a spreadsheet would run as a formula gets a
    leading quote (file names and tags are visitors' text)."""
    import csv
    import io

    from explorer.io.sources import csv_cell as cell

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["row", "image", "id", *ws.tag_columns])
    for i in rows:
        writer.writerow([i, cell(ws.sources[i]), ws.ids[i], *(cell(ws.column(c)[i]) for c in ws.tag_columns)])
    return buf.getvalue()


def image_of(ws: wsp.Workspace, i: int) -> np.ndarray | bytes | None:
    """The largest picture we hold for row ``i`` (normalised pixels, else the thumbnail), or None."""
    if ws.images is None:
        return wsp.thumbnail(ws, i)  # a sharded folder's thumbnail, else None
    return ws.images.pixels[i]


def image_or_name(ws: wsp.Workspace, i: int, *, caption: str, width: int) -> None:
    """Image ``i`` with ``caption`` (user text, escaped here), or just the caption when the set has no pictures."""
    image = image_of(ws, i)
    if image is not None:
        st.image(image, caption=md(caption, max_length=200), width=width)
    else:
        st.text(caption)


def image_grid(ws: wsp.Workspace, rows: Sequence[int], *, captions: Sequence[str] | None = None,
               columns: int = 6, width: int = 110, key: str = "grid", focus_buttons: bool = False) -> None:
    """Thumbnails of ``rows`` in a grid; optional buttons to focus an image.

    ``captions`` are taken as text (they quote tags and file names) and escaped here, because st.image
    renders its caption as Markdown.
    """
    if ws.images is None and getattr(ws, "shard", None) is None:
        st.info("This set is an .npz of vectors without pictures; names and tags only.")
        st.dataframe({"image": [ws.sources[i] for i in rows], "tag": [ws.tags[i] for i in rows]}, hide_index=True)
        return
    for start in range(0, len(rows), columns):
        cols = st.columns(columns)
        for j, i in enumerate(rows[start:start + columns]):
            with cols[j]:
                caption = captions[start + j] if captions is not None else f"{ws.sources[i]} · {ws.tags[i]}"
                picture = wsp.thumbnail(ws, i)
                if picture is None:  # a sharded folder written from vectors alone
                    st.text(caption)
                else:
                    st.image(picture, caption=md(caption, max_length=200), width=width)
                if focus_buttons and st.button("look closer", key=f"{key}_{i}", help="Make this the selected image"):
                    wsp.set_focus_row(i)
                    rerun_here()


def neighbour_panel(ws: wsp.Workspace, row: int, neighbours: np.ndarray, distances: np.ndarray) -> None:
    """The clicked image large, its tags, then its nearest neighbours with cosine distances."""
    st.markdown("#### Selected image")
    image_or_name(ws, row, caption=ws.sources[row], width=260)
    st.text("\n".join(f"{c}: {ws.column(c)[row]}" for c in ws.tag_columns))
    if ws.images is not None and ws.images.notes[row]:
        st.caption(md(ws.images.notes[row], max_length=300))
    valid = [(int(j), float(d)) for j, d in zip(neighbours, distances) if int(j) >= 0 and np.isfinite(d)]
    st.markdown(f"#### Its {len(valid)} nearest neighbours")
    st.caption("Cosine distance in feature space: 0 = pointing the same way, 1 = unrelated. "
               "They are ringed on the map.")
    same = sum(ws.tags[j] == ws.tags[row] for j, _ in valid)
    if valid:
        st.caption(f"{same} of {len(valid)} share its tag.")
    image_grid(ws, [j for j, _ in valid], captions=[f"d={d:.3f} · {ws.tags[j]}" for j, d in valid],
               columns=3, width=100, key="nb", focus_buttons=True)
