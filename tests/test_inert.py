"""Issue 13: user text stays inert — no autolinks, no bidi reversal, quotes as quotes, no terminal escapes
or spreadsheet formulas from the command line."""

from __future__ import annotations

import csv
import io
import re

import numpy as np

from explorer import cli, figures
from explorer.io.sources import csv_cell
from ui.safe import WORD_JOINER, md, plain

LINKY = 'see www.evil.com, https://evil.com/x or me@evil.com "now"'
# GFM's autolink-literal triggers: a "www." prefix, a scheme's "://", an address around "@".
AUTOLINK = re.compile(r"www\\?\.|https?\\?:|\w@\w")


def test_md_breaks_every_autolink_but_shows_the_same_characters():
    out = md(LINKY)
    assert AUTOLINK.search(LINKY) and not AUTOLINK.search(out)
    # what remains after Markdown drops the escapes and the invisible joiners is the text as typed
    assert re.sub(r"\\(.)", r"\1", out).replace(WORD_JOINER, "") == LINKY


def test_bidi_controls_never_reach_the_page():
    tag = "abc\u202egnp.exe"
    assert "\u202e" not in md(tag) and "\u202e" not in plain(tag)
    assert plain(tag) == "abc\ufffdgnp.exe"


def test_plotly_text_keeps_quotes_as_quotes_and_escapes_markup():
    assert figures.escape_text('say "hi" it\'s') == 'say "hi" it\'s'
    assert figures.escape_text("<b>$x$</b>") == "&lt;b&gt;&#36;x&#36;&lt;/b&gt;"
    fig = figures.map_figure(np.eye(3, 2), tags=['a "q"', "b", "b"], sources=["x", "y", "z"])
    assert [t.name for t in fig.data] == ['a "q"', "b"]


def test_csv_cell_defuses_formula_prefixes_only():
    for text in ("=HYPERLINK(1)", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx", "\t1", "-", "+"):
        assert csv_cell(text) == "'" + text
    for text in ("open hand", "", "-0.5", "+1", "-2e3"):  # plain numbers stay numbers
        assert csv_cell(text) == text


def _hostile_npz(path):
    tags = np.array(["\x1b]0;pwned\x07evil", "=HYPERLINK(\"http://x\")", "ok", "\x1b[2Jclear"])
    np.savez(path, ids=np.array(["a", "b", "c", "d"]), sources=np.array(["a.png", "+b.png", "c.png", "d.png"]),
             tags=tags, vectors=np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32))
    return path


def test_cli_prints_no_terminal_escapes_from_npz_strings(tmp_path, capsys):
    path = _hostile_npz(tmp_path / "v.npz")
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "\ufffd]0;pwned\ufffdevil" in out  # shown, neutralised


def test_cli_map_csv_has_no_formula_cells(tmp_path, capsys):
    path = _hostile_npz(tmp_path / "v.npz")
    out = tmp_path / "map.csv"
    assert cli.main(["map", str(path), "--method", "pca", "--out", str(out)]) == 0
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    cells = [c for row in rows[1:] for c in row[:3]]
    assert "'=HYPERLINK(\"http://x\")" in cells and "'+b.png" in cells
    assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for c in cells)
    assert not any("\x1b" in c for c in cells)
