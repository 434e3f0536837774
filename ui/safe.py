"""Make user strings (file names, tags, manifest values) inert before they reach Markdown or HTML.

In Streamlit 1.67 far more than ``st.markdown`` renders Markdown (links, images that fetch a URL,
``$...$`` math, colour/icon directives): ``st.caption``, ``st.info/warning/error/success``, ``st.toast``,
titles and headers, ``st.image`` captions, the label and ``help=`` of every widget, ``st.expander`` /
``st.status`` / ``st.tabs`` / ``st.metric`` labels, ``st.progress`` text, and the *options* of ``st.radio``
and ``st.select_slider``. Every user string shown through any of those goes through :func:`md` first,
including exception messages (they quote file names, tags and manifest columns).

Plain text, needing nothing: ``st.text``, ``st.code``, ``st.dataframe`` cells and column names, the options
of ``st.selectbox`` / ``st.multiselect`` (and their ``format_func`` output), text-input values.
Plotly figures are escaped separately, by ``explorer.figures.escape_text``.
"""

from __future__ import annotations

import html
import re

# Everything Markdown (and Streamlit's extensions: math, colour/emoji directives) treats as syntax.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:$^=<>&\"'])")
# GitHub-flavoured Markdown turns bare ``http://…``, ``www.…`` and ``name@host`` into links, escaped or
# not. An invisible WORD JOINER (U+2060) before every ``.``, ``:`` and ``@`` breaks each pattern while the
# text shows (and wraps) exactly as typed.
_AUTOLINK_PUNCTUATION = re.compile(r"(\\[.:]|@)")
WORD_JOINER = "\u2060"


def md(value: object, *, max_length: int = 120) -> str:
    """A user string made safe to embed in Markdown: printable, truncated, syntax backslash-escaped.

    Every syntax character (including ``<``, ``&`` and ``$``) gets a backslash, so the string renders as
    literal text, never as HTML, a link, an image or math; a word joiner before ``.``, ``:`` and ``@``
    stops URL, ``www.`` and e-mail autolinks. Control and bidirectional characters (not printable) show
    as U+FFFD, so no name can reverse the text around it.
    """
    text = str(value)
    text = "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in text)
    if len(text) > max_length:
        text = text[: max_length - 1] + "…"
    return _AUTOLINK_PUNCTUATION.sub(WORD_JOINER + r"\1", _MD_SPECIAL.sub(r"\\\1", text))


def plain(value: object, *, max_length: int = 120) -> str:
    """A user string for elements that render plain text (``st.text``, selectbox options): printable, bounded.

    Not for captions or labels: those render Markdown (see the module docstring); use :func:`md`.
    """
    text = "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in str(value))
    return text if len(text) <= max_length else text[: max_length - 1] + "…"


def attr(value: object) -> str:
    """A user string for an HTML attribute or text node (used only with our own fixed markup)."""
    return html.escape(str(value), quote=True)
