"""The map page: the set projected to 2D/3D, coloured by tag; click for neighbours, box/lasso for a group.

The chart and the panel beside it are one ``st.fragment``: a click or a selection reruns only them.
While a new map is computed the previous one stays on screen (in the same palette); images added to a set
appear at once beside their look-alikes on the existing layout, which t-SNE then refines, animating.
The parts are functions of the record in ui/map_view.py.
"""

from __future__ import annotations

import streamlit as st

from ui import map_search, map_view, state
from ui.current import current_set, describe

st.markdown("## Map of feature space")
caption_box = st.container()
controls_box = st.container()
# The previous map while the new one loads, then t-SNE's frames: in the map's own column, at its size, so
# nothing jumps when the finished map (drawn by map_and_panel in the same layout) takes its place.
stage = st.columns([3, 2], gap="medium")[0].empty()

map_view.show_previous_map(stage)
ws = current_set()
if ws is None:
    stage.empty()
    st.stop()
caption_box.caption(f"{describe(ws)} ({ws.vectors.shape[1]:,} numbers per image). Each dot is one image; images "
                    "the embedder finds similar land close together. **Click a dot** to see the image and its "
                    "nearest neighbours; **drag a box or lasso** (toolbar, top right of the map) to see a group.")
with controls_box:
    chosen = map_view.controls(ws)
    rings = map_search.search_panel(ws)  # text search: the rows it found are ringed on the map
state.set_map_settings(chosen.settings)  # the Export page exports this map
proj = map_view.projection(ws, chosen.settings, stage)
# The measures come after the chart (so the map shows first) unless the overlay needs them.
measured = map_view.measures(ws, proj, chosen.k) if chosen.show == "kept" else None
kept = measured[0].neighbours_kept if measured is not None and measured[0] is not None else None
map_view.map_and_panel(ws, proj, chosen.show, chosen.k, kept, tuple(rings))
stage.empty()  # only now: the finished map is on screen below, so there is no moment without a map
map_view.excluded(ws, proj)
measured = map_view.measures(ws, proj, chosen.k)
if measured is None:
    map_view.explain(ws, proj, None, None)
    map_view.measures_pending(ws, proj, chosen.k)
else:
    map_view.explain(ws, proj, measured[0], measured[1])
