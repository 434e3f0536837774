"""The five seams of issue 16, each seen the way a visitor meets it (AppTest; only public names that also
existed before the refactor, so each test can be run against the old code and fails there)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("streamlit.testing.v1")
from streamlit.delta_generator import DeltaGenerator  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from explorer import figures  # noqa: E402
from explorer.io import export  # noqa: E402
from ui import paths  # noqa: E402
from ui.state import SELECTED_KEY  # noqa: E402
from map_helpers import map_data, map_specs  # noqa: E402

TIMEOUT = 180
APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(paths.ENV_VAR, raising=False)


def app(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value in {"method": "pca", **params}.items():  # PCA: the map is there at once
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
    parts += [i.value for i in at.info] + [w.value for w in at.warning] + [t.value for t in at.text]
    return "\n".join(str(p) for p in parts)


def png(color) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", (32, 24), color)
    for x in range(0, 32, 5):
        img.putpixel((x, x % 24), (255 - color[0], 255 - color[1], 255 - color[2]))
    img.save(buf, "PNG")
    return buf.getvalue()


def trace_colours(fig) -> dict[str, str]:
    """tag -> marker colour of every per-tag trace of a map figure."""
    return {t.name: t.marker.color for t in fig.data if isinstance(getattr(t.marker, "color", None), str) and t.name}


# ----------------------------------------------------------------------------------------- a. one palette

def test_the_previous_map_keeps_the_palette_of_every_other_map(monkeypatch):
    drawn = []
    original = figures.map_figure

    def recording(*args, **kwargs):
        fig = original(*args, **kwargs)
        drawn.append((str(kwargs.get("title") or ""), trace_colours(fig)))
        return fig

    monkeypatch.setattr(figures, "map_figure", recording)
    at = app()
    drawn.clear()
    at.run()  # the next run shows the previous map first, then the map itself
    assert not at.exception, [e.value for e in at.exception]
    previous = [c for title, c in drawn if title.startswith("Previous map")]
    # The finished map's figure is built once and kept in the browser (ui.map_component): read what was sent.
    final = [c for title, c in drawn if not title.startswith("Previous map")]
    final += [{t["name"]: t["marker"]["color"] for t in spec["data"]
               if isinstance(t.get("marker", {}).get("color"), str) and t.get("name")} for spec in map_specs(at)]
    assert previous and final, [t for t, _ in drawn]
    assert len(previous[0]) >= 10  # demo:hands: one trace per tag
    assert previous[0] == final[-1]  # same tag, same colour: no jump when the new map arrives


# ----------------------------------------------------------------------------------------- b. selection

def _selected_then(at, change) -> None:
    at.session_state[SELECTED_KEY] = list(range(90))
    at.session_state["map_panel"] = "selection"
    at.run()
    assert "90 images selected" in texts(at)
    change(at)
    assert not at.exception, [e.value for e in at.exception]
    still_drawn = "selected" in map_data(at)[-1]["overlay"]  # the map component draws the selection
    counted = "90 images selected" in texts(at)
    # either the map still shows the selection and the panel counts it, or both forgot it and the page said so
    assert (still_drawn and counted) or (not counted and "selection of 90 images was cleared" in texts(at))


def test_a_selection_is_not_counted_after_points_as_changes_unless_drawn():
    _selected_then(app(), lambda at: at.radio(key="map_show").set_value("kept").run())


def test_a_selection_is_not_counted_after_the_colour_column_changes_unless_drawn():
    _selected_then(app(), lambda at: at.selectbox(key="fse_tag_column").set_value("kind").run())


# ----------------------------------------------------------------------------------------- c. vectors named

def test_a_projector_bundle_names_where_its_vectors_come_from(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n = 12
    rows = export.ExportRows(ids=[f"id{i}" for i in range(n)], sources=[f"img {i}.png" for i in range(n)],
                             columns={"tag": ["a" if i % 2 else "b" for i in range(n)]},
                             vectors=rng.normal(size=(n, 5)).astype(np.float32))
    root = tmp_path / "root"
    root.mkdir()
    export.write_projector(root / "bundle", rows)
    monkeypatch.setenv(paths.ENV_VAR, str(root))
    at = app()
    at.radio(key="fse_kind").set_value("npz").run()
    at.selectbox(key="fse_npz_pick").set_value("bundle").run()
    assert not at.exception, [e.value for e in at.exception]
    body = texts(at)
    assert "**12 images**" in body
    assert "embedded with ****" not in body and "embedded with" not in body
    assert "vectors from bundle" in body


# ----------------------------------------------------------------------------------------- d. batch tags

def test_a_tagged_zip_batch_lists_its_tags():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for tag, colour in (("red", (200, 20, 0)), ("blue", (0, 20, 200)), ("green", (20, 200, 0))):
            for i in range(3):
                zf.writestr(f"set/{tag}/{i}.png", png(tuple(min(255, c + 15 * i) for c in colour)))
    at = app()
    at.radio(key="fse_kind").set_value("upload").run()
    nonce = at.session_state["fse_uploader_nonce"]
    at.file_uploader(key=f"fse_uploader_{nonce}").set_value([("set.zip", buf.getvalue(), "application/zip")])
    at.run()
    at.button(key="fse_add").click().run()
    assert not at.exception, [e.value for e in at.exception]
    sidebar = "\n".join([c.value for c in at.sidebar.caption] + [t.value for t in at.sidebar.text])
    assert "9 images · 3 tags" in sidebar
    (line,) = [t.value for t in at.sidebar.text if " image" in t.value]
    assert "untagged" not in line and all(tag in line for tag in ("red", "blue", "green")), line


# ----------------------------------------------------------------------------------------- e. one CSV

def test_the_map_and_export_pages_give_the_same_selection_csv(monkeypatch):
    offered: dict[str, bytes] = {}
    original = DeltaGenerator.download_button

    def recording(self, label, data, *args, **kwargs):
        value = data() if callable(data) else data
        offered[label] = value.encode() if isinstance(value, str) else bytes(value)
        return original(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", recording)
    at = app()
    at.session_state[SELECTED_KEY] = [0, 5, 9]
    at.session_state["map_panel"] = "selection"
    at.run()
    at.switch_page("ui/pages/export.py").run()
    assert not at.exception, [e.value for e in at.exception]
    from_map = list(csv.reader(io.StringIO(offered["Download names (CSV)"].decode("utf-8-sig"))))
    from_export = list(csv.reader(io.StringIO(offered["Selection (CSV)"].decode("utf-8-sig"))))
    assert from_map == from_export
    assert from_map[0][:3] == ["id", "source", "tag"] and len(from_map) == 4
