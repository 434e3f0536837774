"""Make user strings (file names, tags, manifest values) inert before they reach Markdown or HTML.

``st.markdown`` renders Markdown (links, images that would fetch a URL, ``$...$`` math), so every user
string shown through it goes through :func:`md` first; plain widgets (``st.text``, captions of
``st.image``, dataframes) render text as text and need nothing.
"""

from __future__ import annotations

import html
import re

# Everything Markdown (and Streamlit's extensions: math, colour/emoji directives) treats as syntax.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:$^=<>&\"'])")


def md(value: object, *, max_length: int = 120) -> str:
    """A user string made safe to embed in Markdown: truncated, HTML-escaped, syntax backslash-escaped."""
    text = str(value)
    text = "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in text)
    if len(text) > max_length:
        text = text[: max_length - 1] + "…"
    return _MD_SPECIAL.sub(r"\\\1", text)


def plain(value: object, *, max_length: int = 120) -> str:
    """A user string for widgets that render plain text (captions, labels): printable and bounded."""
    text = "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in str(value))
    return text if len(text) <= max_length else text[: max_length - 1] + "…"


def attr(value: object) -> str:
    """A user string for an HTML attribute or text node (used only with our own fixed markup)."""
    return html.escape(str(value), quote=True)
