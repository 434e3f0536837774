"""Seeded image augmentations that turn one image into its "augmented twin" (a positive pair).

Every function works on (S, S, 3) uint8 images and returns the same shape and dtype. Randomness comes
only from the ``numpy.random.Generator`` passed in (or the ``seed``), so the same seed gives the same twins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from explorer.progress import ProgressCallback, report


@dataclass(frozen=True)
class AugmentSettings:
    """How strong each augmentation is; the defaults are the mild SimCLR-style set used for positive pairs.

    crop_scale : (min, max) fraction of the image area kept by the random crop (then resized back).
    flip : whether a horizontal flip may happen (probability 0.5).
    max_rotation : largest rotation in degrees (uniform in [-max, max]).
    brightness, contrast, saturation : colour jitter strengths (factor uniform in [1-s, 1+s]).
    blur_sigma : (min, max) Gaussian blur radius in pixels; applied with probability ``blur_probability``.
    """

    crop_scale: tuple[float, float] = (0.6, 1.0)
    flip: bool = True
    max_rotation: float = 15.0
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    blur_sigma: tuple[float, float] = (0.1, 1.5)
    blur_probability: float = 0.5

    def __post_init__(self) -> None:
        lo, hi = self.crop_scale
        if not 0.05 <= lo <= hi <= 1.0:
            raise ValueError(f"crop_scale must satisfy 0.05 <= min <= max <= 1, got {self.crop_scale}")
        if not 0.0 <= self.max_rotation <= 180.0:
            raise ValueError(f"max_rotation must be in [0, 180] degrees, got {self.max_rotation}")
        for name in ("brightness", "contrast", "saturation"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f"blur_sigma must satisfy 0 <= min <= max, got {self.blur_sigma}")
        if not 0.0 <= self.blur_probability <= 1.0:
            raise ValueError(f"blur_probability must be in [0, 1], got {self.blur_probability}")


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"image must be a uint8 array of shape (S, S, 3), got {getattr(image, 'dtype', type(image))} {shape}")


def crop_rotate_flip(image: np.ndarray, rng: np.random.Generator, settings: AugmentSettings) -> np.ndarray:
    """Random crop-and-resize, rotation and flip as one affine warp (one resampling, no extra blur)."""
    _check_image(image)
    h, w = image.shape[:2]
    scale = np.sqrt(rng.uniform(*settings.crop_scale))  # side fraction of the crop
    cw, ch = scale * w, scale * h
    cx = rng.uniform(cw / 2, w - cw / 2)
    cy = rng.uniform(ch / 2, h - ch / 2)
    angle = np.deg2rad(rng.uniform(-settings.max_rotation, settings.max_rotation))
    flip = settings.flip and rng.random() < 0.5
    # Output pixel (u, v), centred, maps to input cx + R @ (s * (±u), s * v): PIL wants output->input.
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    sx = -1.0 if flip else 1.0
    a, b = cos * sx, -sin
    d, e = sin * sx, cos
    c = cx - a * w / 2 - b * h / 2
    f = cy - d * w / 2 - e * h / 2
    warped = Image.fromarray(image).transform((w, h), Image.Transform.AFFINE, (a, b, c, d, e, f),
                                              resample=Image.Resampling.BILINEAR, fillcolor=_edge_colour(image))
    return np.asarray(warped, dtype=np.uint8)


def _edge_colour(image: np.ndarray) -> tuple[int, int, int]:
    # Rotated corners are filled with the mean border colour so they do not add a new black shape.
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    return tuple(int(v) for v in border.mean(axis=0).round())


def colour_jitter(image: np.ndarray, rng: np.random.Generator, settings: AugmentSettings) -> np.ndarray:
    """Random brightness, contrast and saturation factors applied in float, clipped back to uint8."""
    _check_image(image)
    x = image.astype(np.float32)
    x *= rng.uniform(1 - settings.brightness, 1 + settings.brightness)
    mean = x.mean()
    x = (x - mean) * rng.uniform(1 - settings.contrast, 1 + settings.contrast) + mean
    grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
    x = (x - grey[..., None]) * rng.uniform(1 - settings.saturation, 1 + settings.saturation) + grey[..., None]
    return np.clip(x, 0, 255).round().astype(np.uint8)


def gaussian_blur(image: np.ndarray, rng: np.random.Generator, settings: AugmentSettings) -> np.ndarray:
    """Gaussian blur with a random radius, applied with probability ``settings.blur_probability``."""
    _check_image(image)
    if rng.random() >= settings.blur_probability:
        return image
    radius = float(rng.uniform(*settings.blur_sigma))
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)), dtype=np.uint8)


def augment(image: np.ndarray, rng: np.random.Generator, settings: AugmentSettings | None = None) -> np.ndarray:
    """One augmented twin of ``image`` (S, S, 3) uint8: crop/rotate/flip, then colour jitter, then blur."""
    settings = settings or AugmentSettings()
    out = crop_rotate_flip(image, rng, settings)
    out = colour_jitter(out, rng, settings)
    return gaussian_blur(out, rng, settings)


def augment_batch(pixels: np.ndarray, *, seed: int = 0, settings: AugmentSettings | None = None,
                  progress: ProgressCallback | None = None) -> np.ndarray:
    """Augmented twins of every image in ``pixels`` (n, S, S, 3) uint8 -> (n, S, S, 3) uint8.

    Image ``i`` uses its own generator spawned from ``seed``, so a twin does not depend on batch order or size.
    """
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 4 or pixels.shape[3] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be uint8 of shape (n, S, S, 3), got {getattr(pixels, 'dtype', None)} "
                         f"{getattr(pixels, 'shape', None)}")
    settings = settings or AugmentSettings()
    out = np.empty_like(pixels)
    n = len(pixels)
    step = max(1, n // 20)
    for i in range(n):
        rng = np.random.default_rng([int(seed), i])
        out[i] = augment(pixels[i], rng, settings)
        if (i + 1) % step == 0 or i + 1 == n:
            report(progress, i + 1, n, "augmenting images")
    return out
