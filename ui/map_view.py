"""The map page's parts, as functions of the record: controls, the projection (with its animated frames and
the previous map), the measures, the figure, the side panel and the selection panel.

The page (ui/pages/map.py) is the short script that calls them. A "stage" is the placeholder in the map's
column where the previous map and t-SNE's frames are drawn until the finished map replaces them.
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass

import numpy as np
import streamlit as st

from explorer import figures, largemap
from explorer.density_figure import large_map_figure
from explorer.io.interop import has_given_coordinates
from explorer.measures import knn_tag_agreement, map_measures, sample_rows
from explorer.projection import available_methods, place_new_points
from explorer.workset import WorkSet
from explorer.words import plural
from ui import map_component, render, sets, state, story_data
from ui.compute import (background, cached_projection, get_projection, memo, mosaic_for, neighbours_of,
                        thumbnail_uris)
from ui.current import selection_csv
from ui.safe import md
from ui.state import LastMap, MapSettings, chosen_tags, tag_column

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


@dataclass(frozen=True)
class MapControls:
    """What the controls above the map chose."""

    settings: MapSettings
    show: str
    k: int


# ----------------------------------------------------------------------------------------- frames

def draw_frame(stage, coords: np.ndarray, tags, sources, tag_name: str, title: str, key: str,
               colors: dict[str, str]) -> None:
    """A map frame in the stage: one element replaced in place (a container here can break Streamlit's
    frontend when frames replace each other quickly: "Bad delta path index"). A large map's frame shows a
    sample of its points (explorer.largemap.display_rows)."""
    if largemap.is_large(len(coords)):
        rows = largemap.display_rows(coords)
        coords, tags, sources = coords[rows], [tags[i] for i in rows], [sources[i] for i in rows]
    fig = figures.map_figure(coords, tags=tags, sources=sources, tag_name=tag_name, title=title, colors=colors)
    # Drawn by the map component too: one plotly.js on the page, already loaded when the finished map arrives
    # (a first st.plotly_chart would load Streamlit's own copy and leave the stage blank meanwhile).
    with stage:
        map_component.draw(map_component.figure_json(fig), map_id=f"frame-{key}", dims=coords.shape[1],
                           overlay=map_component.Overlay(), key=key, keep=False, config=render.PLOTLY_CONFIG,
                           webgl=len(coords) > figures.WEBGL_THRESHOLD)


def show_previous_map(stage) -> None:
    """Keep the last map on screen while the set loads or embeds, in the palette it was drawn with."""
    last = state.last_map()
    if last is not None:
        draw_frame(stage, last.coords, last.tags, last.sources, last.tag_column,
                   "Previous map, shown while the new one is computed…", "map_previous", colors=last.colors)


# ----------------------------------------------------------------------------------------- controls

def controls(ws: WorkSet) -> MapControls:
    methods, default = map_methods(ws)
    # The choice is kept outside the widget too: Streamlit drops a widget's state on a run that does not draw
    # it (a source change that stops the page), and the box could then show t-SNE over a PCA map.
    kept = state.kept_method(default)
    method0 = sets.from_url("method", methods) or (kept if kept in methods else default)
    dims0 = sets.from_url("dims", [2, 3]) or 2
    show0 = sets.from_url("show", list(SHOW)) or "dots"
    c = st.columns([1.6, 0.8, 1.4, 1.8, 0.9])
    method = c[0].selectbox("Projection", methods, index=methods.index(method0), format_func=METHOD_NAMES.get,
                            key=state.MAP_METHOD_KEY, on_change=state.keep_method, help=METHOD_HELP)
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
    return MapControls(MapSettings(method, int(dims), float(perplexity)), show, k)


def map_methods(ws: WorkSet) -> tuple[list[str], str]:
    """(the projections offered for this set, the default). A large set (explorer.largemap.is_large) is
    offered PCA, given coordinates and the maps ``python -m explorer map DIR`` wrote beside it, not a t-SNE
    or UMAP of every point (tens of minutes on two cores: the command line does that)."""
    methods = available_methods() + (["given"] if has_coordinates(ws) else [])
    written = list(ws.shard.maps) if getattr(ws, "shard", None) is not None else []
    if largemap.is_large(len(ws.ids)):
        methods = [m for m in methods if m in ("pca", "given") or m in written]
        return methods, next((m for m in written if m in methods), "pca")
    return methods, DEFAULT_METHOD


def has_coordinates(ws: WorkSet) -> bool:
    return memo("other", ("has-coordinates", ws.key), lambda: has_given_coordinates(ws.columns))


# ----------------------------------------------------------------------------------------- projection

def placed_start(ws: WorkSet, settings: MapSettings) -> np.ndarray | None:
    """When images were added to the set on screen: the old layout with each new image beside its
    look-alikes (explorer.projection.place_new_points), for t-SNE to refine. None otherwise."""
    last = state.last_map()
    if (settings.method != "tsne" or last is None or last.method != "tsne"
            or last.coords.shape[1] != settings.dims or last.key == ws.key or len(last.ids) >= len(ws.ids)):
        return None
    position = {row_id: i for i, row_id in enumerate(ws.ids)}
    known = [position.get(row_id) for row_id in last.ids]
    if None in known or not np.isfinite(last.coords).all():
        return None
    known_rows = np.asarray(known)
    new_rows = np.setdiff1d(np.arange(len(ws.ids)), known_rows)
    order = np.concatenate([known_rows, new_rows])
    with st.spinner(f"Placing {len(new_rows):,} new images beside their look-alikes on the map…"):
        placed = place_new_points(ws.vectors[order], last.coords, perplexity=settings.perplexity)
    start = np.empty_like(placed)
    start[order] = placed
    if not np.isfinite(start).all():  # a new row that cannot be placed (zero vector): t-SNE starts from PCA
        return None
    return start


def projection(ws: WorkSet, settings: MapSettings, stage):
    """The projection; on a t-SNE cache miss the map is redrawn in ``stage`` as the optimisation goes."""
    method, dims, perplexity = settings.method, settings.dims, settings.perplexity
    last, start = [0.0], None
    if cached_projection(ws, method=method, dims=dims, perplexity=perplexity) is None:
        start = placed_start(ws, settings)
    tags, column, colors = chosen_tags(ws), tag_column(ws), story_data.tag_colours(ws)

    def on_layout(iteration: int, coords: np.ndarray) -> None:
        if iteration and time.monotonic() - last[0] < 0.4:
            return
        last[0] = time.monotonic()
        if iteration == 0 and method != "tsne":
            title = (f"Quick linear preview; computing the {METHOD_NAMES.get(method, method)} map of "
                     f"{len(ws.ids):,} images…")
        elif iteration == 0:
            title = ("New images placed beside their look-alikes; t-SNE refines the whole map…" if start is not None
                     else "t-SNE starting from the linear (PCA) view…")
        else:
            title = f"t-SNE optimising… iteration {iteration} / 750"
        draw_frame(stage, coords, tags, ws.sources, column, title, f"map_anim_{iteration}", colors=colors)

    try:
        proj = get_projection(ws, method=method, dims=dims, perplexity=perplexity, on_layout=on_layout,
                              initialization=start)
    except ValueError as exc:  # coordinates as given that cannot be drawn (no z for a 3D view)
        st.error(md(exc, max_length=300))
        st.stop()
    state.set_last_map(LastMap(key=ws.key, ids=list(ws.ids), coords=proj.coords, tags=list(tags),
                               sources=list(ws.sources), tag_column=column, method=proj.method, colors=colors))
    return proj


# ----------------------------------------------------------------------------------------- measures

def _measures_job(ws: WorkSet, proj, k: int):
    """(key, compute) of the map's measures: (MapMeasures or None, tag agreement). Above
    explorer.measures.SAMPLE_ABOVE points both are estimated on a stated random sample; a large map
    (explorer.largemap.is_large) is measured on its own sample (largemap.measure_sample), neighbours counted
    within it, so a million points cost seconds, not many minutes."""
    vectors, coords, tags = ws.vectors, proj.coords, list(chosen_tags(ws))
    on_map = int(np.isfinite(coords).all(axis=1).sum())
    params = repr(sorted(proj.params.items(), key=str))
    rows = largemap.measure_sample(len(coords)) if largemap.is_large(len(coords)) else None

    def compute():
        if rows is not None:
            X, Y, T = vectors[rows], coords[rows], [tags[i] for i in rows]
            return map_measures(X, Y, T, k=k), knn_tag_agreement(X, T, k=k)
        geo = None if on_map < 3 else map_measures(vectors, coords, tags, k=k)
        return geo, knn_tag_agreement(vectors, tags, k=k)

    return ("map-measures", ws.key, proj.method, params, tag_column(ws), k), compute


def measures(ws: WorkSet, proj, k: int):
    """(geo, agree), or None while they are computed in the background (sets above MEASURES_INLINE_MAX)."""
    key, compute = _measures_job(ws, proj, k)
    if len(ws.ids) <= MEASURES_INLINE_MAX:
        return memo("other", key, compute, heavy=True)
    done, value = background("other", key, compute)
    return value if done else None


@st.fragment(run_every=1.5)
def measures_pending(ws: WorkSet, proj, k: int) -> None:
    """Polls the background measures; when they are ready the page is drawn once more with them."""
    if measures(ws, proj, k) is not None:
        st.rerun()
    st.caption(f"Measuring how faithful this map of {len(ws.ids):,} images is, in the background — the map is "
               "ready to use meanwhile.")


def explain(ws: WorkSet, proj, geo, agree) -> None:
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
        if largemap.is_large(len(proj.coords)):
            lines.append(f"*These numbers are estimated on a random sample of {geo.population:,} of "
                         f"{len(proj.coords):,} images, neighbours counted within the sample* (exact values: "
                         "`python -m explorer map --exact-measures`).")
        elif not geo.exact:
            lines.append(f"*These numbers are estimated on a random sample of {geo.sample_size:,} of "
                         f"{geo.population:,} images* (exact values: `python -m explorer map --exact-measures`).")
    column = tag_column(ws)
    if agree is not None and agree.overall is not None:
        same = float(np.nanmean(agree.same_tag_fraction))
        lines.append(f"**Tag agreement {100 * agree.overall:.0f}%**: for this share of images, most of their "
                     f"{agree.k} nearest neighbours in feature space (before any map) carry the same "
                     f"*{md(column)}*; always guessing the most common tag would score "
                     f"{100 * agree.chance:.0f}%. On average {100 * same:.0f}% of an image's neighbours share its tag.")
        lines.extend(md(n, max_length=300) for n in agree.notes)
    for note in proj.notes:
        lines.append(md(note, max_length=300))
    st.markdown("\n\n".join(lines))
    if agree is not None and agree.per_tag:
        with st.expander("Tag agreement per tag"):
            items = sorted(agree.per_tag.items(), key=lambda kv: -1 if kv[1] is None else kv[1])
            st.dataframe({column: [t for t, _ in items], "neighbours vote its tag": [v for _, v in items]},
                         hide_index=True, column_config={"neighbours vote its tag": st.column_config.ProgressColumn(
                             min_value=0.0, max_value=1.0, format="percent")})


def excluded(ws: WorkSet, proj) -> None:
    if proj.excluded:
        with st.expander(f"{plural(len(proj.excluded), 'image')} not on the map — see why"):
            st.dataframe({"image": [ws.sources[i] for i in proj.excluded], "reason": list(proj.excluded.values())},
                         hide_index=True)


# ----------------------------------------------------------------------------------------- chart and panel

@dataclass(frozen=True)
class DrawnMap:
    """The figure the browser keeps for one map (sent once, ui.map_component) and the notes drawn with it."""

    map_id: str
    fig_json: str
    dims: int
    large: bool
    notes: tuple[str, ...]


def drawn_map(ws: WorkSet, proj, show: str, kept) -> DrawnMap:
    """The map's figure without the clicked point and its neighbours (those are overlays), built once."""
    colors = story_data.tag_colours(ws)
    kept_key = None if kept is None or show != "kept" else hashlib.sha1(np.asarray(kept).tobytes()).hexdigest()
    key = (ws.key, proj.method, repr(sorted(proj.params.items(), key=str)), proj.coords.shape, show,
           tag_column(ws), tuple(sorted(colors.items())), kept_key)
    map_id = hashlib.sha1(repr(key).encode()).hexdigest()[:16]

    def build() -> DrawnMap:
        fig, notes = figure(ws, proj, show, kept)
        large = largemap.is_large(len(proj.coords))
        return DrawnMap(map_id, map_component.figure_json(fig), proj.coords.shape[1], large, tuple(notes))

    return memo("other", ("drawn-map", map_id), build)


def figure(ws: WorkSet, proj, show: str, kept):
    """(the map's base figure, notes to show with it)."""
    coords, tags, column, colors = proj.coords, chosen_tags(ws), tag_column(ws), story_data.tag_colours(ws)
    if largemap.is_large(len(coords)):
        fig, rows = large_map_figure(coords, tags=tags, sources=ws.sources, tag_name=column, colors=colors)
        layer = "under them shows how many points fall in each cell; " if coords.shape[1] == 2 else ""
        return fig, [f"{len(coords):,} points: {len(rows):,} of them, drawn at random, are shown as dots; the "
                     f"shading {layer}zoom in to see every point of a region (up to "
                     f"{largemap.REGION_LIMIT:,}). A click searches all {len(coords):,} for neighbours."]
    if show == "images" and coords.shape[1] == 2 and ws.images is not None and len(ws.ids) > SEPARATE_PICTURES_MAX:
        uri, x_range, y_range, drawn = mosaic_for(ws, proj)
        return (figures.mosaic_figure(coords, uri, x_range, y_range, tags=tags, sources=ws.sources,
                                      tag_name=column, colors=colors),
                [f"All {drawn:,} images drawn as one picture under the dots (zoom in to look closer)."])
    if show == "images" and coords.shape[1] == 2 and ws.images is not None:
        fig, note = figures.images_figure(coords, thumbnail_uris(ws), tags=tags, sources=ws.sources,
                                          tag_name=column, colors=colors)
        return fig, [note] if note else []
    notes = []
    if show == "images":
        notes.append("Images as points need a 2D map of a set with pictures; showing dots.")
    if show == "kept" and kept is None:
        notes.append("'Neighbours kept' appears when the map's measures are ready; showing dots meanwhile.")
    values = kept if show == "kept" else None
    return figures.map_figure(coords, tags=tags, sources=ws.sources, tag_name=column, values=values,
                              value_name="neighbours kept", colors=colors), notes


# A selection larger than this is drawn again (on a new figure) as a sample of its points.
SELECTION_OVERLAY_MAX = 20_000


def overlay(ws: WorkSet, proj, drawn: DrawnMap, focus, nb_idx, selected, rings=()) -> map_component.Overlay:
    """The clicked point, its neighbours ringed, the selection, the search box's matches (``rings``) and (large
    maps) the zoomed region's points."""
    coords, tags, column = proj.coords, chosen_tags(ws), tag_column(ws)
    finite = np.isfinite(coords).all(axis=1)

    def layer(rows, colors=None):
        rows = [int(i) for i in rows if finite[int(i)]]
        hover = figures.hover_lines([ws.sources[i] for i in rows], [tags[i] for i in rows], column)
        return map_component.layer(coords, rows, hover, colors)

    region = None
    view = state.map_view(drawn.map_id) if drawn.large else None
    if view is not None:
        rows, _ = largemap.region_rows(coords, view[0], view[1])
        palette = figures.colors_for(tags, story_data.tag_colours(ws))
        region = layer(rows, [palette.get(tags[i], "#888") for i in rows])
    shown = np.asarray(selected, dtype=np.int64)
    if len(shown) > SELECTION_OVERLAY_MAX:
        shown = shown[sample_rows(len(shown), SELECTION_OVERLAY_MAX)]
    return map_component.Overlay(focus=layer([focus]) if focus is not None else None,
                                 ring=layer(nb_idx) if focus is not None else None, region=region,
                                 selected=layer(shown) if len(shown) else None,
                                 search=layer(rings) if len(rings) else None)


def selection_view(ws: WorkSet, show: str) -> tuple:
    """What a box/lasso selection is drawn on: Plotly forgets it when the colour column or "Points as" changes."""
    return (ws.set_key, tag_column(ws), show)


def keep_or_clear_selection(ws: WorkSet, show: str) -> None:
    """A selection made on another view (colour column, points as) is no longer drawn on the map: clear it
    and say so, rather than count images the map does not show as selected."""
    view, made_on = selection_view(ws, show), state.selection_view()
    selected = state.selected_rows(ws)
    if selected and made_on is not None and made_on != view:
        state.set_selected_rows([])
        state.set_map_panel("focus")
        st.toast(f"Selection of {len(selected):,} images cleared: the map was redrawn. Drag a box or lasso again.")
        st.caption(f"The selection of {len(selected):,} images was cleared because the map was redrawn.")
    elif selected and made_on is None:
        state.set_selected_rows(selected, view)  # a selection from a link or another page: adopt this view


def selection_rows(coords: np.ndarray, select: dict) -> list[int]:
    """Rows of a box or lasso, found over all rows of the map (a large map draws only some of them)."""
    try:
        if select.get("box"):
            return [int(i) for i in largemap.rows_in_box(coords, select["box"]["x"], select["box"]["y"])]
        if select.get("lasso"):
            return [int(i) for i in largemap.rows_in_polygon(coords, select["lasso"]["x"], select["lasso"]["y"])]
    except (KeyError, TypeError, ValueError):  # a malformed event from the browser: treat it as points only
        pass
    rows = [r for r in select.get("rows") or [] if isinstance(r, int) and not isinstance(r, bool)]
    return [r for r in dict.fromkeys(rows) if 0 <= r < len(coords)]


def on_map_event(ws: WorkSet, proj, show: str, map_id: str, event: map_component.MapEvent) -> None:
    """Runs before the rerun a click, a selection or a zoom causes: store it, so that rerun draws the answer."""
    if event.need:
        return  # handled by ui.map_component (the figure or plotly.js is sent again)
    if event.click is not None and 0 <= event.click < len(ws.ids):
        state.set_focus_row(event.click)
        state.set_map_panel("focus")
    elif event.select is not None:
        rows = selection_rows(proj.coords, event.select)
        if rows:
            state.set_selected_rows(rows, selection_view(ws, show))
            state.set_map_panel("selection")
    elif event.view is not None:
        state.set_map_view(map_id, map_component.view_ranges(event.view))


def _clear_selection() -> None:
    state.set_selected_rows([])
    state.set_map_panel("focus")


def selection_panel(ws: WorkSet, selected: list[int]) -> None:
    st.markdown(f"#### {len(selected):,} images selected")
    all_tags = chosen_tags(ws)
    tags = [all_tags[i] for i in selected]
    counts = {t: tags.count(t) for t in dict.fromkeys(tags)}
    st.dataframe({tag_column(ws): list(counts), "images": list(counts.values())}, hide_index=True, width="stretch")
    c = st.columns(2)
    c[0].download_button("Download names (CSV)", selection_csv(ws, selected), file_name="selection.csv",
                         mime="text/csv", key="map_sel_csv", on_click="ignore")
    c[1].button("Clear selection", key="map_clear", on_click=_clear_selection)
    shown = selected[:SELECTION_GRID_MAX]
    if len(selected) > len(shown):
        st.caption(f"Showing the first {len(shown)} of {len(selected):,}.")
    render.image_grid(ws, shown, columns=4, width=90, key="sel")


def side_panel(ws: WorkSet, focus, selected: list[int], nb_idx, nb_dist) -> None:
    if selected and (state.map_panel() == "selection" or focus is None):
        selection_panel(ws, selected)
        if focus is not None:
            with st.expander(f"The clicked image ({ws.sources[focus]}) and its neighbours"):
                render.neighbour_panel(ws, focus, nb_idx, nb_dist)
    elif focus is not None:
        render.neighbour_panel(ws, focus, nb_idx, nb_dist)
        if selected:
            with st.expander(f"The {len(selected):,} selected images"):
                selection_panel(ws, selected)
    else:
        st.info("Click any dot on the map to see that image large, with its nearest neighbours; drag a box "
                "or lasso to see a group.")


@st.fragment
def map_and_panel(ws: WorkSet, proj, show: str, k: int, kept, rings: tuple[int, ...] = ()) -> None:
    """The chart and the panel beside it; a click or selection reruns only this, and the browser keeps the
    figure: only the overlays (clicked point, ringed neighbours, a zoomed region's points, the rows the
    search box found (``rings``, ui.map_search)) travel."""
    keep_or_clear_selection(ws, show)
    drawn = drawn_map(ws, proj, show, kept)
    focus = state.focus_row(ws)
    selected = state.selected_rows(ws)
    sets.sync_url(focus=ws.ids[focus] if focus is not None else None)  # a click reruns only this fragment
    nb_idx, nb_dist = neighbours_of(ws, focus, k) if focus is not None else ([], [])
    left, right = st.columns([3, 2], gap="medium")
    with left:
        for note in drawn.notes:
            st.caption(note)
        map_component.draw(drawn.fig_json, map_id=drawn.map_id, dims=drawn.dims, key=state.MAP_CHART_KEY,
                                   overlay=overlay(ws, proj, drawn, focus, nb_idx, selected, rings), large=drawn.large,
                                   webgl=drawn.large or len(proj.coords) > figures.WEBGL_THRESHOLD,
                                   send_figure=not state.map_sent(drawn.map_id), config=render.PLOTLY_CONFIG,
                                   on_event=functools.partial(on_map_event, ws, proj, show, drawn.map_id))
        state.set_map_sent(drawn.map_id, True)  # if the browser lost it, it asks (on_map_event) and gets it again
    with right:
        side_panel(ws, focus, selected, nb_idx, nb_dist)
