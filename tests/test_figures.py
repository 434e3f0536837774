"""Tests for explorer.figures: shapes, click mapping, escaping, caps, on synthetic arrays."""

from __future__ import annotations

import io
import json

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from explorer import figures
from explorer.story import figures as story_figures

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


# ---------------------------------------------------------------------------------------- honest colour scales

def _blocks(n_per=4, within=0.62, between=0.60, seed=0):
    """A similarity matrix of three tags whose blocks differ by only ``within - between``."""
    rng = np.random.default_rng(seed)
    tags = [t for t in ("a", "b", "c") for _ in range(n_per)]
    same = np.equal.outer(tags, tags)
    S = np.where(same, within, between) + rng.normal(0, 0.002, (len(tags),) * 2)
    S = (S + S.T) / 2
    np.fill_diagonal(S, 1.0)
    return S, tags


def test_similarity_heatmap_is_centred_on_the_mean_different_tag_similarity_with_its_range_labelled():
    S, tags = _blocks()
    fig = figures.similarity_heatmap(S, tags=tags, sources=[f"f{i}" for i in range(len(tags))])
    trace = fig.data[0]
    ref = figures.different_tag_mean(S, tags)
    assert ref == pytest.approx(0.60, abs=0.002)
    assert trace.zmid == pytest.approx(ref)
    assert trace.zmax - ref == pytest.approx(ref - trace.zmin)
    assert f"white = {ref:.3f}" in trace.colorbar.title.text and trace.colorbar.title.side == "right"
    assert list(trace.colorbar.tickvals) == pytest.approx([trace.zmin, ref, trace.zmax])
    assert max(len(x) for x in trace.colorbar.ticktext) <= 6  # bare numbers: long tick labels squeeze the plot


def test_a_tiny_difference_is_drawn_faint_and_the_note_says_so():
    S, tags = _blocks(within=0.607, between=0.600)
    upper = S[np.triu_indices(len(S), k=1)]
    scale = figures.centred_scale(upper, figures.different_tag_mean(S, tags), reference_name="mean different-tag")
    assert scale.spread < 0.02 and scale.half == pytest.approx(0.05)  # not stretched to the 0.007 difference
    assert "reach only" in scale.note() and f"{scale.bounds[0]:.3f} to {scale.bounds[1]:.3f}" in scale.note()
    wide = figures.centred_scale(np.array([0.0, 0.9]), 0.5, reference_name="x")
    assert wide.half == pytest.approx(0.498) and "reach only" not in wide.note()  # 98th percentile of |0.4|, |0.5|


def test_tag_matrices_share_the_scale_they_are_given_and_follow_the_order():
    means = np.array([[0.62, 0.60, 0.61], [0.60, 0.63, 0.60], [0.61, 0.60, 0.62]])
    scale = figures.CentredScale(0.60, 0.1, 0.02, "mean different-tag similarity", 0.05)
    fig = figures.tag_similarity_figure(means, ["a", "b", "c"], scale=scale, order=[1, 0, 2])
    trace = fig.data[0]
    assert (trace.zmin, trace.zmax) == pytest.approx(scale.bounds)
    assert list(trace.x) == ["b", "a", "c"] and trace.z[0][0] == pytest.approx(0.63)
    assert trace.text[0][1] == "0.600" and trace.textfont.size >= 14
    with pytest.raises(ValueError, match="permutation"):
        figures.tag_similarity_figure(means, ["a", "b", "c"], order=[0, 0, 1])


def test_without_a_given_scale_a_tag_matrix_states_its_data_range():
    fig = figures.tag_similarity_figure(np.array([[0.500, 0.486], [0.486, 0.499]]), ["p", "q"])
    assert "0.486" in fig.data[0].colorbar.title.text and "0.500" in fig.data[0].colorbar.title.text


def test_cell_values_are_written_only_while_cells_can_hold_them():
    tags = ["open palm", "call me", "rock", "fist", "point", "ok", "peace", "thumbs up", "star", "key", "leaf",
            "car", "ball", "cup"]
    means = np.full((14, 14), 0.747)
    half = figures.tag_similarity_figure(means, tags, width=figures.HALF_COLUMN_PX)
    full = figures.tag_similarity_figure(means, tags, width=figures.FULL_COLUMN_PX)
    small = figures.tag_similarity_figure(np.eye(3), ["a", "b", "c"], width=figures.HALF_COLUMN_PX)
    # 14 tags in half a 1280-px page: cells of about 14 px cannot hold "0.747"; hover gives it instead.
    assert half.data[0].texttemplate is None and "%{z:.3f}" in half.data[0].hovertemplate
    for fig in (full, small):
        trace = fig.data[0]
        assert trace.texttemplate == "%{text}" and trace.textfont.size >= figures.MIN_TEXT_PX
        # the widest value, at the size it is drawn, fits inside its cell with room to spare
        assert figures.text_px("0.747", trace.textfont.size) + figures.CELL_PAD_PX <= trace.meta["cell_px"]
    assert half.data[0].meta["cell_px"] < figures.text_px("0.747", figures.MIN_TEXT_PX)
    assert half.layout.height >= 30 * 14  # rows stay tall enough for readable labels


def test_text_width_estimate_is_a_little_above_what_the_browser_measures():
    # Chromium, UI font at 14 px: "0.754" 31.4 px, "32%" 25.9 px, "3%" 19.0 px; tag names at 12 px <= 0.5 em.
    for text, size, measured in (("0.754", 14, 31.4), ("32%", 14, 25.9), ("3%", 14, 19.0), ("thumbs up", 12, 54)):
        assert measured <= figures.text_px(text, size) <= 1.25 * measured
    assert figures.text_px("<span style='color:#123456'>■</span> a&amp;b", 10) == pytest.approx(
        figures.text_px("■ a&b", 10))


def test_matrix_column_labels_turn_upright_then_give_way_when_columns_narrow():
    names = [f"tag{i}" for i in range(34)]
    wide = figures.matrix_fit(5, names[:5], ["10%"], width=figures.FULL_COLUMN_PX, colorbar_px=80)
    narrow = figures.matrix_fit(34, names, ["10%"], width=figures.FULL_COLUMN_PX, colorbar_px=80)
    cramped = figures.matrix_fit(30, names[:30], ["10%"], width=figures.HALF_COLUMN_PX, colorbar_px=80)
    assert (wide.x_angle, narrow.x_angle, cramped.x_angle) == (-45, -90, None)
    assert wide.text_size == figures.CHART_TEXT_PX and cramped.text_size == 0
    fig = figures.tag_similarity_figure(np.eye(30), names[:30], width=figures.HALF_COLUMN_PX)
    assert fig.layout.xaxis.showticklabels is False and "same order as the rows" in fig.layout.xaxis.title.text


def test_matrix_colour_bars_run_their_title_along_the_bar_clear_of_the_tick_labels():
    conf = story_figures.confusion_figure(np.eye(3), ["a", "b", "c"])
    sim = figures.tag_similarity_figure(np.eye(3), ["a", "b", "c"])
    for fig in (conf, sim):
        assert fig.data[0].colorbar.title.side == "right"


def test_related_order_keeps_groups_together_and_clusters_within():
    # items 0, 2, 4 are alike, and 1, 3, 5 are alike
    cluster = np.array([0, 1, 0, 1, 0, 1])
    sim = np.where(np.equal.outer(cluster, cluster), 0.9, 0.1)
    order = figures.related_order(sim)
    first = {int(cluster[i]) for i in order[:3]}
    assert len(first) == 1  # one whole cluster, then the other
    groups = ["obj", "hand", "obj", "hand", "obj", "hand"]
    grouped = figures.related_order(sim, groups, group_order=["hand", "obj"])
    assert [groups[i] for i in grouped] == ["hand"] * 3 + ["obj"] * 3


def test_group_boundaries_are_drawn_between_groups():
    fig = figures.tag_similarity_figure(np.eye(4), list("abcd"), groups=["h", "h", "o", "o"])
    assert len(fig.layout.shapes) == 2 and fig.layout.shapes[0].x0 == pytest.approx(1.5)


def test_map_leaves_room_for_the_toolbar_and_keeps_its_plot_area_with_or_without_a_title():
    plain = figures.map_figure(_coords(4), tags=list("abab"), sources=list("wxyz"))
    titled = figures.map_figure(_coords(4), tags=list("abab"), sources=list("wxyz"), title="t-SNE optimising…")
    assert plain.layout.margin.t >= 40  # Plotly's toolbar sits in the top margin, not over the legend
    assert plain.layout.margin == titled.layout.margin and plain.layout.legend.y == titled.layout.legend.y == 1.0


def test_a_click_neither_grows_the_legend_nor_rescales_the_map():
    coords = np.array([[0.0, 0.0], [1.0, 0.5], [2.0, 4.0], [3.0, 1.0], [np.nan, 0.0]])
    kw = dict(tags=list("ababa"), sources=list("vwxyz"))
    before = figures.map_figure(coords, **kw)
    after = figures.map_figure(coords, **kw, focus=2, highlight=[0, 3])  # the extreme point is clicked
    legend = [[t.name for t in fig.data if t.showlegend is not False] for fig in (before, after)]
    assert legend[0] == legend[1] == ["a", "b"]
    assert len(after.data) == len(before.data) + 2  # the ring and the diamond are drawn, outside the legend
    for axis in ("xaxis", "yaxis"):
        assert before.layout[axis].range == after.layout[axis].range  # fixed, not autoranged
    x0, x1 = before.layout.xaxis.range
    y0, y1 = before.layout.yaxis.range
    assert x0 < 0 and x1 > 3 and y0 < 0 and y1 > 4  # every finite point inside, with a margin
    cube = figures.map_figure(np.c_[coords, coords[:, 0]], **kw)
    assert cube.layout.scene.zaxis.range == pytest.approx(before.layout.xaxis.range)


def test_a_value_coloured_map_keeps_its_legend_and_colour_bar_apart():
    coords = _coords(6)
    values = np.array([0.1, 0.5, np.nan, 0.9, 0.3, 0.7])
    fig = figures.map_figure(coords, tags=list("aabbab"), sources=list("uvwxyz"), values=values,
                             value_name="neighbours kept", focus=1, highlight=[0])
    bar = next(t for t in fig.data if t.marker.colorbar.title.text).marker.colorbar
    legend = fig.layout.legend
    # the bar stands right of the plot (x >= 1), its title turned along it; the legend lies under the plot
    assert bar.x >= 1 and bar.xanchor == "left" and bar.title.side == "right"
    assert legend.orientation == "h" and legend.y <= 0 and legend.yanchor == "top"
    assert [t.name for t in fig.data if t.showlegend is not False] == ["no value"]


def test_the_histogram_legend_stands_above_the_peaks():
    fig = figures.distance_histograms(np.array([0.1, 0.2, 0.2]), np.array([0.5, 0.6]))
    assert fig.layout.legend.y >= 1 and fig.layout.legend.yanchor == "bottom"


def test_contribution_bar_labels_are_turned_so_twenty_fit_half_a_page():
    fig = figures.contribution_bars(np.linspace(1, 0, 40), top=20)
    assert len(fig.data[0].x) == 20 and fig.layout.xaxis.tickangle == -45
