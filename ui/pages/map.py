"""The map page: the set projected to 2D/3D, coloured by tag; click for neighbours, box/lasso for a group.

The chart and the panel beside it are one ``st.fragment``: a click or a selection reruns only them.
While a new map is computed the previous one stays on screen; images added to a set appear at once
beside their look-alikes on the existing layout, which t-SNE then refines, animating.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from explorer import figures
from ui import render, sets, story_data
from ui import workspace as wsp
from ui.safe import md

# Up to this many images each is its own picture in the chart (sharp when zoomed); beyond it the browser
# slows down, so all of them are pasted into one picture (explorer.mosaic) with no cap on the count.
SEPARATE_PICTURES_MAX = 800
# Up to this many points the map's measures are computed with the page (they take well under a second);
# above it they run in a background thread after the map is drawn and appear when ready.
MEASURES_INLINE_MAX = 5000
SELECTION_GRID_MAX = 60
DEFAULT_METHOD = "tsne"  # the map people expect; it animates in, and PCA is one click away
# Short enough for the box at 1400 px wide; the help text says what each one does.
METHOD_NAMES = {"pca": "PCA (linear)", "tsne": "t-SNE", "umap": "UMAP", "given": "as given"}
METHOD_HELP = ("**PCA**: instant and linear, far-apart images can overlap. **t-SNE**: keeps each image's "
               "neighbourhood, animates in. **UMAP**: like t-SNE, faster on large sets (when installed). "
               "**as given**: the set's own x, y (and z) columns, when it has them.")
SHOW = {"dots": "dots", "images": "images", "kept": "neighbours kept"}
LAST_MAP_KEY = "map_last"

st.markdown("## Map of feature space")
caption_box = st.container()
controls_box = st.container()
# The previous map while the new one loads, then t-SNE's frames: in the map's own column, at its size, so
# nothing jumps when the finished map (drawn by map_and_panel in the same layout) takes its place.
stage = st.columns([3, 2], gap="medium")[0].empty()


def _draw_frame(coords: np.ndarray, tags, sources, tag_name: str, title: str, key: str, colors=None) -> None:
    """A map frame in the stage: one element replaced in place (a container here can break Streamlit's
    frontend when frames replace each other quickly: "Bad delta path index")."""
    fig = figures.map_figure(coords, tags=tags, sources=sources, tag_name=tag_name, title=title, colors=colors)
    stage.plotly_chart(fig, config=render.PLOTLY_CONFIG, key=key)


def _show_previous_map() -> None:
    """Keep the last map on screen while the set loads or embeds (it is replaced as soon as there is news)."""
    last = st.session_state.get(LAST_MAP_KEY)
    if last is not None:
        _draw_frame(last["coords"], last["tags"], last["sources"], last["tag_column"],
                    "Previous map, shown while the new one is computed…", "map_previous")


_show_previous_map()
ws = wsp.current_workspace()
if ws is None:
    stage.empty()
    st.stop()
caption_box.caption(f"**{len(ws):,} images** from {md(ws.name)}, embedded with **{md(ws.embedder_name)}** "
                    f"({ws.vectors.shape[1]:,} numbers per image). Each dot is one image; images the embedder "
                    "finds similar land close together. **Click a dot** to see the image and its nearest "
                    "neighbours; **drag a box or lasso** (toolbar, top right of the map) to see a group.")


def _keep_method() -> None:
    st.session_state["map_method_kept"] = st.session_state["map_method"]


def _controls():
    from explorer.projection import available_methods

    methods = available_methods() + (["given"] if _has_coordinates() else [])
    # The choice is kept outside the widget too: Streamlit drops a widget's state on a run that does not draw
    # it (a source change that stops the page), and the box could then show t-SNE over a PCA map.
    kept = st.session_state.get("map_method_kept", DEFAULT_METHOD)
    method0 = sets.from_url("method", methods) or (kept if kept in methods else DEFAULT_METHOD)
    dims0 = sets.from_url("dims", [2, 3]) or 2
    show0 = sets.from_url("show", list(SHOW)) or "dots"
    c = st.columns([1.6, 0.8, 1.4, 1.8, 0.9])
    method = c[0].selectbox("Projection", methods, index=methods.index(method0), format_func=METHOD_NAMES.get,
                            key="map_method", on_change=_keep_method, help=METHOD_HELP)
    dims = c[1].radio("View", [2, 3], index=[2, 3].index(dims0), format_func=lambda d: f"{d}D", horizontal=True,
                      key="map_dims")
    perplexity = c[2].slider("Perplexity (t-SNE)", 5, 100, int(sets.from_url_number("perplexity", 5, 100) or 30),
                             key="map_perplexity", disabled=method != "tsne",
                             help="Roughly how many neighbours each point tries to keep close. "
                                  "Changing it re-maps but never re-embeds.")
    show = c[3].radio("Points as", list(SHOW), index=list(SHOW).index(show0), format_func=SHOW.get,
                      horizontal=True, key="map_show",
                      help="'neighbours kept' colours each point by how many of its feature-space "
                           "neighbours are also its neighbours on the map (green = faithful).")
    k = int(c[4].number_input("Neighbours k", 3, 50, int(sets.from_url_number("k", 3, 50) or 10), key="map_k"))
    sets.sync_url(method=method, dims=int(dims), perplexity=int(perplexity) if method == "tsne" else None,
                  show=show, k=k)
    return method, int(dims), float(perplexity), show, k


def _has_coordinates() -> bool:
    from explorer.io.interop import has_given_coordinates

    return wsp.memo("other", ("has-coordinates", ws.key), lambda: has_given_coordinates(ws.columns))


def _placed_start(method: str, dims: int, perplexity: float) -> np.ndarray | None:
    """When images were added to the set on screen: the old layout with each new image beside its
    look-alikes (explorer.projection.place_new_points), for t-SNE to refine. None otherwise."""
    last = st.session_state.get(LAST_MAP_KEY)
    if (method != "tsne" or last is None or last["method"] != "tsne" or last["coords"].shape[1] != dims
            or last["key"] == ws.key or len(last["ids"]) >= len(ws)):
        return None
    position = {row_id: i for i, row_id in enumerate(ws.ids)}
    known = [position.get(row_id) for row_id in last["ids"]]
    if None in known or not np.isfinite(last["coords"]).all():
        return None
    from explorer.projection import place_new_points

    known_rows = np.asarray(known)
    new_rows = np.setdiff1d(np.arange(len(ws)), known_rows)
    order = np.concatenate([known_rows, new_rows])
    with st.spinner(f"Placing {len(new_rows):,} new images beside their look-alikes on the map…"):
        placed = place_new_points(ws.vectors[order], last["coords"], perplexity=perplexity)
    start = np.empty_like(placed)
    start[order] = placed
    if not np.isfinite(start).all():  # a new row that cannot be placed (zero vector): t-SNE starts from PCA
        return None
    return start


def _projection(method: str, dims: int, perplexity: float):
    """The projection; on a t-SNE cache miss the map is redrawn as the optimisation goes."""
    last = [0.0]
    start = None
    if wsp.cached_projection(ws, method=method, dims=dims, perplexity=perplexity) is None:
        start = _placed_start(method, dims, perplexity)

    def on_layout(iteration: int, coords: np.ndarray) -> None:
        if iteration and time.monotonic() - last[0] < 0.4:
            return
        last[0] = time.monotonic()
        if iteration == 0 and method != "tsne":
            title = f"Quick linear preview; computing the {METHOD_NAMES.get(method, method)} map of {len(ws):,} images…"
        elif iteration == 0:
            title = ("New images placed beside their look-alikes; t-SNE refines the whole map…" if start is not None
                     else "t-SNE starting from the linear (PCA) view…")
        else:
            title = f"t-SNE optimising… iteration {iteration} / 750"
        _draw_frame(coords, ws.tags, ws.sources, ws.tag_column, title, f"map_anim_{iteration}",
                    colors=story_data.tag_colours(ws))

    try:
        proj = wsp.get_projection(ws, method=method, dims=dims, perplexity=perplexity, on_layout=on_layout,
                                  initialization=start)
    except ValueError as exc:  # coordinates as given that cannot be drawn (no z for a 3D view)
        st.error(md(exc, max_length=300))
        st.stop()
    st.session_state[LAST_MAP_KEY] = {"key": ws.key, "ids": list(ws.ids), "coords": proj.coords,
                                      "tags": list(ws.tags), "sources": list(ws.sources),
                                      "tag_column": ws.tag_column, "method": proj.method}
    return proj


def _measures_job(proj, k: int):
    """(key, compute) of the map's measures: (MapMeasures or None, tag agreement). Above
    explorer.measures.SAMPLE_ABOVE points both are estimated on a stated random sample."""
    from explorer.measures import knn_tag_agreement, map_measures

    vectors, coords, tags = ws.vectors, proj.coords, list(ws.tags)
    on_map = int(np.isfinite(coords).all(axis=1).sum())
    params = repr(sorted(proj.params.items(), key=str))

    def compute():
        geo = None if on_map < 3 else map_measures(vectors, coords, tags, k=k)
        return geo, knn_tag_agreement(vectors, tags, k=k)

    return ("map-measures", ws.key, proj.method, params, ws.tag_column, k), compute


def _measures(proj, k: int, *, wait: bool):
    """(geo, agree) or None while they are computed in the background (``wait`` computes them now)."""
    key, compute = _measures_job(proj, k)
    if wait or len(ws) <= MEASURES_INLINE_MAX:
        return wsp.memo("other", key, compute)
    done, value = wsp.background("other", key, compute)
    return value if done else None


@st.fragment(run_every=1.5)
def _measures_pending(proj, k: int) -> None:
    """Polls the background measures; when they are ready the page is drawn once more with them."""
    if _measures(proj, k, wait=False) is not None:
        st.rerun()
    st.caption(f"Measuring how faithful this map of {len(ws):,} images is, in the background — the map is "
               "ready to use meanwhile.")


def _explain(proj, geo, agree, k: int) -> None:
    lines = []
    if proj.method == "pca" and proj.explained_variance_ratio is not None:
        shares = " + ".join(f"{100 * v:.1f}%" for v in proj.explained_variance_ratio)
        total = 100 * float(np.sum(proj.explained_variance_ratio))
        lines.append(f"**PCA** axes show {shares} = **{total:.0f}%** of the spread of the vectors; "
                     "the rest is flattened away, so images far apart in feature space can overlap on the map.")
    if geo is not None and geo.trustworthiness is not None:
        lines.append(f"**Map faithfulness (trustworthiness) {geo.trustworthiness:.2f}**: 1.00 means images that "
                     "look close on the map really are close in feature space; around 0.5 is what a random map "
                     f"scores. On average **{np.nanmean(geo.neighbours_kept) * 100:.0f}% of each image's {geo.k} "
                     "nearest neighbours** in feature space are also among its nearest on the map "
                     "('neighbours kept' view).")
        if not geo.exact:
            lines.append(f"*These numbers are estimated on a random sample of {geo.sample_size:,} of "
                         f"{geo.population:,} images* (exact values: `python -m explorer map --exact-measures`).")
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
    if show == "kept" and kept is None:
        st.caption("'Neighbours kept' appears when the map's measures are ready; showing dots meanwhile.")
    values = kept if show == "kept" else None
    return figures.map_figure(coords, tags=ws.tags, sources=ws.sources, tag_name=ws.tag_column,
                              values=values, value_name="neighbours kept", highlight=highlight, focus=focus,
                              colors=story_data.tag_colours(ws))


def _handle_selection(event) -> bool:
    """Store a click as the focused image, a box/lasso as the selection; True when something changed."""
    rows, area = render.rows_from_event(event)
    signature = (tuple(rows), area)
    if not rows or st.session_state.get("map_last_selection") == signature:
        return False
    st.session_state["map_last_selection"] = signature
    if len(rows) == 1 and not area:
        wsp.set_focus_row(rows[0])
        st.session_state["map_panel"] = "focus"
    else:
        wsp.set_selected_rows(rows)
        st.session_state["map_panel"] = "selection"
    return True


def _clear_selection() -> None:
    wsp.set_selected_rows([])
    st.session_state["map_panel"] = "focus"


def _selection_panel(selected: list[int]) -> None:
    st.markdown(f"#### {len(selected):,} images selected")
    tags = [ws.tags[i] for i in selected]
    counts = {t: tags.count(t) for t in dict.fromkeys(tags)}
    st.dataframe({ws.tag_column: list(counts), "images": list(counts.values())}, hide_index=True, width="stretch")
    c = st.columns(2)
    c[0].download_button("Download names (CSV)", render.selection_csv(ws, selected), file_name="selection.csv",
                         mime="text/csv", key="map_sel_csv", on_click="ignore")
    c[1].button("Clear selection", key="map_clear", on_click=_clear_selection)
    shown = selected[:SELECTION_GRID_MAX]
    if len(selected) > len(shown):
        st.caption(f"Showing the first {len(shown)} of {len(selected):,}.")
    render.image_grid(ws, shown, columns=4, width=90, key="sel")


@st.fragment
def map_and_panel(proj, show: str, k: int, kept) -> None:
    """The chart and the panel beside it; a click or selection reruns only this."""
    focus = wsp.focus_row(ws)
    selected = wsp.selected_rows(ws)
    sets.sync_url(focus=ws.ids[focus] if focus is not None else None)  # a click reruns only this fragment
    nb_idx, nb_dist = wsp.neighbours_of(ws, focus, k) if focus is not None else ([], [])
    left, right = st.columns([3, 2], gap="medium")
    with left:
        fig = _figure(proj, show, focus, [int(i) for i in nb_idx], kept)
        event = st.plotly_chart(fig, key="map_chart", on_select="rerun", selection_mode=("points", "box", "lasso"),
                                config=render.PLOTLY_CONFIG)
        if _handle_selection(event):
            st.rerun(scope="fragment")
    with right:
        panel = st.session_state.get("map_panel", "focus")
        if selected and (panel == "selection" or focus is None):
            _selection_panel(selected)
            if focus is not None:
                with st.expander(f"The clicked image ({ws.sources[focus]}) and its neighbours"):
                    render.neighbour_panel(ws, focus, nb_idx, nb_dist)
        elif focus is not None:
            render.neighbour_panel(ws, focus, nb_idx, nb_dist)
            if selected:
                with st.expander(f"The {len(selected):,} selected images"):
                    _selection_panel(selected)
        else:
            st.info("Click any dot on the map to see that image large, with its nearest neighbours; drag a box "
                    "or lasso to see a group.")


with controls_box:
    method, dims, perplexity, show, k = _controls()
st.session_state["fse_map_settings"] = (method, dims, perplexity)  # the Export page exports this map
proj = _projection(method, dims, perplexity)
# The measures come after the chart (so the map shows first) unless the overlay needs them.
measured = _measures(proj, k, wait=False) if show == "kept" else None
map_and_panel(proj, show, k, measured[0].neighbours_kept if measured is not None and measured[0] is not None else None)
stage.empty()  # only now: the finished map is on screen below, so there is no moment without a map
if proj.excluded:
    with st.expander(f"{len(proj.excluded):,} image(s) not on the map — see why"):
        st.dataframe({"image": [ws.sources[i] for i in proj.excluded], "reason": list(proj.excluded.values())},
                     hide_index=True)
measured = _measures(proj, k, wait=False)
if measured is None:
    _explain(proj, None, None, k)
    _measures_pending(proj, k)
else:
    _explain(proj, measured[0], measured[1], k)
