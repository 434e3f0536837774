"""Why hands smear: separation per tag, which tags smear together, fewer configurations, hands vs objects."""

from __future__ import annotations

import streamlit as st

from ui import smear_view
from ui.current import current_set
from ui.state import chosen_tags

st.markdown("## Why hands smear")
ws = current_set()
if ws is None:
    st.stop()
if len(set(chosen_tags(ws))) < 2:
    st.warning("Separation needs at least two tags.")
    st.stop()
st.caption("A generator draws what its feature space can tell apart. If the vectors of different hand "
           "configurations sit on top of each other, the model has no way to keep them apart: they *smear*. "
           "These numbers show how well each tag stands apart with the current embedder.")

k = st.slider("Neighbours (k)", 3, 30, 10, key="smear_k")
smear_view.measures_section(ws, k)
smear_view.restrict_section(ws, k)
smear_view.groups_section(ws, k)
smear_view.real_photos_section(k)
