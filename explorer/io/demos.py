"""Built-in demo image sets that need no files: scikit-learn's digits and a procedurally drawn hands set."""

from __future__ import annotations

import hashlib
import io
import math
from typing import Callable

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from explorer.images import DEFAULT_IMAGE_SIZE, THUMBNAIL_SIZE
from explorer.imageset import ImageSet, unique_ids
from explorer.progress import ProgressCallback, report

_MIN_SIZE, _MAX_SIZE = 16, 1024

DEMOS: dict[str, str] = {
    "digits": "scikit-learn's bundled handwritten digits: 1,797 images of 8x8 pixels, tags 0-9",
    "hands": "procedurally drawn hands in 8 gestures plus 6 kinds of simple objects as a contrast group",
}

GESTURES = ("open palm", "fist", "point", "peace", "thumbs up", "ok", "rock", "call me")
OBJECTS = ("ball", "cup", "key", "leaf", "star", "car")
PER_CLASS = 32
# Objects are drawn a little larger so their area roughly matches a hand's palm and fingers.
_OBJECT_SCALE = 1.15


def load_demo(name: str, *, seed: int = 0, image_size: int = DEFAULT_IMAGE_SIZE,
              progress: ProgressCallback | None = None) -> ImageSet:
    """Build the demo set ``name`` (a key of ``DEMOS``); pixels are (n, image_size, image_size, 3) uint8.

    ``seed`` fixes every random choice of the drawn sets (same seed -> byte-identical pixels); the digits
    are a fixed data set and ignore it. ``progress(done, total, message)`` is called as images are made.
    """
    if not isinstance(name, str) or name not in DEMOS:
        raise ValueError(f"unknown demo {name!r}; valid names: {', '.join(sorted(DEMOS))}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) \
            or not _MIN_SIZE <= image_size <= _MAX_SIZE:
        raise ValueError(f"image_size must be an integer in [{_MIN_SIZE}, {_MAX_SIZE}], got {image_size!r}")
    if progress is not None and not callable(progress):
        raise ValueError(f"progress must be callable or None, got {type(progress).__name__}")
    if name == "digits":
        return _digits(int(image_size), progress)
    return _hands(int(seed), int(image_size), progress)


# ---------------------------------------------------------------------------------------------- shared


def _pixel_hash(pixels: np.ndarray) -> str:
    """SHA-256 of a canonical encoding (shape header + raw RGB bytes), so equal images share a hash."""
    header = f"demo-rgb8:{pixels.shape[0]}x{pixels.shape[1]}:".encode()
    return hashlib.sha256(header + np.ascontiguousarray(pixels).tobytes()).hexdigest()


def _thumbnail(pixels: np.ndarray) -> bytes:
    """Small JPEG bytes of an (S, S, 3) or (S, S) uint8 image, at most THUMBNAIL_SIZE on a side."""
    image = Image.fromarray(pixels)
    if image.width > THUMBNAIL_SIZE:
        image = image.resize((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.BOX)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def _image_set(pixels: np.ndarray, sources: list[str], tags: list[str], name: str,
               extra_tags: dict[str, list[str]] | None = None,
               thumbnails: list[bytes] | None = None) -> ImageSet:
    hashes = [_pixel_hash(p) for p in pixels]
    if thumbnails is None:
        thumbnails = [_thumbnail(p) for p in pixels]
    return ImageSet(ids=unique_ids(hashes), hashes=hashes, sources=sources, tags=tags, pixels=pixels,
                    thumbnails=thumbnails, extra_tags=extra_tags or {}, name=name)


# ---------------------------------------------------------------------------------------------- digits


def _digits(image_size: int, progress: ProgressCallback | None) -> ImageSet:
    """scikit-learn's 1,797 digits, bilinearly enlarged; the tag is the digit."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    data = load_digits()
    n = len(data.images)
    report(progress, 0, n, "enlarging digits")
    # Values are ink amounts 0..16; drawn as dark ink on white paper like handwriting.
    paper = 255.0 - data.images * (255.0 / 16.0)
    grey = _enlarge(paper, image_size)
    pixels = np.repeat(grey[..., None], 3, axis=3)
    thumbs = _enlarge(paper, min(image_size, THUMBNAIL_SIZE))
    thumbnails = []
    for i, thumb in enumerate(thumbs):
        thumbnails.append(_thumbnail(thumb))
        if i % 300 == 0:
            report(progress, i, n, "digit thumbnails")
    tags = [str(int(t)) for t in data.target]
    sources = [f"digits/{i:04d}.png" for i in range(n)]
    result = _image_set(pixels, sources, tags, "demo:digits", thumbnails=thumbnails)
    report(progress, n, n, "digits ready")
    return result


def _enlarge(images: np.ndarray, side: int) -> np.ndarray:
    """Bilinear resize of (n, h, w) float images to (n, side, side) uint8, as two small matrix products."""
    n, h, w = images.shape
    rows = _bilinear_weights(h, side).astype(np.float32)
    cols = _bilinear_weights(w, side).astype(np.float32)
    # Two flat GEMMs instead of n tiny stacked ones.
    wide = images.astype(np.float32).reshape(n * h, w) @ cols.T  # (n*h, side)
    wide = wide.reshape(n, h, side).transpose(1, 0, 2).reshape(h, n * side)
    out = (rows @ wide).reshape(side, n, side).transpose(1, 0, 2)  # (n, side, side)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _bilinear_weights(source: int, target: int) -> np.ndarray:
    """(target, source) interpolation matrix: pixel centres aligned, edges clamped, as Pillow upscales."""
    x = np.clip((np.arange(target) + 0.5) * source / target - 0.5, 0, source - 1)
    low = np.minimum(np.floor(x).astype(int), source - 2)
    frac = x - low
    weights = np.zeros((target, source))
    weights[np.arange(target), low] = 1 - frac
    weights[np.arange(target), low + 1] = frac
    return weights


# ----------------------------------------------------------------------------------------------- hands


def _hands(seed: int, image_size: int, progress: ProgressCallback | None) -> ImageSet:
    """PER_CLASS drawings of every gesture and object; extra tag column ``kind`` is "hand" or "object"."""
    classes = [(g, "hand") for g in GESTURES] + [(o, "object") for o in OBJECTS]
    total = len(classes) * PER_CLASS
    pixels = np.empty((total, image_size, image_size, 3), np.uint8)
    tags, kinds, sources = [], [], []
    grains, ramps = _grain_pool(seed, image_size), _ramps(image_size)
    for c, (tag, kind) in enumerate(classes):
        for i in range(PER_CLASS):
            # One generator per image, keyed by (seed, class, index): images do not depend on draw order.
            rng = np.random.default_rng([seed, c, i])
            row = len(tags)
            pixels[row] = _draw_scene(tag, kind, rng, image_size, grains, ramps)
            tags.append(tag)
            kinds.append(kind)
            sources.append(f"hands/{tag.replace(' ', '-')}/{i:04d}.png")
        report(progress, len(tags), total, f"drew {tag}")
    return _image_set(pixels, sources, tags, "demo:hands", {"kind": kinds})


class _Pen:
    """Draws shapes given in a canonical frame (units, y down) through a random similarity transform.

    Shapes have a handful of points each, so the transform is done on plain floats: numpy's per-call
    overhead would cost more than the arithmetic.
    """

    def __init__(self, image: Image.Image, centre, unit: float, angle: float, flip: bool):
        self.draw = ImageDraw.Draw(image)
        self.cx, self.cy = float(centre[0]), float(centre[1])
        self.unit = unit
        c, s, f = unit * math.cos(angle), unit * math.sin(angle), -1.0 if flip else 1.0
        self.m = (c * f, -s, s * f, c)  # rotation @ mirror, row-major 2x2

    def scale(self, factor: float) -> None:
        self.unit *= factor
        self.m = tuple(v * factor for v in self.m)

    def quarter_turn(self) -> None:
        """Pre-rotate the canonical frame so its -x axis points up in the picture, mirrored or not."""
        a, b, c, d = self.m
        self.m = (b, -a, d, -c)

    def map(self, points) -> list[tuple[float, float]]:
        a, b, c, d = self.m
        cx, cy = self.cx, self.cy
        pts = points.tolist() if isinstance(points, np.ndarray) else points
        if pts and not isinstance(pts[0], (list, tuple)):
            pts = [pts]
        return [(cx + a * x + b * y, cy + c * x + d * y) for x, y in pts]

    def polygon(self, points, fill, outline, width: float) -> None:
        pts = self.map(points)
        if outline is not None and width > 0:
            stroke = max(1, round(2 * width * self.unit))
            self.draw.line(pts + pts[:1], fill=outline, width=stroke, joint="curve")
        self.draw.polygon(pts, fill=fill)

    def disc(self, centre, radius: float, fill) -> None:
        (x, y), r = self.map(centre)[0], radius * self.unit
        self.draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)

    def limb(self, points, radii, fill, outline=None, width: float = 0.0) -> None:
        """A tapered capsule through ``points``, radius ``radii`` (one or one per point); outline first."""
        pts = self.map(points)
        if isinstance(radii, (int, float)):
            radii = [radii] * len(pts)
        radii = [r * self.unit for r in (radii.tolist() if isinstance(radii, np.ndarray) else radii)]
        if outline is not None and width > 0:
            grow = width * self.unit
            self._capsules(pts, [r + grow for r in radii], outline)
        self._capsules(pts, radii, fill)

    def _capsules(self, points: list, radii: list, fill) -> None:
        """Discs at the joints joined by trapezoids, in pixel coordinates (plain floats: few points each)."""
        for (x, y), r in zip(points, radii):
            self.draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
        for (ax, ay), (bx, by), ra, rb in zip(points[:-1], points[1:], radii[:-1], radii[1:]):
            length = math.hypot(bx - ax, by - ay) or 1.0
            nx, ny = (ay - by) / length, (bx - ax) / length
            self.draw.polygon([(ax + nx * ra, ay + ny * ra), (bx + nx * rb, by + ny * rb),
                               (bx - nx * rb, by - ny * rb), (ax - nx * ra, ay - ny * ra)], fill=fill)


# Skin tones from very light to very dark (sRGB); a tone is drawn between two neighbours.
_SKIN = np.array([[255, 224, 196], [241, 194, 167], [224, 172, 125], [198, 134, 90],
                  [160, 102, 62], [122, 76, 46], [86, 54, 36]], float)


def _skin(rng: np.random.Generator) -> np.ndarray:
    t = rng.uniform(0, len(_SKIN) - 1)
    k = min(int(t), len(_SKIN) - 2)
    tone = _SKIN[k] + (t - k) * (_SKIN[k + 1] - _SKIN[k])
    return np.clip(tone * rng.uniform(0.92, 1.06) + rng.normal(0, 4, 3), 0, 255)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    i, f = int(h * 6) % 6, h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return 255 * np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def _rgb(colour) -> tuple[int, int, int]:
    r, g, b = (float(x) for x in colour)
    return (int(round(min(max(r, 0.0), 255.0))), int(round(min(max(g, 0.0), 255.0))),
            int(round(min(max(b, 0.0), 255.0))))


def _background(rng: np.random.Generator, side: int, ramps: list[Image.Image]) -> Image.Image:
    """A two-colour linear gradient along one of the precomputed ramp directions."""
    a = _hsv(rng.random(), rng.uniform(0, 0.6), rng.uniform(0.25, 1.0))
    b = np.clip(a + rng.normal(0, 45, 3), 0, 255) if rng.random() < 0.7 else \
        _hsv(rng.random(), rng.uniform(0, 0.6), rng.uniform(0.25, 1.0))
    ramp = ramps[int(rng.integers(len(ramps)))]
    far, near = Image.new("RGB", (side, side), _rgb(b)), Image.new("RGB", (side, side), _rgb(a))
    return Image.composite(far, near, ramp)


def _ramps(side: int, count: int = 32) -> list[Image.Image]:
    """Linear 0..255 blend masks at ``count`` evenly spaced angles, made once per set."""
    line = np.linspace(-127.5, 127.5, side, dtype=np.float32)
    masks = []
    for theta in np.arange(count) * (2 * math.pi / count):
        mask = np.clip(127.5 + math.cos(theta) * line[None, :] + math.sin(theta) * line[:, None], 0, 255)
        masks.append(Image.fromarray(mask.astype(np.uint8)))
    return masks


def _draw_scene(tag: str, kind: str, rng: np.random.Generator, image_size: int,
                grains: list[Image.Image], ramps: list[Image.Image]) -> np.ndarray:
    """One (image_size, image_size, 3) uint8 picture of ``tag`` on a random background."""
    ss = 2 if image_size >= 64 else 4  # supersampling factor for anti-aliased edges
    side = image_size * ss
    image = _background(rng, image_size, ramps)
    # Drawn opaque on a transparent premultiplied layer at ss x the size: reduce() then averages colour
    # and coverage together, and pasting through the coverage gives anti-aliased edges.
    layer = Image.new("RGBa", (side, side), (0, 0, 0, 0))
    jitter = rng.uniform(-0.08, 0.08, 2) * side
    pen = _Pen(layer, centre=np.array([side / 2, side / 2]) + jitter, unit=side * rng.uniform(0.25, 0.33),
               angle=math.radians(rng.uniform(-30, 30)), flip=bool(rng.random() < 0.5))
    if kind == "hand":
        _draw_hand(pen, tag, rng)
    else:
        pen.scale(_OBJECT_SCALE)
        _OBJECT_DRAWERS[tag](pen, rng, _object_colour(rng))
    small = layer.reduce(ss).convert("RGBA")
    image.paste(small, (0, 0), small)
    pool = grains[int(rng.integers(len(grains)))]
    x, y = (int(v) for v in rng.integers(0, pool.width - image_size, 2))
    grain = pool.crop((x, y, x + image_size, y + image_size))
    return np.asarray(ImageChops.add(image, grain, 1.0, -128))  # image + grain - 128, clipped


def _grain_pool(seed: int, image_size: int) -> list[Image.Image]:
    """Sensor-like grey noise images (centred on 128) at a few strengths; scenes crop random windows."""
    rng = np.random.default_rng([seed, 1 << 20])
    side = 2 * image_size
    pool = []
    for sigma in (3.0, 6.0, 9.0):
        noise = rng.standard_normal((side, side), dtype=np.float32) * sigma + 128
        grey = Image.fromarray(np.clip(np.rint(noise), 0, 255).astype(np.uint8))
        pool.append(Image.merge("RGB", (grey, grey, grey)))
    return pool


# ----------------------------------------------------------------------------------------- hand drawing
#
# Canonical hand: palm centred near the origin, fingers pointing up (-y), index on the -x side, wrist
# running off downwards. Every gesture shares the palm, wrist, skin and finger proportions; gestures
# differ only in which fingers are extended, which is what makes them overlap in feature space.

_FINGER_BASE = np.array([[-0.36, -0.26], [-0.12, -0.32], [0.12, -0.30], [0.35, -0.22]])
_FINGER_LENGTH = np.array([0.72, 0.80, 0.74, 0.58])
_FINGER_RADIUS = np.array([0.105, 0.11, 0.105, 0.09])
_FINGER_SPREAD = np.radians([-9.0, -2.0, 5.0, 13.0])
_THUMB_BASE = np.array([-0.30, 0.40])

# Per gesture: index, middle, ring, pinky extended?; thumb "out" | "fold" | "up" | "ring"; extra spread.
_GESTURE_SPEC = {
    "open palm": ((1, 1, 1, 1), "out", 1.6),
    "fist": ((0, 0, 0, 0), "fold", 1.0),
    "point": ((1, 0, 0, 0), "fold", 1.0),
    "peace": ((1, 1, 0, 0), "fold", 3.0),
    "thumbs up": ((0, 0, 0, 0), "up", 1.0),
    "ok": ((0, 1, 1, 1), "ring", 1.6),
    "rock": ((1, 0, 0, 1), "fold", 1.6),
    "call me": ((0, 0, 0, 1), "out", 3.0),
}


def _direction(angle: float) -> np.ndarray:
    """Unit vector ``angle`` radians from straight up, positive towards the pinky side (+x)."""
    return np.array([math.sin(angle), -math.cos(angle)])


def _chain(start, angle: float, lengths, bends) -> np.ndarray:
    """Joint positions of a finger: straight segments of ``lengths``, turning by ``bends`` at inner joints."""
    points, a = [np.asarray(start, float)], angle
    for length, bend in zip(lengths, [*bends, 0.0]):
        points.append(points[-1] + length * _direction(a))
        a += bend
    return np.array(points)


def _draw_hand(pen: _Pen, gesture: str, rng: np.random.Generator) -> None:
    extended, thumb, spread = _GESTURE_SPEC[gesture]
    if thumb == "up":
        # Thumbs-up is a fist turned on its side so the thumb (drawn along -x) points up in the picture.
        pen.quarter_turn()
    skin = _skin(rng)
    fill, line = _rgb(skin), _rgb(skin * 0.55)
    width = 0.018
    size = rng.uniform(0.82, 1.08, 4)  # below 1: a finger slightly curled towards the viewer looks shorter
    pen.polygon([[-0.34, 0.45], [0.36, 0.45], [0.42, 2.6], [-0.42, 2.6]], fill, line, width)  # wrist
    for f in range(4):
        if extended[f]:
            angle = _FINGER_SPREAD[f] * spread + rng.normal(0, math.radians(4))
            bends = np.radians(rng.normal(0, 5, 2))
            length = _FINGER_LENGTH[f] * size[f]
            pts = _chain(_FINGER_BASE[f], angle, length * np.array([0.45, 0.30, 0.25]), bends)
            pen.limb(pts, _FINGER_RADIUS[f] * np.array([1.0, 0.96, 0.92, 0.86]), fill, line, width)
    pen.polygon(_palm_outline(rng), fill, line, width)
    for f in range(4):
        if not extended[f]:
            _curled_finger(pen, f, rng, fill, line, width)
    _thumb(pen, thumb, extended, rng, fill, line, width)


def _palm_outline(rng: np.random.Generator) -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, 32, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    x = 0.5 * np.sign(c) * np.abs(c) ** 0.5 * rng.uniform(0.96, 1.04)
    y = 0.46 * np.sign(s) * np.abs(s) ** 0.5
    x = x * np.where(y > 0, 1 - 0.22 * y, 1.0)  # narrower towards the wrist
    return np.stack([x, y + 0.16], axis=1)


def _curled_finger(pen: _Pen, f: int, rng, fill, line, width) -> None:
    """A folded finger seen from the palm side: knuckle bump, then the finger lying back over the palm."""
    base = _FINGER_BASE[f] + [0, 0.02]
    up = 0.12 * rng.uniform(0.8, 1.2)
    down = _FINGER_LENGTH[f] * 0.4 * rng.uniform(0.85, 1.15)
    lean = rng.normal(0, 0.03)
    pts = np.array([base, base + [lean, -up], base + [lean * 2, -up + down]])
    pen.limb(pts, _FINGER_RADIUS[f] * np.array([0.98, 1.0, 0.95]), fill, line, width)


def _thumb(pen: _Pen, mode: str, extended, rng, fill, line, width) -> None:
    radii = np.array([0.16, 0.125, 0.11, 0.1])
    lengths = np.array([0.30, 0.26, 0.2]) * rng.uniform(0.92, 1.08)
    if mode == "out":
        angle = math.radians(-55 - rng.uniform(0, 25))
        pts = _chain(_THUMB_BASE, angle, lengths, np.radians(rng.uniform(0, 14, 2)))
    elif mode == "up":
        # From the index side of the fist's top, pointing away from the curled fingers.
        pts = _chain([-0.38, -0.02], math.radians(-90 + rng.normal(0, 6)), lengths * [0.6, 1.1, 1.0],
                     np.radians(rng.uniform(-4, 8, 2)))
        radii = np.array([0.16, 0.14, 0.13, 0.12])
    elif mode == "ring":
        _ok_ring(pen, rng, fill, line, width)
        return
    else:
        # Folded across the palm under the curled fingers; ends over the last curled finger it holds.
        curled = [f for f in range(4) if not extended[f]]
        tip_x = _FINGER_BASE[max(curled) if curled else 1, 0] * 0.7 + rng.normal(0, 0.03)
        y = -0.02 + rng.normal(0, 0.03)
        pts = np.array([_THUMB_BASE, [-0.42, 0.12], [-0.24, y], [tip_x, y + 0.02]])
    pen.limb(pts, radii, fill, line, width)


def _ok_ring(pen: _Pen, rng, fill, line, width) -> None:
    """Index and thumb curled into a ring whose tips touch, leaving a hole that shows the background."""
    r = 0.24 * rng.uniform(0.9, 1.1)
    centre = _FINGER_BASE[0] + np.array([-0.12, -0.22]) + rng.normal(0, 0.02, 2)
    knuckle_angle = math.atan2(*(_FINGER_BASE[0] - centre)[::-1])
    meet = knuckle_angle - math.radians(rng.uniform(200, 230))  # where the fingertips touch
    arc = np.linspace(knuckle_angle, meet, 9)
    index = centre + r * np.stack([np.cos(arc), np.sin(arc)], axis=1)
    pen.limb(np.vstack([_FINGER_BASE[0], index]), np.linspace(0.105, 0.085, 10), fill, line, width)
    back = np.linspace(meet + math.radians(360 - 20), meet + math.radians(200), 6)
    thumb_arc = centre + r * np.stack([np.cos(back), np.sin(back)], axis=1)
    pen.limb(np.vstack([_THUMB_BASE, [-0.45, 0.1], thumb_arc[::-1]]),
             np.array([0.16, 0.13, 0.12, 0.11, 0.1, 0.1, 0.095, 0.09]), fill, line, width)


# --------------------------------------------------------------------------------------- object drawing
#
# Objects get the same transform, background and noise as hands and a random colour each, so what
# sets them apart is their outline shape, not their colour.


def _object_colour(rng: np.random.Generator) -> np.ndarray:
    return _hsv(rng.random(), rng.uniform(0.25, 0.9), rng.uniform(0.35, 0.95))


def _ball(pen: _Pen, rng, colour) -> None:
    r = 0.72 * rng.uniform(0.85, 1.1)
    pen.disc([0, 0], r + 0.03, _rgb(colour * 0.5))
    pen.disc([0, 0], r, _rgb(colour))
    t = np.linspace(-1.1, 1.1, 12)
    for side in (-1, 1):  # two curved seams, like a tennis ball
        seam = np.stack([side * (r * 0.9 - 0.35 * r * np.cos(t) ** 2), r * 0.85 * np.sin(t)], axis=1)
        pen.limb(seam, 0.02, _rgb(colour * 0.6 + 100))
    pen.disc([-0.3 * r, -0.35 * r], 0.16 * r, _rgb(colour * 0.5 + 128))


def _cup(pen: _Pen, rng, colour) -> None:
    top, bottom = 0.55 * rng.uniform(0.9, 1.1), 0.42 * rng.uniform(0.85, 1.1)
    h = 0.62 * rng.uniform(0.85, 1.1)
    dark = _rgb(colour * 0.5)
    handle = np.array([[top * 0.85, -h * 0.45], [top + 0.38, -h * 0.35], [top + 0.38, h * 0.25],
                       [bottom * 0.9, h * 0.6]])
    pen.limb(handle, 0.075, _rgb(colour), dark, 0.03)
    pen.polygon([[-top, -h], [top, -h], [bottom, h], [0, h + 0.08], [-bottom, h]], _rgb(colour), dark, 0.03)
    t = np.linspace(0, 2 * math.pi, 20, endpoint=False)
    pen.polygon(np.stack([top * np.cos(t), -h + 0.12 * np.sin(t)], axis=1), _rgb(colour * 0.45), dark, 0.02)
    pen.polygon(np.stack([top * 0.8 * np.cos(t), -h + 0.05 + 0.06 * np.sin(t)], axis=1),
                _rgb(rng.uniform(40, 110, 3)), None, 0)  # the drink


def _key(pen: _Pen, rng, colour) -> None:
    dark = _rgb(colour * 0.5)
    shaft_end = 0.85 * rng.uniform(0.9, 1.1)
    shaft = [[-0.45, -0.07], [shaft_end, -0.07], [shaft_end, 0.07], [-0.45, 0.07]]
    pen.polygon(shaft, _rgb(colour), dark, 0.03)
    x = shaft_end - 0.06
    for depth in rng.uniform(0.12, 0.25, 3):  # bit with three cuts
        pen.polygon([[x - 0.1, 0.05], [x, 0.05], [x, 0.05 + depth], [x - 0.1, 0.05 + depth]],
                    _rgb(colour), dark, 0.025)
        x -= 0.13
    r = 0.3 * rng.uniform(0.9, 1.15)
    t = np.linspace(0, 2 * math.pi, 25)
    pen.limb(np.stack([-0.45 - r + r * np.cos(t), r * np.sin(t)], axis=1), 0.11, _rgb(colour), dark, 0.03)


def _leaf(pen: _Pen, rng, colour) -> None:
    length, w = 0.85 * rng.uniform(0.9, 1.1), 0.38 * rng.uniform(0.75, 1.15)
    x = np.linspace(-length, length, 15)
    bulge = np.clip(np.sin(np.pi * (x + length) / (2 * length)), 0, 1) ** 0.9 * (1 + 0.25 * (x < 0))
    outline = np.concatenate([np.stack([x, -w * bulge], 1), np.stack([x[::-1], w * bulge[::-1]], 1)])
    pen.limb([[length, 0], [length + 0.3, 0.08]], 0.035, _rgb(colour * 0.5))  # stalk
    pen.polygon(outline, _rgb(colour), _rgb(colour * 0.5), 0.03)
    vein = _rgb(colour * 0.6 + 60)
    pen.limb([[-length * 0.9, 0], [length, 0]], 0.02, vein)
    for vx in np.linspace(-0.5, 0.45, 4) * length:
        for side in (-1, 1):
            pen.limb([[vx, 0], [vx - 0.22, side * w * 0.6]], 0.014, vein)


def _star(pen: _Pen, rng, colour) -> None:
    outer, inner = 0.85 * rng.uniform(0.9, 1.1), rng.uniform(0.38, 0.5)
    t = -math.pi / 2 + np.arange(10) * math.pi / 5
    radius = np.where(np.arange(10) % 2 == 0, outer, outer * inner)
    pen.polygon(np.stack([radius * np.cos(t), radius * np.sin(t)], 1), _rgb(colour), _rgb(colour * 0.5), 0.03)


def _car(pen: _Pen, rng, colour) -> None:
    length, cab = 0.95 * rng.uniform(0.9, 1.1), rng.uniform(0.4, 0.55)
    dark = _rgb(colour * 0.5)
    body = [[-length, 0.28], [-length, 0.02], [-cab - 0.08, -0.05], [-cab + 0.12, -0.42], [cab - 0.05, -0.42],
            [cab + 0.2, -0.05], [length, 0.0], [length, 0.28]]
    pen.polygon(body, _rgb(colour), dark, 0.03)
    glass = _rgb(np.array([170, 200, 220]) * rng.uniform(0.7, 1.0))
    pen.polygon([[-cab + 0.02, -0.07], [-cab + 0.16, -0.36], [-0.02, -0.36], [-0.02, -0.07]], glass, None, 0)
    pen.polygon([[0.04, -0.07], [0.04, -0.36], [cab - 0.08, -0.36], [cab + 0.1, -0.07]], glass, None, 0)
    for wx in (-length * 0.58, length * 0.58):
        pen.disc([wx, 0.3], 0.2, (25, 25, 25))
        pen.disc([wx, 0.3], 0.09, (165, 165, 165))


_OBJECT_DRAWERS: dict[str, Callable[[_Pen, np.random.Generator, np.ndarray], None]] = {
    "ball": _ball, "cup": _cup, "key": _key, "leaf": _leaf, "star": _star, "car": _car,
}
