"""Train a contrastive head live, see the map before and after, and ask a tiny image-text model for a phrase."""

from __future__ import annotations

import streamlit as st

from ui import contrastive_view
from ui.current import current_set
from ui.state import chosen_tags

st.markdown("## A contrastive head, trained live")
ws = current_set()
if ws is None:
    st.stop()
if len(set(chosen_tags(ws))) < 2:
    st.warning("Training needs at least two tags.")
    st.stop()
st.caption("A small projection head on top of the embedder's vectors, trained here in numpy with a supervised "
           "contrastive loss (same tag = positive). 30 % of the images are held out and never trained on; the "
           "numbers below are measured on them only.")

contrastive_view.head_section(ws)
contrastive_view.text_section(ws)
contrastive_view.zero_shot_section(ws)
contrastive_view.blend_section(ws)
