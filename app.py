"""Feature Space Explorer: see how an image model "sees" a tagged image set. Run: streamlit run app.py"""

import streamlit as st

from ui import hosts, map_component, sidebar, status, upload_budget

st.set_page_config(page_title="Feature Space Explorer", layout="wide")
hosts.stop_unless_allowed()  # allowedHosts with ports honoured (Streamlit itself ignores them)
upload_budget.install()  # files waiting in uploaders bounded per session and per server as they arrive

# One line per page; the first is the default. Story pages (issue 5) add their lines here.
# No page_icon/icon=: Streamlit turns them into a favicon fetched from a CDN, and the app must work offline.
PAGES = [
    st.Page("ui/pages/map.py", title="Map", default=True),
    st.Page("ui/pages/distances.py", title="Distances"),
    st.Page("ui/pages/pair.py", title="Pair inspector"),
    st.Page("ui/pages/pairs.py", title="Positive & negative pairs"),
    st.Page("ui/pages/contrastive.py", title="Contrastive head"),
    st.Page("ui/pages/smear.py", title="Why hands smear"),
    st.Page("ui/pages/presenter.py", title="Presenter mode"),
    st.Page("ui/pages/export.py", title="Export"),
]

page = st.navigation(PAGES)
status.draw_action_area()  # top of the main area: a failed action (in the sidebar too) says why here
if getattr(page, "title", None) == "Map":  # getattr: run bare (a Dask worker re-importing __main__) it has none
    map_component.preload()  # plotly.js travels to the browser while the sidebar loads the set
sidebar.draw()
page.run()
