"""The Streamlit layer: the shared sidebar, the current set (ui.current), and one file per page in ui/pages/."""
