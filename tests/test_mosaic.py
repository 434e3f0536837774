"""Images-as-points beyond a few hundred: every sprite pasted at its point, with no cap on the count."""

from __future__ import annotations

import numpy as np
import pytest

from explorer import figures
from explorer.mosaic import compose_mosaic, sprite_side


def solid(colours: list[tuple[int, int, int]], size: int = 16) -> np.ndarray:
    return np.stack([np.full((size, size, 3), c, np.uint8) for c in colours])


def pixel_at(mosaic, x: float, y: float) -> np.ndarray:
    """The mosaic's RGBA value at data point (x, y)."""
    (x0, x1), (y0, y1) = mosaic.x_range, mosaic.y_range
    h, w = mosaic.image.shape[:2]
    col = int((x - x0) / (x1 - x0) * w)
    row = int((y1 - y) / (y1 - y0) * h)
    return mosaic.image[min(row, h - 1), min(col, w - 1)]


def test_each_sprite_lands_on_its_point_and_the_rest_is_transparent():
    coords = np.array([[0.0, 0.0], [10.0, 10.0], [10.0, 0.0]])
    mosaic = compose_mosaic(coords, solid([(255, 0, 0), (0, 0, 255), (0, 255, 0)]), canvas_px=400, sprite_px=20)
    assert mosaic.image.shape == (400, 400, 4) and mosaic.drawn == 3
    assert tuple(pixel_at(mosaic, 0, 0)) == (255, 0, 0, 255)
    assert tuple(pixel_at(mosaic, 10, 10)) == (0, 0, 255, 255)
    assert tuple(pixel_at(mosaic, 10, 0)) == (0, 255, 0, 255)
    assert pixel_at(mosaic, 5, 5)[3] == 0  # nothing lies in the middle
    assert pixel_at(mosaic, 0, 10)[3] == 0  # nor in the empty corner


def test_rows_without_coordinates_are_skipped_and_later_rows_draw_on_top():
    coords = np.array([[0.0, 0.0], [np.nan, 1.0], [0.0, 0.0], [4.0, 4.0]])
    mosaic = compose_mosaic(coords, solid([(255, 0, 0), (9, 9, 9), (0, 0, 255), (0, 255, 0)]), canvas_px=200)
    assert mosaic.drawn == 3
    assert tuple(pixel_at(mosaic, 0, 0)[:3]) == (0, 0, 255)
    assert not (mosaic.image[..., :3] == 9).all(axis=-1).any()


def test_far_more_images_than_the_projectors_sprite_cap_are_all_drawn():
    n = 20_000  # the TensorFlow Projector stops at 8,192 sprites
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(n, 2))
    pixels = rng.integers(1, 255, size=(n, 8, 8, 3), dtype=np.uint8)
    mosaic = compose_mosaic(coords, pixels, canvas_px=1000)
    assert mosaic.drawn == n
    assert mosaic.sprite_px == sprite_side(n, 1000) >= 10
    assert (mosaic.image[..., 3] > 0).mean() > 0.2  # the sprites cover a good part of the canvas


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="coords"):
        compose_mosaic(np.zeros((3, 3)), solid([(0, 0, 0)] * 3))
    with pytest.raises(ValueError, match="pixels"):
        compose_mosaic(np.zeros((3, 2)), solid([(0, 0, 0)] * 2))
    with pytest.raises(ValueError, match="canvas_px"):
        compose_mosaic(np.zeros((1, 2)), solid([(0, 0, 0)]), canvas_px=10)


def test_mosaic_figure_stretches_one_picture_under_the_dots_with_square_units():
    coords = np.array([[0.0, 0.0], [2.0, 1.0]])
    fig = figures.mosaic_figure(coords, "data:image/webp;base64,AA", (-1.0, 3.0), (-1.5, 2.5), tags=["a", "<b>"],
                                sources=["x.png", "y.png"])
    (image,) = fig.layout.images
    assert (image.x, image.y, image.sizex, image.sizey) == (-1.0, 2.5, 4.0, 4.0)
    assert image.layer == "below" and image.sizing == "stretch"
    assert fig.layout.yaxis.scaleanchor == "x" and tuple(fig.layout.xaxis.range) == (-1.0, 3.0)
    assert sum(len(t.x) for t in fig.data) == 2
    assert all("<b>" not in (t.name or "") for t in fig.data)  # tags stay escaped, as in every map
