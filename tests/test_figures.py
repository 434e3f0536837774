"""Tests for explorer.figures: shapes, click mapping, escaping, caps, on synthetic arrays."""

from __future__ import annotations

import io
import json

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from explorer import figures

HOSTILE = "<img src=x onerror=alert(1)>$x^2$.jpg"


def _coords(n, d=2, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


def _jpeg(color=(200, 10, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "JPEG")
    return buf.getvalue()


def _all_text(fig: go.Figure) -> str:
    return fig.to_json()


def test_escape_text_neutralises_html_and_math_mode():
    out = figures.escape_text(HOSTILE)
    assert "<" not in out and ">" not in out and "$" not in out
    assert out.count("&#36;") == 2 and "&lt;img" in out


def test_map_one_trace_per_tag_with_row_indices_as_customdata():
    tags = ["a", "b", "a", "c", "b"]
    fig = figures.map_figure(_coords(5), tags=tags, sources=[f"f{i}" for i in range(5)])
    assert [t.name for t in fig.data] == ["a", "b", "c"]
    rows = {t.name: list(t.customdata) for t in fig.data}
    assert rows == {"a": [0, 2], "b": [1, 4], "c": [3]}
    assert all(isinstance(t, go.Scatter) for t in fig.data)


def test_map_switches_to_webgl_for_large_sets_and_3d():
    n = figures.WEBGL_THRESHOLD + 1
    big = figures.map_figure(_coords(n), tags=["t"] * n, sources=["s"] * n)
    assert isinstance(big.data[0], go.Scattergl)
    three = figures.map_figure(_coords(4, 3), tags=list("abab"), sources=list("wxyz"))
    assert isinstance(three.data[0], go.Scatter3d) and list(three.data[0].z) == list(_coords(4, 3)[[0, 2], 2])


def test_map_leaves_out_nan_rows():
    coords = _coords(4)
    coords[1] = np.nan
    fig = figures.map_figure(coords, tags=["a"] * 4, sources=list("wxyz"))
    assert list(fig.data[0].customdata) == [0, 2, 3]


def test_map_hover_escapes_user_strings():
    fig = figures.map_figure(_coords(2), tags=[HOSTILE, "ok"], sources=[HOSTILE, "b.png"])
    text = _all_text(fig)
    assert "<img" not in text and "$x" not in text
    assert "&lt;img" in fig.data[0].text[0]


def test_map_values_overlay_is_continuous_and_checked():
    values = np.array([0.0, 0.5, 1.0])
    fig = figures.map_figure(_coords(3), tags=list("abc"), sources=list("xyz"), values=values, value_name="kept")
    assert len(fig.data) == 1 and list(fig.data[0].marker.color) == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="values"):
        figures.map_figure(_coords(3), tags=list("abc"), sources=list("xyz"), values=np.zeros(2))


def test_map_highlight_and_focus_traces_point_at_the_right_rows():
    fig = figures.map_figure(_coords(6), tags=["a"] * 6, sources=list("uvwxyz"), highlight=[1, 4], focus=2)
    by_name = {t.name: list(t.customdata) for t in fig.data}
    assert by_name["neighbours"] == [1, 4] and by_name["selected image"] == [2]


def test_map_rejects_bad_shapes():
    with pytest.raises(ValueError, match="coords"):
        figures.map_figure(np.zeros((3, 4)), tags=list("abc"), sources=list("abc"))
    with pytest.raises(ValueError, match="sources"):
        figures.map_figure(np.zeros((3, 2)), tags=list("abc"), sources=list("ab"))


def test_images_figure_places_every_image_at_its_point():
    coords = np.array([[0.0, 0.0], [1.0, 2.0], [3.0, -1.0]])
    uri = figures.thumbnail_data_uri(_jpeg())
    fig, note = figures.images_figure(coords, [uri] * 3, tags=list("aab"), sources=list("xyz"))
    assert note == ""
    assert [(im.x, im.y) for im in fig.layout.images] == [(0.0, 0.0), (1.0, 2.0), (3.0, -1.0)]
    assert fig.layout.images[0].source.startswith("data:image/jpeg;base64,")
    assert fig.layout.images[0].xref == "x"


def test_images_figure_caps_with_a_message():
    n = 50
    fig, note = figures.images_figure(_coords(n), ["data:image/jpeg;base64,AA"] * n, tags=["a"] * n,
                                      sources=["s"] * n, max_images=10)
    assert len(fig.layout.images) == 10 and "10 of 50" in note
    # every point is still clickable as a dot
    assert sum(len(t.customdata) for t in fig.data) == n


def test_images_figure_refuses_3d():
    with pytest.raises(ValueError, match="2D"):
        figures.images_figure(_coords(2, 3), ["u", "u"], tags=["a", "b"], sources=["x", "y"])


def test_order_by_tag_groups_in_first_seen_order():
    assert list(figures.order_by_tag(["b", "a", "b", "c", "a"])) == [0, 2, 1, 4, 3]


def test_similarity_heatmap_labels_unique_and_escaped():
    tags = ["a", "a", HOSTILE]
    sim = np.eye(3, dtype=np.float32)
    fig = figures.similarity_heatmap(sim, tags=tags, sources=["x", "x", "y"])
    labels = list(fig.data[0].x)
    assert len(set(labels)) == 3
    assert "<img" not in _all_text(fig)
    assert list(fig.layout.xaxis.ticktext) == ["a", figures.escape_text(HOSTILE)]
    with pytest.raises(ValueError, match="similarity"):
        figures.similarity_heatmap(np.eye(2), tags=tags, sources=["x"] * 3)


def test_tag_similarity_and_histograms():
    fig = figures.tag_similarity_figure(np.array([[0.9, 0.2], [0.2, 0.8]]), ["p", "q"])
    assert list(fig.data[0].x) == ["p", "q"] and fig.data[0].z[0][1] == pytest.approx(0.2)
    hist = figures.distance_histograms(np.array([0.1, 0.2]), np.array([0.5, 0.7, 0.9]))
    assert [t.name for t in hist.data] == ["same tag (2 pairs)", "different tags (3 pairs)"]
    with pytest.raises(ValueError, match="no distances"):
        figures.distance_histograms(np.array([]), np.array([]))


def test_contribution_bars_sorted_by_magnitude():
    contrib = np.array([0.1, -0.5, 0.3, 0.0])
    fig = figures.contribution_bars(contrib, top=3)
    assert list(fig.data[0].x) == ["dim 1", "dim 2", "dim 0"]
    assert list(fig.data[0].y) == [-0.5, 0.3, 0.1]


def test_pixel_contribution_is_symmetric_around_zero():
    grid = np.array([[0.2, -0.1], [0.0, 0.05]])
    fig = figures.pixel_contribution_figure(grid)
    assert fig.data[0].zmin == -0.2 and fig.data[0].zmax == 0.2
    with pytest.raises(ValueError, match="2-D"):
        figures.pixel_contribution_figure(np.zeros(4))


def test_figures_serialise_to_json():
    fig = figures.map_figure(_coords(3), tags=list("abc"), sources=list("xyz"))
    assert json.loads(fig.to_json())["data"][0]["type"] == "scatter"
