"""The distances page: cosine similarity of every pair, ordered by tag; tag x tag means; distance histograms."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import figures
from ui import analysis, render
from ui import workspace as wsp
from ui.safe import md

st.markdown("## Distances between images")
ws = wsp.current_workspace()
if ws is None:
    st.stop()
st.caption("Cosine similarity compares the *direction* of two image vectors: 1 = same direction, 0 = "
           "unrelated; cosine distance is 1 − similarity. Images are grouped by "
           f"*{md(ws.tag_column)}*: if the tags are well separated, the diagonal blocks are bright.")

limit = st.slider("Most images in the matrix", 100, 2000, 800, step=100, key="dist_limit",
                  help="The full matrix grows with the square of the number of images; larger sets are sampled "
                       "evenly across tags.")
rows = analysis.sample_rows(ws.tags, limit)
if rows.size < len(ws):
    st.info(f"Showing a sample of {rows.size:,} of {len(ws):,} images (in proportion per tag).")
if rows.size < 2:
    st.warning("Need at least two images to compare.")
    st.stop()
tags_all = [ws.tags[i] for i in rows]
order = rows[figures.order_by_tag(tags_all)]
tags = [ws.tags[i] for i in order]


def _similarity() -> np.ndarray:
    from explorer.distances import cosine_similarity_matrix

    return np.asarray(cosine_similarity_matrix(ws.vectors[order]), dtype=np.float32)


S = wsp.memo("other", ("similarity", ws.key, ws.tag_column, limit), _similarity)
st.plotly_chart(figures.similarity_heatmap(S, tags=tags, sources=[ws.sources[i] for i in order]),
                config=render.PLOTLY_CONFIG, key="dist_heatmap")

left, right = st.columns(2)
with left:
    st.markdown("#### Mean similarity between tags")
    means, tag_order = analysis.tag_mean_similarity(S, tags)
    st.plotly_chart(figures.tag_similarity_figure(means, tag_order), config=render.PLOTLY_CONFIG, key="dist_tags")
    st.caption("Each cell averages every pair of images with those two tags (an image is never paired with "
               "itself). A bright diagonal and dark off-diagonal means the embedder keeps the tags apart.")
with right:
    st.markdown("#### Same tag vs different tags")
    same, different = analysis.same_vs_different(S, tags)
    if same.size + different.size:
        st.plotly_chart(figures.distance_histograms(same, different), config=render.PLOTLY_CONFIG, key="dist_hist")
    overlap = ""
    if same.size and different.size:
        overlap = (f"Median distance: same tag {np.median(same):.3f}, different tags {np.median(different):.3f}. "
                   f"{100 * np.mean(different < np.median(same)):.0f}% of different-tag pairs are closer than the "
                   "typical same-tag pair.")
    st.caption("Where the two histograms overlap, distance alone cannot tell the tags apart. " + overlap)
