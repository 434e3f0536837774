"""The tag palette: perceptually distinct (CIEDE2000), readable on white, stable per tag, families by group."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from explorer import figures, palette

skimage_color = pytest.importorskip("skimage.color")


def lab(colors) -> np.ndarray:
    rgb = np.array([palette.hex_to_rgb(c) for c in colors], dtype=np.float64) / 255
    return skimage_color.rgb2lab(rgb[None])[0]


def min_ciede2000(colors) -> float:
    L = lab(colors)
    return min(float(skimage_color.deltaE_ciede2000(L[i], L[j]))
               for i, j in itertools.combinations(range(len(L)), 2))


def hue_degrees(color: str) -> float:
    _, a, b = lab([color])[0]
    return float(np.degrees(np.arctan2(b, a)) % 360)


def test_ciede2000_helper_matches_a_published_reference_pair():
    # Sharma, Wu & Dalal (2005), test pair 1: Lab(50, 2.6772, -79.7751) vs Lab(50, 0, -82.7485) -> 2.0425
    d = skimage_color.deltaE_ciede2000(np.array([50, 2.6772, -79.7751]), np.array([50, 0, -82.7485]))
    assert d == pytest.approx(2.0425, abs=1e-4)


def test_first_20_tag_colours_in_the_map_figure_are_at_least_15_apart():
    tags = [f"tag {i:02d}" for i in range(26) for _ in range(2)]
    fig = figures.map_figure(np.random.default_rng(0).normal(size=(len(tags), 2)), tags=tags,
                             sources=[f"f{i}" for i in range(len(tags))])
    colours = [trace.marker.color for trace in fig.data][:20]
    assert len(set(colours)) == 20
    assert min_ciede2000(colours) >= 15.0


def test_all_30_colours_are_distinct_and_readable_on_white():
    assert len(palette.PALETTE) == 30 == len(set(palette.PALETTE))
    assert min_ciede2000(palette.PALETTE) >= 15.0
    assert min(palette.contrast_on_white(c) for c in palette.PALETTE) >= 3.0


def test_hands_and_objects_get_warm_and_cool_families_still_15_apart():
    hands = ["open palm", "fist", "point", "peace", "thumbs up", "ok", "rock", "call me"]
    objects = ["ball", "cup", "key", "leaf", "star", "car"]
    tags = hands + objects
    kinds = ["hand"] * len(hands) + ["object"] * len(objects)
    colours = palette.tag_colors(tags, kinds)
    assert min_ciede2000(list(colours.values())) >= 15.0
    warm = [hue_degrees(colours[t]) for t in hands]
    cool = [hue_degrees(colours[t]) for t in objects]
    # CIELAB hue: reds/oranges/browns lie around 0-90 degrees (pinks just below 360), blues/greens/purples 140-330.
    assert all(h >= 330 or h <= 95 for h in warm), warm
    assert all(140 <= h <= 330 for h in cool), cool


def test_a_big_group_overflows_into_unused_colours_never_a_repeat():
    tags = [f"h{i}" for i in range(15)] + ["o1", "o2"]
    colours = palette.tag_colors(tags, ["hand"] * 15 + ["object"] * 2)
    assert len(set(colours.values())) == len(tags)


def test_colours_stay_with_their_tag_in_a_subset_of_rows():
    tags = ["a", "b", "c", "d"] * 3
    colours = palette.tag_colors(tags)
    subset = ["d", "b"]  # first-seen order differs from the whole set's
    fig = figures.map_figure(np.zeros((2, 2)), tags=subset, sources=["x", "y"], colors=colours)
    assert {t.name: t.marker.color for t in fig.data} == {"d": colours["d"], "b": colours["b"]}
    # without the set's colours, a subset would recolour by its own order: the reason pages pass them
    assert palette.tag_colors(subset)["d"] != colours["d"]


def test_grouping_column_finds_a_coarser_partition_only():
    tags = ["fist", "fist", "ball", "cup", "ok"]
    columns = {"tag": tags, "kind": ["hand", "hand", "object", "object", "hand"],
               "photographer": ["x", "y", "x", "y", "x"],  # splits a tag: not a grouping
               "same": tags}
    assert palette.grouping_column(columns, "tag") == "kind"
    assert palette.grouping_column({"tag": tags, "photographer": columns["photographer"]}, "tag") is None
    assert palette.grouping_column({"kind": columns["kind"], "tag": tags}, "kind") is None  # finer, not coarser
