"""Positive and negative pairs: an anchor, its positives and hardest negatives, augmented twins on the map."""

from __future__ import annotations

import streamlit as st

from ui import pairs_view
from ui.current import current_set

st.markdown("## Positive and negative pairs")
ws = current_set()
if ws is None:
    st.stop()
st.caption("Contrastive learning pulls *positive pairs* together and pushes *negatives* apart. Positives here: "
           "images with the same tag, and each image with its augmented twin (cropped, flipped, rotated, "
           "recoloured, blurred). Hard negatives: images with a different tag that sit closest.")

pairs_view.anchor_section(ws)
pairs_view.twins_section(ws)
