"""Text search on the map: a phrase finds images by name, tag or meaning; the page rings what it found.

``search_panel(ws)`` draws the box, the method and the list of matches and returns the rows to ring; the
map page only passes those rows to its figure. The work is ``explorer.story.search``: name, then tag, then
meaning — by ConSE when the set is embedded with efficientnet-lite0 and the pretrained extras are here,
else by an image-text model trained on the set's tags (hashed words: it reports words it does not know).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from explorer.io.cache import EmbeddingCache, default_cache_dir
from explorer.story import search as S
from explorer.story import textmodel
from explorer.story.conse import ConseModel, missing_class_names
from explorer.story.text_encoders import available_text_encoders, get_text_encoder
from explorer.story.zeroshot import image_probabilities
from ui import compute, state
from ui.safe import md

CONSE = "ConSE (nothing trained)"
TRAINED = "trained on the tags"
RESULTS_SHOWN = 10
RING_NAME = "search matches"
RING_COLOUR = "#d6006f"  # magenta: apart from the black neighbour rings and the gold focus


def available_methods(ws: Any) -> list[str]:
    """ConSE when the vectors are efficientnet-lite0's and its class names and a text encoder are installed;
    the trained model always."""
    if ws.embedder_name == "efficientnet-lite0" and not missing_class_names():
        return [CONSE, TRAINED]
    return [TRAINED]


def _trained_model(ws: Any) -> textmodel.ImageTextModel:
    def train():
        with st.spinner("Training the image–text projections on this set's tags (hashed words; once per set)"):
            return textmodel.train_on_tags(ws.vectors, state.chosen_tags(ws), seed=0)
    return compute.memo("search_model", (ws.key, state.tag_column(ws)), train)


def _conse(ws: Any) -> tuple[Any, np.ndarray]:
    cache = EmbeddingCache(default_cache_dir())
    text = "minilm" if "minilm" in available_text_encoders() else "hashed"

    def build():
        with st.spinner(f"Reading the ImageNet classes through the {text} text encoder (once)"):
            return ConseModel.build(get_text_encoder(text), cache=cache)
    model = compute.memo("search_conse", text, build)
    probs = compute.memo("search_probs", ws.key, lambda: image_probabilities(ws, cache=cache))
    return model, probs


def run_search(ws: Any, phrase: str, method: str, *, k: int = RESULTS_SHOWN) -> S.SearchResult:
    """Name and tag matches first (no model needed); otherwise meaning by ``method``."""
    names, columns = list(ws.sources), dict(ws.columns)
    found = S.search(phrase, names=names, columns=columns, k=k)
    if found.kind != "unknown":
        return found
    if method == CONSE:
        model, probs = _conse(ws)
        return S.search(phrase, names=names, columns=columns, k=k, conse=model, probs=probs)
    return S.search(phrase, names=names, columns=columns, k=k, model=_trained_model(ws), X=ws.vectors)


def search_panel(ws: Any) -> list[int]:
    """The search box and its results; returns the rows to ring on the map (best first)."""
    methods = available_methods(ws)
    cols = st.columns([3, 2])
    phrase = cols[0].text_input("Search the map", key=state.MAP_SEARCH_KEY, max_chars=80,
                                placeholder="a phrase, an image name or a tag",
                                help="An image's file name or a tag value finds those images; any other text "
                                     "is matched by meaning and the best matches are ringed on the map.")
    method = cols[1].radio("Match meaning with", methods, key=state.MAP_SEARCH_METHOD_KEY, horizontal=True) \
        if len(methods) > 1 else methods[0]
    if not phrase.strip():
        return []
    result = run_search(ws, phrase, method)
    if result.kind == "unknown":
        st.warning(md(result.message, max_length=400))
        return []
    st.caption(md(result.message, max_length=400))
    tags = state.chosen_tags(ws)
    st.dataframe({"image": [ws.sources[i] for i in result.rows], "tag": [tags[i] for i in result.rows],
                  "score": [round(s, 3) for s in result.scores]}, hide_index=True, height=min(400, 38 + 35 * len(result.rows)))
    return list(result.rows)


def ring_matches(fig: go.Figure, coords: np.ndarray, rows: list[int]) -> go.Figure:
    """Add one trace ringing ``rows`` on a map figure (2D or 3D); its ``customdata`` are the rows, so a
    click on a ring focuses that image like a click on its dot. Rows off the map (NaN) are skipped."""
    coords = np.asarray(coords)
    idx = np.array([r for r in rows if 0 <= r < len(coords) and np.isfinite(coords[r]).all()], dtype=np.int64)
    if idx.size == 0:
        return fig
    common = dict(x=coords[idx, 0], y=coords[idx, 1], customdata=idx, mode="markers", name=RING_NAME,
                  hoverinfo="skip", marker=dict(size=20, color="rgba(0,0,0,0)", line=dict(color=RING_COLOUR, width=3)))
    fig.add_trace(go.Scatter3d(z=coords[idx, 2], **common) if coords.shape[1] == 3 else go.Scatter(**common))
    return fig
