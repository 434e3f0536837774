"""The distances page: cosine similarity of every pair, ordered by tag; tag x tag means; distance histograms."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import figures
from explorer.distances import cosine_similarity_matrix
from ui import analysis, render, story_data
from ui.safe import md
from ui.compute import memo
from ui.current import current_set
from ui.state import chosen_tags, tag_column

st.markdown("## Distances between images")
ws = current_set()
if ws is None:
    st.stop()
st.caption("Cosine similarity compares the *direction* of two image vectors: 1 = same direction, 0 = "
           "unrelated; cosine distance is 1 − similarity. Images are grouped by "
           f"*{md(tag_column(ws))}*, related tags side by side.")

limit = st.slider("Most images in the matrix", 100, 2000, 800, step=100, key="dist_limit",
                  help="The full matrix grows with the square of the number of images; larger sets are sampled "
                       "evenly across tags.")
rows = analysis.sample_rows_per_tag(chosen_tags(ws), limit)
if rows.size < len(ws):
    st.info(f"Showing a sample of {rows.size:,} of {len(ws):,} images (in proportion per tag).")
if rows.size < 2:
    st.warning("Need at least two images to compare.")
    st.stop()
tags_all = [chosen_tags(ws)[i] for i in rows]
order = rows[figures.order_by_tag(tags_all)]
tags = [chosen_tags(ws)[i] for i in order]


def _similarity() -> np.ndarray:
    return np.asarray(cosine_similarity_matrix(ws.vectors[order]), dtype=np.float32)


def _view():
    """Tag means, related-tags order, the matrix rows in that order and one colour scale for both heatmaps."""
    S = _similarity()
    means, tag_order = analysis.tag_mean_similarity(S, tags)
    related, groups = story_data.related_tag_order(ws, means, tag_order)
    perm = figures.order_by_tag(tags, [tag_order[i] for i in related])
    S = S[np.ix_(perm, perm)]
    view_tags = [tags[i] for i in perm]
    ref = figures.different_tag_mean(S, view_tags)
    upper = S[np.triu_indices(len(S), k=1)]
    if ref is None:
        scale = figures.centred_scale(upper, float(upper.mean()), reference_name="mean similarity")
    else:
        scale = figures.centred_scale(upper, ref, reference_name="mean different-tag similarity")
    return S, perm, view_tags, means, tag_order, related, groups, scale


S, perm, view_tags, means, tag_order, related, groups, scale = memo(
    "other", ("distances_view", ws.key, tag_column(ws), limit, story_data.grouping(ws)), _view)
colours = story_data.tag_colours(ws)
st.plotly_chart(figures.similarity_heatmap(S, tags=view_tags, sources=[ws.sources[order[i]] for i in perm],
                                           scale=scale),
                config=render.PLOTLY_CONFIG, key="dist_heatmap")
st.markdown(scale.note())  # fixed words and numbers, no user text

# The tag matrix takes the page's width: at 14 tags, half of a 1280-px page leaves cells too small for
# their values (figures.matrix_fit decides, for the narrowest width the chart gets).
st.markdown("#### Mean similarity between tags")
st.plotly_chart(figures.tag_similarity_figure(means, tag_order, scale=scale, order=related, groups=groups,
                                              colors=colours, width=figures.FULL_COLUMN_PX),
                config=render.PLOTLY_CONFIG, key="dist_tags")
diag = np.diag(means)
st.caption("Each cell averages every pair of images with those two tags (an image is never paired with "
           "itself), on the same colour scale as the matrix above. Same-tag means range "
           f"{np.nanmin(diag):.3f}–{np.nanmax(diag):.3f} against {scale.reference:.3f} for different tags"
           + (f"; tags grouped by *{md(story_data.grouping(ws))}* (black lines)" if groups else "") + ".")
st.markdown("#### Same tag vs different tags")
left, right = st.columns([3, 2])
same, different = analysis.same_vs_different(S, view_tags)
if same.size + different.size:
    left.plotly_chart(figures.distance_histograms(same, different), config=render.PLOTLY_CONFIG, key="dist_hist")
overlap = ""
if same.size and different.size:
    overlap = (f"Median distance: same tag {np.median(same):.3f}, different tags {np.median(different):.3f}. "
               f"{100 * np.mean(different < np.median(same)):.0f}% of different-tag pairs are closer than the "
               "typical same-tag pair.")
right.caption("Where the two histograms overlap, distance alone cannot tell the tags apart. " + overlap)
