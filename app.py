"""Feature Space Explorer: see how an image model "sees" a tagged image set. Run: streamlit run app.py"""

import streamlit as st

from ui import sidebar

st.set_page_config(page_title="Feature Space Explorer", page_icon="🖐", layout="wide")

# One line per page; the first is the default. Story pages (issue 5) add their lines here.
PAGES = [
    st.Page("ui/pages/map.py", title="Map", icon="🗺️", default=True),
    st.Page("ui/pages/distances.py", title="Distances", icon="📏"),
    st.Page("ui/pages/pair.py", title="Pair inspector", icon="🔍"),
]

page = st.navigation(PAGES)
sidebar.draw()
page.run()
