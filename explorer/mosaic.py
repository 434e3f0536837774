"""Paste every image's sprite at its map position onto one picture: images-as-points with no count cap.

A browser slows down with thousands of separate pictures in a chart, so beyond a few hundred the map
draws one pre-composed picture instead (what the TensorFlow Projector does with its sprite sheet, but
without its 8,192-sprite limit: the cost here grows with the canvas, not with the number of images).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from explorer.progress import ProgressCallback, report


@dataclass(frozen=True)
class Mosaic:
    """A composed map picture and the data-space rectangle it covers.

    image : ndarray (H, W, 4) uint8, RGBA; transparent where no sprite lies.
    x_range, y_range : (low, high) data coordinates of the picture's left/right and bottom/top edges.
    sprite_px : side of each sprite in pixels.
    drawn : number of images pasted (rows with finite coordinates).
    """

    image: np.ndarray
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    sprite_px: int
    drawn: int


def sprite_side(n_images: int, canvas_px: int) -> int:
    """A sprite size that keeps a few hundred images readable and tens of thousands from one blur."""
    # About 1.5 sprites per grid cell of a sqrt(n) x sqrt(n) grid: clusters read as piles of pictures.
    return int(np.clip(canvas_px * 1.5 / math.sqrt(max(n_images, 1)), 10, min(128, canvas_px // 4)))


def compose_mosaic(coords: np.ndarray, pixels: np.ndarray, *, canvas_px: int = 2000,
                   sprite_px: int | None = None, progress: ProgressCallback | None = None) -> Mosaic:
    """Paste ``pixels[i]`` centred at ``coords[i]`` (rows with NaN coordinates are skipped), in row order.

    coords : ndarray of shape (n, 2); pixels : ndarray of shape (n, S, S, 3), uint8.
    canvas_px : side of the square picture; sprite_px : side of each sprite (default: ``sprite_side``).
    """
    coords = np.asarray(coords, dtype=np.float64)
    pixels = np.asarray(pixels)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must have shape (n, 2), got {coords.shape}")
    if pixels.ndim != 4 or pixels.shape[0] != len(coords) or pixels.shape[3] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8 of shape ({len(coords)}, S, S, 3), got {pixels.dtype} {pixels.shape}")
    if not 64 <= int(canvas_px) <= 8192:
        raise ValueError(f"canvas_px must be between 64 and 8192, got {canvas_px!r}")
    rows = np.flatnonzero(np.isfinite(coords).all(axis=1))
    side = int(sprite_px or sprite_side(len(rows), canvas_px))
    if not 2 <= side <= canvas_px // 2:
        raise ValueError(f"sprite_px must be between 2 and {canvas_px // 2}, got {sprite_px!r}")
    canvas = Image.new("RGBA", (canvas_px, canvas_px), (0, 0, 0, 0))
    if rows.size == 0:
        return Mosaic(np.asarray(canvas), (0.0, 1.0), (0.0, 1.0), side, 0)
    x_range, y_range = _extent(coords[rows], side, canvas_px)
    inner = canvas_px - side  # sprite centres stay a half sprite inside the edges
    for count, i in enumerate(rows, 1):
        x, y = coords[i]
        left = int(round((x - x_range[0]) / (x_range[1] - x_range[0]) * canvas_px - side / 2))
        top = int(round((y_range[1] - y) / (y_range[1] - y_range[0]) * canvas_px - side / 2))
        sprite = Image.fromarray(pixels[i]).resize((side, side), Image.Resampling.BILINEAR)
        canvas.paste(sprite, (min(max(left, 0), inner), min(max(top, 0), inner)))
        if count % 2000 == 0:
            report(progress, count, rows.size, "drawing images on the map")
    report(progress, rows.size, rows.size, "drawing images on the map")
    return Mosaic(np.asarray(canvas), x_range, y_range, side, int(rows.size))


def _extent(points: np.ndarray, side: int, canvas_px: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """A square data rectangle around ``points`` with half a sprite of margin on every side."""
    low, high = points.min(axis=0), points.max(axis=0)
    centre = (low + high) / 2
    span = float(max((high - low).max(), 1e-9))
    span *= canvas_px / (canvas_px - side)  # room for the sprites that sit on the edge points
    half = span / 2
    return (float(centre[0] - half), float(centre[0] + half)), (float(centre[1] - half), float(centre[1] + half))
