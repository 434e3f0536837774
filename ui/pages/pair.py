"""The pair inspector: two images, their vectors as rows of numbers, the cosine formula with live numbers."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import figures
from explorer.embedders import pixels_grid_shape
from ui import analysis, render
from ui.compute import get_neighbours
from ui.current import current_set, row_label
from ui.state import chosen_tags, focus_row, selected_rows

st.markdown("## Pair inspector")
ws = current_set()
if ws is None:
    st.stop()
if len(ws) < 2:
    st.warning("Need at least two images.")
    st.stop()
st.caption("Pick two images (the map's selection fills these in). Below: each image as the row of numbers "
           "the embedder made, then the cosine similarity worked out with those numbers.")


def _defaults() -> tuple[int, int]:
    selected = selected_rows(ws)
    if len(selected) >= 2:
        return selected[0], selected[1]
    focus = focus_row(ws)
    if focus is not None:
        idx, _ = get_neighbours(ws, 1)
        return focus, int(idx[focus, 0])
    return 0, 1


a0, b0 = _defaults()
options = list(range(len(ws)))
c = st.columns(2)
a = c[0].selectbox("Image A", options, index=a0, format_func=row_label(ws), key=f"pair_a_{a0}")
b = c[1].selectbox("Image B", options, index=b0, format_func=row_label(ws), key=f"pair_b_{b0}")

for col, i, name in ((c[0], a, "A"), (c[1], b, "B")):
    with col:
        render.image_or_name(ws, i, caption=f"{name}: {ws.sources[i]} ({chosen_tags(ws)[i]})", width=220)

va, vb = ws.vectors[a], ws.vectors[b]
walk = analysis.cosine_walk(va, vb)
st.markdown(f"#### 1. Each image is a row of {va.size:,} numbers")
st.code(f"A  {analysis.format_row(va)}\nB  {analysis.format_row(vb)}", language=None)
st.markdown("#### 2. Cosine similarity: how closely the two rows point the same way")
st.code(
    "cos θ = (A · B) / (‖A‖ × ‖B‖)\n"
    f"      = {walk['dot']:.6g} / ({walk['norm_a']:.6g} × {walk['norm_b']:.6g})\n"
    f"      = {walk['cos']:.4f}\n"
    f"cosine distance = 1 − cos θ = {walk['distance']:.4f}", language=None)
if not np.isfinite(walk["cos"]):
    st.warning("One of the vectors is all zeros, so it has no direction and cosine similarity is undefined.")
    st.stop()
st.markdown("#### 3. Which numbers make them similar")
st.caption("A · B adds up A[i] × B[i] over every position i. Each bar is one position's share of cos θ "
           "(all shares sum to cos θ); green adds similarity, red takes it away.")
st.plotly_chart(figures.contribution_bars(walk["contributions"], top=25), config=render.PLOTLY_CONFIG,
                key="pair_bars")
if ws.embedder is not None and ws.embedder_name == "pixels":
    shape = pixels_grid_shape(ws.embedder)
    grid = walk["contributions"].reshape(shape)
    grid = grid.sum(axis=-1) if grid.ndim == 3 else grid
    st.markdown("#### 4. The same shares drawn back onto the picture")
    st.caption(f"With the pixels embedder every number is one pixel of a {shape[0]}×{shape[1]} copy of the image: "
               "red pixels are bright in both images and make them similar.")
    st.plotly_chart(figures.pixel_contribution_figure(grid), config=render.PLOTLY_CONFIG, key="pair_pixels")
