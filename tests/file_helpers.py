"""Small files made in memory for tests: random PNGs and ZIPs (with folders) of them."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from PIL import Image


def png_bytes(seed: int, shape: tuple[int, int] = (32, 32)) -> bytes:
    """A random RGB PNG of ``shape`` (height, width); the same seed gives the same bytes."""
    buf = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 255, (*shape, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes | None]) -> bytes:
    """A ZIP of ``members``: name -> bytes, or None for a folder entry (a name ending in "/")."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name) if data is None else name, data or b"")
    return buf.getvalue()
