"""ui.map_component: what travels to the browser on a click (overlays only) and how its events are read."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest

from ui import map_component as mc


def test_plotly_js_comes_from_the_installed_plotly_package():
    source = mc.plotly_source()
    assert len(source) > 1_000_000 and "plotly.js" in source[:200]
    assert "cdn." not in source[:2000]  # the bundle itself, not a loader that fetches it


def test_layer_carries_rows_positions_escaped_text_and_optional_z_and_colours():
    coords = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]], dtype=np.float32)
    layer = mc.layer(coords, [2, 0], ["&lt;b&gt;two", "zero"], ["#111", "#222"]).to_json()
    assert layer == {"x": [6.0, 0.0], "y": [7.0, 1.0], "z": [8.0, 2.0], "rows": [2, 0],
                     "text": ["&lt;b&gt;two", "zero"], "color": ["#111", "#222"]}
    flat = mc.layer(coords[:, :2], [], []).to_json()
    assert flat == {"x": [], "y": [], "rows": [], "text": []}


def test_a_click_sends_only_the_overlay_not_the_figure():
    coords = np.random.default_rng(0).normal(size=(100_000, 2))
    overlay = mc.Overlay(focus=mc.layer(coords, [5], ["five"]), ring=mc.layer(coords, range(10, 20), ["n"] * 10))
    payload = {"map_id": "m", "dims": 2, "large": False, "overlay": overlay.to_json(), "config": {}}
    assert mc.json_size(payload) < 5_000  # vs ~10 MB for the figure of 100,000 points
    assert set(overlay.to_json()) == {"focus", "ring"}


def test_events_are_read_defensively():
    ev = mc._event({"click": {"row": 7, "seq": 1}, "select": None, "view": None, "need": None})
    assert ev.click == 7 and ev.select is None and ev.need is None
    assert mc._event({"click": {"row": "7"}}).click is None       # not an int: no click
    assert mc._event({"click": {"row": True}}).click is None
    assert mc._event({"need": {"what": "figure", "map_id": "m"}}).need == "figure"
    sel = mc._event({"select": {"box": {"x": [0, 1], "y": [0, 1]}, "rows": []}}).select
    assert sel["box"] == {"x": [0, 1], "y": [0, 1]}
    assert mc._event({"select": "garbage"}).select is None
    assert mc._event(None).click is None


@pytest.mark.parametrize("view, expected", [
    ({"x": [1, 0], "y": [2, 3]}, ((0.0, 1.0), (2.0, 3.0))),
    ({"x": None, "y": None}, None),
    ({"x": [0, 0], "y": [1, 2]}, None),
    ({"x": ["a", 1], "y": [1, 2]}, None),
    ({"x": [0, float("inf")], "y": [1, 2]}, None),
    (None, None),
])
def test_view_ranges_are_validated(view, expected):
    assert mc.view_ranges(view) == expected


def test_figure_json_is_what_plotly_js_reads():
    fig = go.Figure(go.Scattergl(x=np.arange(5.0), y=np.arange(5.0), customdata=np.arange(5)))
    spec = json.loads(mc.figure_json(fig))
    assert spec["data"][0]["type"] == "scattergl" and "layout" in spec
