"""No user string (file name, tag, manifest value) reaches Markdown or Plotly's HTML subset unescaped.

Two layers: every page of the app driven through AppTest with an uploaded set whose tags and file names
are hostile (every Markdown-rendering field of every element, and every Plotly spec, is scanned); and the
figure builders called directly with hostile tags, sources, titles and labels.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer import figures

from explorer.story import figures as story_figures

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from ui import paths  # noqa: E402
from ui.render import short_name  # noqa: E402
from ui import state  # noqa: E402
from ui.safe import md  # noqa: E402
from map_helpers import map_data  # noqa: E402
from file_helpers import png_bytes  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 120

TAG_HTML = "<img src=x onerror=alert(1)>"
TAG_IMAGE = "![t](http://example.invalid/t.png)"
TAG_MATH = "$x^2$"
# File names cannot hold "/" (uploads keep the base name), but "http:host" is still a remote URL to a browser.
NAME_LINK = "[click](javascript:alert(1)).png"
NAME_IMAGE = "![f](http:example.invalid).png"
NAME_MIXED = "$a$ <b onmouseover=alert(1)>x.png"
HOSTILE = [TAG_HTML, TAG_IMAGE, TAG_MATH, NAME_LINK, NAME_IMAGE, NAME_MIXED]

# Markdown syntax that must never arrive live: an image (fetches a URL), a link, raw HTML, math mode.
LIVE_MARKDOWN = {
    "image": re.compile(r"(?<!\\)!\["),
    "link": re.compile(r"(?<!\\)\]\("),
    "html": re.compile(r"(?<!\\)<(img|b )", re.IGNORECASE),
    "math": re.compile(r"(?<!\\)\$"),
}
# Proto fields Streamlit renders as Markdown (checked in its docstrings, 1.67): bodies of markdown/caption/
# alerts/headings, every widget and container label, tooltips, st.image captions, progress text, metric
# value/delta. Radio and select_slider options render Markdown too; selectbox/multiselect options do not.
MARKDOWN_FIELDS = {"body", "label", "help", "caption", "text", "delta", "title"}
MARKDOWN_OPTIONS = {"radio", "select_slider"}
PLAIN_ELEMENTS = {"text", "code", "arrow_data_frame", "dataframe", "plotly_chart", "json"}
# Our own markup in Plotly strings; anything else that looks like a tag came from a user.
# Plotly's own markup, and the tag-colour swatch the figure builders put before a tick label (a palette
# colour and a square: no user text inside).
PLOTLY_MARKUP = re.compile(r"</?(b|i|br|extra)>|<span style='color:#[0-9A-Fa-f]{6}'>■</span>")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(paths.ENV_VAR, raising=False)


# ----------------------------------------------------------------------------------------- scanners

def _proto_strings(message, field_names: set[str], out: list[str]) -> None:
    """Every string in ``message`` (recursively) under a field named in ``field_names``."""
    for desc, value in message.ListFields():
        repeated = desc.is_repeated if hasattr(desc, "is_repeated") else desc.label == desc.LABEL_REPEATED
        items = value if repeated else [value]
        for item in items:
            if desc.type == desc.TYPE_MESSAGE:
                _proto_strings(item, field_names, out)
            elif isinstance(item, str) and desc.name in field_names:
                out.append(item)


def _nodes(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def markdown_strings(at: AppTest) -> list[tuple[str, str]]:
    """(element type, string) for every string the browser would render as Markdown."""
    found = []
    for node in _nodes(at._tree):
        proto, kind = getattr(node, "proto", None), getattr(node, "type", "")
        if proto is None or kind in PLAIN_ELEMENTS:
            continue
        fields = MARKDOWN_FIELDS | ({"options"} if kind in MARKDOWN_OPTIONS else set())
        strings: list[str] = []
        _proto_strings(proto, fields, strings)
        found += [(kind, s) for s in strings]
    return found


def live_markdown(strings) -> list[tuple[str, str, str]]:
    return [(kind, name, s) for kind, s in strings for name, rx in LIVE_MARKDOWN.items() if rx.search(s)]


def _json_strings(value, out: list[str]) -> list[str]:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _json_strings(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _json_strings(v, out)
    return out


def unsafe_plotly_strings(spec: dict) -> list[str]:
    """Strings in a figure spec that Plotly would read as user-made HTML or as math (a '$')."""
    return [s for s in _json_strings(spec, []) if "<" in PLOTLY_MARKUP.sub("", s) or "$" in s]


def plotly_specs(at: AppTest) -> list[dict]:
    """The run's Plotly specs: every st.plotly_chart, the map component's figure when this run sent it, and
    its overlays (the hover text of the clicked point, its neighbours, a region, the selection)."""
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    for data in map_data(at):
        if "figure" in data:
            specs.append(json.loads(data["figure"]))
        specs.append({"data": list(data.get("overlay", {}).values())})
    return specs


# ----------------------------------------------------------------------------------------- the app



BATCHES = [
    (TAG_HTML, [NAME_LINK, "a2.png", "a3.png"]),
    (TAG_IMAGE, [NAME_IMAGE, "b2.png", "b3.png"]),
    (TAG_MATH, [NAME_MIXED, "c2.png", "c3.png"]),
]


def _add(at: AppTest, files, tag: str) -> None:
    nonce = at.session_state["fse_uploader_nonce"]
    at.file_uploader(key=f"fse_uploader_{nonce}").set_value(files)
    at.text_input(key="fse_upload_tag").set_value(tag)
    at.run()
    at.button(key="fse_add").click().run()


class Seen:
    """Markdown strings and Plotly specs collected over every run of one AppTest session."""

    def __init__(self, at: AppTest):
        self.at, self.strings, self.specs = at, [], []

    def run(self, label: str) -> None:
        assert not self.at.exception, (label, [e.value for e in self.at.exception])
        self.strings += [(f"{label}/{kind}", s) for kind, s in markdown_strings(self.at)]
        self.specs += [(label, spec) for spec in plotly_specs(self.at)]


@pytest.fixture(scope="module")
def hostile_session():
    """Every page run on an uploaded set with hostile tags and file names; the Seen record."""
    import os
    import tempfile

    cache = tempfile.mkdtemp(prefix="fse-safety-")
    old = os.environ.get("EXPLORER_CACHE_DIR")
    os.environ["EXPLORER_CACHE_DIR"] = cache
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.session_state["fse_kind"] = "upload"  # skip loading the built-in demo first
        at.run()
        seen = Seen(at)
        seed = 0
        for tag, names in BATCHES:
            files = []
            for name in names:
                seed += 1
                files.append((name, png_bytes(seed, (24, 32)), "image/png"))
            _add(at, files, tag)
            seen.run(f"upload {tag}")
        _add(at, [(NAME_IMAGE, b"\x89PNG\r\n\x1a\n broken", "image/png")], TAG_IMAGE)  # refused batch
        seen.run("refused upload")
        at.session_state[state.FOCUS_KEY] = 0
        at.session_state[state.SELECTED_KEY] = list(range(9))
        at.run()
        seen.run("map with focus and selection")
        for page in ("distances", "pair", "pairs", "smear"):
            at.switch_page(f"ui/pages/{page}.py").run()
            seen.run(page)
        at.switch_page("ui/pages/contrastive.py").run()
        at.button(key="head_train").click().run()
        seen.run("contrastive")
        at.switch_page("ui/pages/presenter.py").run()
        seen.run("presenter 1")
        for step in range(2, 8):
            at.button(key="presenter_next").click().run()
            seen.run(f"presenter {step}")
        yield seen
    finally:
        if old is None:
            os.environ.pop("EXPLORER_CACHE_DIR", None)
        else:
            os.environ["EXPLORER_CACHE_DIR"] = old


def test_hostile_set_was_loaded_and_every_page_ran(hostile_session):
    batches = hostile_session.at.session_state[state.BATCHES_KEY]
    tags = [t for b in batches for t in b["images"].tags]
    sources = [s for b in batches for s in b["images"].sources]
    assert sorted(set(tags)) == sorted({TAG_HTML, TAG_IMAGE, TAG_MATH}) and len(tags) == 9
    assert {NAME_LINK, NAME_IMAGE, NAME_MIXED} <= set(sources)
    labels = {label.split("/")[0] for label, _ in hostile_session.strings}
    assert {"distances", "pair", "pairs", "smear", "contrastive", "presenter 7"} <= labels


def test_no_page_renders_a_user_string_as_live_markdown(hostile_session):
    live = live_markdown(hostile_session.strings)
    assert not live, "\n".join(f"{kind} [{name}]: {s!r}" for kind, name, s in live[:20])


def test_hostile_strings_reach_the_page_escaped(hostile_session):
    """The scan is not vacuous: image captions and the refusal message carry the hostile names, escaped."""
    shown = "\n".join(s for _, s in hostile_session.strings)
    for value in (TAG_HTML, TAG_IMAGE, TAG_MATH, NAME_LINK, NAME_MIXED):
        # captions show a long file name cut in the middle (ui.render.short_name): either form, escaped
        assert md(value, max_length=200) in shown or md(short_name(value), max_length=200) in shown, value
    errors = [s for kind, s in hostile_session.strings if kind.startswith("refused upload/")
              and "Nothing could be added" in s]
    assert errors and md(NAME_IMAGE, max_length=200) in errors[0]


def test_no_chart_carries_user_html_or_math(hostile_session):
    assert len(hostile_session.specs) >= 10
    bad = [(label, s) for label, spec in hostile_session.specs for s in unsafe_plotly_strings(spec)]
    assert not bad, bad[:10]
    text = "\n".join(s for _, spec in hostile_session.specs for s in _json_strings(spec, []))
    assert figures.escape_text(TAG_IMAGE) in text and figures.escape_text(NAME_LINK) in text


def test_presenter_bookmark_with_a_hostile_demo_name_is_an_escaped_error():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["fse_kind"] = "upload"
    at.query_params.update(step="1", source=f"demo:{TAG_IMAGE}", embedder="pixels")
    at.run()
    at.switch_page("ui/pages/presenter.py").run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any(md(TAG_IMAGE, max_length=200) in e for e in errors), errors
    assert not live_markdown(markdown_strings(at))


@pytest.mark.parametrize("reported", [{"size": ["<script>x</script>", "1"]}, {"size": [1e300, 900]},
                                      {"size": "1280"}, ["size"], {"size": [10 ** 9, 900]}])
def test_the_presenters_html_gets_the_default_size_from_a_hostile_screen_report(reported):
    from ui.screen import DEFAULT_SIZE

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.session_state[state.SCREEN_KEY] = reported
    at.switch_page("ui/pages/presenter.py").run()
    assert not at.exception, [e.value for e in at.exception]
    marks = [m.value for m in at.markdown if "data-fit=" in m.value]
    assert marks and f"data-fit='{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}'" in marks[0], marks


def test_manifest_errors_quote_column_names_escaped(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    (root / "m.csv").write_text("path,tag\na.png,x\n")
    monkeypatch.setenv(paths.ENV_VAR, str(root))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["fse_kind"] = "server"
    at.run()
    at.text_input(key="fse_server_typed").set_value("m.csv").run()
    at.text_input(key="fse_manifest_col").set_value(TAG_IMAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any(md(TAG_IMAGE, max_length=400) in e for e in errors), errors
    assert not live_markdown(markdown_strings(at))


# ----------------------------------------------------------------------------------------- figures

TAGS = [TAG_HTML, TAG_IMAGE, TAG_MATH] * 3
SOURCES = [NAME_LINK, NAME_IMAGE, NAME_MIXED, "a", "b", "c", "d", "e", "f"]


def _coords(n=9, d=2, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buf, "JPEG")
    return buf.getvalue()


def _per_tag():
    return {t: {"silhouette": 0.1 * i, "knn_agreement": 0.5} for i, t in enumerate(dict.fromkeys(TAGS))}


def _groups():
    return {t: {"silhouette": 0.2, "knn_agreement": 0.6, "chance": 0.3} for t in dict.fromkeys(TAGS)}


BUILDERS = {
    "map 2D": lambda: figures.map_figure(_coords(), tags=TAGS, sources=SOURCES, tag_name=TAG_MATH, title=TAG_IMAGE,
                                         highlight=[1, 2], focus=0),
    "map 3D": lambda: figures.map_figure(_coords(d=3), tags=TAGS, sources=SOURCES, tag_name=TAG_HTML),
    "map webgl values": lambda: figures.map_figure(_coords(), tags=TAGS, sources=SOURCES, webgl=True,
                                                   values=np.linspace(0, 1, 9), value_name=TAG_MATH),
    "images": lambda: figures.images_figure(_coords(), [figures.thumbnail_data_uri(_jpeg())] * 9, tags=TAGS,
                                            sources=SOURCES, tag_name=TAG_IMAGE)[0],
    "similarity heatmap": lambda: figures.similarity_heatmap(np.eye(9), tags=TAGS, sources=SOURCES),
    "tag similarity": lambda: figures.tag_similarity_figure(np.eye(3), list(dict.fromkeys(TAGS))),
    "contribution bars": lambda: figures.contribution_bars(np.arange(9.0), top=9, dim_labels=SOURCES),
    "twin map": lambda: story_figures.twin_map(_coords(), _coords(seed=1), tags=TAGS, sources=SOURCES,
                                               title=TAG_HTML),
    "before/after": lambda: story_figures.before_after_maps(_coords(), _coords(seed=1), tags=TAGS, sources=SOURCES,
                                                            held_out=[0, 4], titles=(TAG_IMAGE, TAG_MATH)),
    "animation": lambda: story_figures.transition_animation(_coords(), _coords(seed=1), tags=TAGS, sources=SOURCES,
                                                            steps=3),
    "per-tag bars": lambda: story_figures.per_tag_bars(_per_tag()),
    "confusion": lambda: story_figures.confusion_figure(np.eye(3), list(dict.fromkeys(TAGS))),
    "groups": lambda: story_figures.group_comparison(_groups()),
    "star map": lambda: story_figures.star_map(_coords(), [0.0, 0.0], tags=TAGS, sources=SOURCES, phrase=TAG_IMAGE,
                                               nearest=[1]),
    "big numbers": lambda: story_figures.big_number_row({TAG_MATH: 0.5, TAG_HTML: None}),
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_figure_builders_escape_every_user_string(name):
    spec = BUILDERS[name]().to_plotly_json()
    strings = _json_strings(spec, [])
    assert not unsafe_plotly_strings(spec), [s for s in strings if s in unsafe_plotly_strings(spec)][:5]
    # No raw copy anywhere, not even inside a longer string. Plotly renders no Markdown, so "![t](...)"
    # is inert there; only strings that escaping changes (HTML, '$') are checked.
    for value in HOSTILE:
        if figures.escape_text(value) != value:
            assert not any(value in s for s in strings), value
    # ...and the hostile strings did reach the figure, escaped (the checks above are not vacuous)
    assert any(figures.escape_text(v) in s for v in (TAG_HTML, TAG_MATH, NAME_MIXED) for s in strings)


def _trace_strings(fig, attr: str) -> list[str]:
    out = []
    for trace in list(fig.data) + [t for frame in fig.frames for t in frame.data]:
        value = getattr(trace, attr, None)
        if value is not None:
            out += _json_strings(list(value) if not isinstance(value, str) else value, [])
    return out


def test_trace_names_hover_texts_and_tick_labels_are_escaped_tag_by_tag():
    tags = list(dict.fromkeys(TAGS))
    escaped = [figures.escape_text(t) for t in tags]
    fig = figures.map_figure(_coords(), tags=TAGS, sources=SOURCES)
    assert [t.name for t in fig.data] == escaped  # legend entries
    hover = _trace_strings(fig, "text")
    assert all(f"<b>{figures.escape_text(s)}</b>" in " ".join(hover) for s in SOURCES)
    anim = story_figures.transition_animation(_coords(), _coords(seed=1), tags=TAGS, sources=SOURCES, steps=2)
    assert {t.name for f in anim.frames for t in f.data} == set(escaped)
    heat = figures.similarity_heatmap(np.eye(9), tags=TAGS, sources=SOURCES)
    assert list(heat.layout.xaxis.ticktext) == [figures.escape_text(t) for t in TAGS]  # one tick per tag block
    assert list(heat.data[0].x) == [f"{i}· {figures.escape_text(s)} ({figures.escape_text(t)})"
                                    for i, (s, t) in enumerate(zip(SOURCES, TAGS))]
    conf = story_figures.confusion_figure(np.eye(3), tags)
    assert list(conf.data[0].x) == escaped and list(conf.data[0].y) == escaped
    bars = story_figures.per_tag_bars(_per_tag())
    assert set(bars.data[0].y) == set(escaped)
    assert all("$" not in s and "<" not in s for s in escaped)
