"""The Streamlit layer: the shared sidebar, the cached workspace, and one file per page in ui/pages/."""
