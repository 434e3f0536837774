"""Feature Space Explorer core: load tagged image sets, embed them, measure and project feature space.

This package never imports streamlit; the app in ``app.py``/``ui/`` is a thin layer on top of it.
"""

__version__ = "0.1.0"
