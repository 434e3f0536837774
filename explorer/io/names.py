"""Text from anyone's files made safe to show and to write: file names and tags for the screen, CSV cells for
spreadsheets. The one place for both (every reader, writer and page uses these)."""

from __future__ import annotations

import unicodedata

_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def display_name(name: str | bytes, *, max_length: int = 200) -> str:
    """A file name made safe to show: undecodable bytes, control and bidi characters become U+FFFD."""
    if isinstance(name, bytes):
        text = name.decode("utf-8", "replace")
    else:
        text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = "".join("\ufffd" if unicodedata.category(ch) in _INVISIBLE else ch for ch in text)
    return text if len(text) <= max_length else text[: max_length - 1] + "\u2026"


# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A cell made inert for spreadsheets: a leading formula character gets a ``'`` in front, except in a
    plain number ("-0.5" stays a number; "-2+3", "=1" and a leading tab or CR are quoted)."""
    text = str(value)
    if not text.startswith(FORMULA_PREFIXES):
        return text
    if text[0] in "+-" and text[1:2] not in ("", "\t", "\r"):
        try:
            float(text)
            return text
        except ValueError:
            pass
    return "'" + text
