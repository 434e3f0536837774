"""The map page: the set projected to 2D/3D, coloured by tag; click for neighbours, box/lasso for a grid."""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from explorer import figures
from ui import render, story_data
from ui import workspace as wsp
from ui.safe import md

# Up to this many images each is its own picture in the chart (sharp when zoomed); beyond it the browser
# slows down, so all of them are pasted into one picture (explorer.mosaic) with no cap on the count.
SEPARATE_PICTURES_MAX = 800
DEFAULT_METHOD = "tsne"  # the map people expect; it animates in, and PCA is one click away
# Short enough for the box at 1400 px wide; the help text says what each one does.
METHOD_NAMES = {"pca": "PCA (linear)", "tsne": "t-SNE", "umap": "UMAP"}
METHOD_HELP = ("**PCA**: instant and linear, far-apart images can overlap. **t-SNE**: keeps each image's "
               "neighbourhood, animates in. **UMAP**: like t-SNE, faster on large sets (when installed).")
SHOW = {"dots": "dots", "images": "images", "kept": "neighbours kept"}

st.markdown("## Map of feature space")
ws = wsp.current_workspace()
if ws is None:
    st.stop()
st.caption(f"**{len(ws):,} images** from {md(ws.name)}, embedded with **{md(ws.embedder_name)}** "
           f"({ws.vectors.shape[1]:,} numbers per image). Each dot is one image; images the embedder finds "
           "similar land close together. **Click a dot** to see the image and its nearest neighbours; "
           "**drag a box or lasso** (toolbar, top right of the map) to see a group.")


def _keep_method() -> None:
    st.session_state["map_method_kept"] = st.session_state["map_method"]


def _controls():
    from explorer.projection import available_methods

    methods = available_methods()
    c = st.columns([1.6, 0.8, 1.4, 1.8, 0.9])
    # The choice is kept outside the widget too: Streamlit drops a widget's state on a run that does not draw
    # it (a source change that stops the page), and the box could then show t-SNE over a PCA map.
    kept = st.session_state.get("map_method_kept", DEFAULT_METHOD)
    method = c[0].selectbox("Projection", methods, index=methods.index(kept if kept in methods else DEFAULT_METHOD),
                            format_func=METHOD_NAMES.get, key="map_method", on_change=_keep_method,
                            help=METHOD_HELP)
    dims = c[1].radio("View", [2, 3], format_func=lambda d: f"{d}D", horizontal=True, key="map_dims")
    perplexity = c[2].slider("Perplexity (t-SNE)", 5, 100, 30, key="map_perplexity", disabled=method != "tsne",
                             help="Roughly how many neighbours each point tries to keep close. "
                                  "Changing it re-maps but never re-embeds.")
    show = c[3].radio("Points as", list(SHOW), format_func=SHOW.get, horizontal=True, key="map_show",
                      help="'neighbours kept' colours each point by how many of its feature-space "
                           "neighbours are also its neighbours on the map (green = faithful).")
    k = int(c[4].number_input("Neighbours k", 3, 50, 10, key="map_k"))
    return method, int(dims), float(perplexity), show, k


def _animated_projection(method: str, dims: int, perplexity: float, where):
    """The projection; on a t-SNE cache miss the map is redrawn as the optimisation goes, in ``where``
    (the final map's column, at its size, so nothing jumps when the final map replaces it)."""
    slot = where.empty()
    last = [0.0]

    def on_layout(iteration: int, coords: np.ndarray) -> None:
        if time.monotonic() - last[0] < 0.4:
            return
        last[0] = time.monotonic()
        title = ("t-SNE starting from the linear (PCA) view…" if iteration == 0
                 else f"t-SNE optimising… iteration {iteration}")
        fig = figures.map_figure(coords, tags=ws.tags, sources=ws.sources, tag_name=ws.tag_column, title=title,
                                 colors=story_data.tag_colours(ws))
        slot.plotly_chart(fig, config=render.PLOTLY_CONFIG, key=f"map_anim_{iteration}")

    proj = wsp.get_projection(ws, method=method, dims=dims, perplexity=perplexity, on_layout=on_layout)
    slot.empty()
    return proj


def _measures(proj, k: int):
    """(trustworthiness, neighbours kept per row (n,) with NaN off-map, tag agreement) — cached."""
    try:
        from explorer.measures import knn_tag_agreement, neighbours_kept, trustworthiness
    except ImportError:  # the measures module is optional for drawing the map itself
        st.caption("Map measures are unavailable (explorer.measures could not be imported).")
        return None, None
    on_map = np.isfinite(proj.coords).all(axis=1)
    params = repr(sorted(proj.params.items(), key=str))

    def geometry():
        if on_map.sum() < 3:
            return None
        return trustworthiness(ws.vectors, proj.coords, k=k), neighbours_kept(ws.vectors, proj.coords, k=k)

    geo = wsp.memo("other", ("map-measures", ws.key, proj.method, params, k), geometry)
    agree = wsp.memo("other", ("tag-agreement", ws.key, ws.tag_column, k),
                     lambda: knn_tag_agreement(ws.vectors, ws.tags, k=k))
    return geo, agree


def _explain(proj, geo, agree, k: int) -> None:
    lines = []
    if proj.method == "pca" and proj.explained_variance_ratio is not None:
        shares = " + ".join(f"{100 * v:.1f}%" for v in proj.explained_variance_ratio)
        total = 100 * float(np.sum(proj.explained_variance_ratio))
        lines.append(f"**PCA** axes show {shares} = **{total:.0f}%** of the spread of the vectors; "
                     "the rest is flattened away, so images far apart in feature space can overlap on the map.")
    if geo is not None and geo[0] is not None:
        trust, kept = geo
        lines.append(f"**Map faithfulness (trustworthiness) {trust:.2f}**: 1.00 means images that look close "
                     "on the map really are close in feature space; around 0.5 is what a random map scores. "
                     f"On average **{np.nanmean(kept) * 100:.0f}% of each image's {k} nearest neighbours** in "
                     "feature space are also among its nearest on the map ('neighbours kept' view).")
    if agree is not None and agree.overall is not None:
        same = float(np.nanmean(agree.same_tag_fraction))
        lines.append(f"**Tag agreement {100 * agree.overall:.0f}%**: for this share of images, most of their "
                     f"{agree.k} nearest neighbours in feature space (before any map) carry the same "
                     f"*{md(ws.tag_column)}*; always guessing the most common tag would score "
                     f"{100 * agree.chance:.0f}%. On average {100 * same:.0f}% of an image's neighbours share its tag.")
        lines.extend(md(n, max_length=300) for n in agree.notes)
    for note in proj.notes:
        lines.append(md(note, max_length=300))
    st.markdown("\n\n".join(lines))
    if agree is not None and agree.per_tag:
        with st.expander("Tag agreement per tag"):
            items = sorted(agree.per_tag.items(), key=lambda kv: -1 if kv[1] is None else kv[1])
            st.dataframe({ws.tag_column: [t for t, _ in items], "neighbours vote its tag": [v for _, v in items]},
                         hide_index=True, column_config={"neighbours vote its tag": st.column_config.ProgressColumn(
                             min_value=0.0, max_value=1.0, format="percent")})


def _figure(proj, show: str, focus, highlight, kept):
    coords = proj.coords
    if show == "images" and coords.shape[1] == 2 and ws.images is not None and len(ws) > SEPARATE_PICTURES_MAX:
        uri, x_range, y_range, drawn = wsp.mosaic_for(ws, proj)
        st.caption(f"All {drawn:,} images drawn as one picture under the dots (zoom in to look closer).")
        return figures.mosaic_figure(coords, uri, x_range, y_range, tags=ws.tags, sources=ws.sources,
                                     tag_name=ws.tag_column, colors=story_data.tag_colours(ws))
    if show == "images" and coords.shape[1] == 2 and ws.images is not None:
        fig, note = figures.images_figure(coords, wsp.thumbnail_uris(ws), tags=ws.tags, sources=ws.sources,
                                          tag_name=ws.tag_column, colors=story_data.tag_colours(ws))
        if note:
            st.caption(note)
        return fig
    if show == "images":
        st.caption("Images as points need a 2D map of a set with pictures; showing dots.")
    values = kept if show == "kept" and kept is not None else None
    return figures.map_figure(coords, tags=ws.tags, sources=ws.sources, tag_name=ws.tag_column,
                              values=values, value_name="neighbours kept", highlight=highlight, focus=focus,
                              colors=story_data.tag_colours(ws))


def _handle_selection(event) -> None:
    rows, area = render.rows_from_event(event)
    signature = (tuple(rows), area)
    if not rows or st.session_state.get("map_last_selection") == signature:
        return
    st.session_state["map_last_selection"] = signature
    if len(rows) == 1 and not area:
        wsp.set_focus_row(rows[0])
        st.rerun()
    else:
        wsp.set_selected_rows(rows)


method, dims, perplexity, show, k = _controls()
left, right = st.columns([3, 2], gap="medium")
proj = _animated_projection(method, dims, perplexity, left)
neighbour_idx, neighbour_dist = wsp.get_neighbours(ws, k)
focus = wsp.focus_row(ws)
highlight = list(neighbour_idx[focus]) if focus is not None else []
# The measures come after the chart (so the map shows first) unless the overlay needs them.
geo, agree = _measures(proj, k) if show == "kept" else (None, None)

with left:
    fig = _figure(proj, show, focus, highlight, geo[1] if geo is not None else None)
    event = st.plotly_chart(fig, key="map_chart", on_select="rerun", selection_mode=("points", "box", "lasso"),
                            config=render.PLOTLY_CONFIG)
    _handle_selection(event)
    if show != "kept":
        geo, agree = _measures(proj, k)
    if proj.excluded:
        with st.expander(f"{len(proj.excluded):,} image(s) not on the map — see why"):
            st.dataframe({"image": [ws.sources[i] for i in proj.excluded], "reason": list(proj.excluded.values())},
                         hide_index=True)
    _explain(proj, geo, agree, k)
with right:
    if focus is not None:
        render.neighbour_panel(ws, focus, neighbour_idx[focus], neighbour_dist[focus])
    else:
        st.info("Click any dot on the map to see that image large, with its nearest neighbours.")

selected = wsp.selected_rows(ws)
if selected:
    st.markdown(f"### {len(selected):,} images selected")
    tags = [ws.tags[i] for i in selected]
    counts = {t: tags.count(t) for t in dict.fromkeys(tags)}
    st.text("  ·  ".join(f"{t}: {c}" for t, c in counts.items()))
    if st.button("Clear selection", key="map_clear"):
        wsp.set_selected_rows([])
        st.rerun()
    shown = selected[:60]
    if len(selected) > len(shown):
        st.caption(f"Showing the first {len(shown)} of {len(selected):,}.")
    render.image_grid(ws, shown, columns=8, width=90, key="sel")
