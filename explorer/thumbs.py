"""Pictures encoded for a browser: ``data:`` URIs of thumbnails and of the composed map mosaic.

Everything travels inside the figure (no URL to fetch, works offline). Pure functions on bytes and
arrays; the UI caches their results by content.
"""

from __future__ import annotations

import base64
import io
from typing import Sequence

import numpy as np
from PIL import Image

from explorer.mosaic import Mosaic
from explorer.progress import ProgressCallback, report

SPRITE_QUALITY = 80
MOSAIC_QUALITY = 80


def data_uri(data: bytes, mime: str = "image/jpeg") -> str:
    """``data:<mime>;base64,...`` of ``data``."""
    return f"data:{mime};base64," + base64.b64encode(bytes(data)).decode("ascii")


def sprite_uri(jpeg: bytes, side: int = 48, *, quality: int = SPRITE_QUALITY) -> str:
    """A JPEG data URI of the picture in ``jpeg``, shrunk to at most ``side`` px (aspect kept); "" if unreadable."""
    if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side < 1:
        raise ValueError(f"side must be a positive integer, got {side!r}")
    try:
        with Image.open(io.BytesIO(jpeg)) as im:
            im = im.convert("RGB")
            im.thumbnail((int(side), int(side)))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=quality)
    except (OSError, ValueError, Image.DecompressionBombError):
        return ""
    return data_uri(buf.getvalue())


def sprite_uris(thumbnails: Sequence[bytes], side: int = 48, *, progress: ProgressCallback | None = None) -> list[str]:
    """``sprite_uri`` of every thumbnail (an ``ImageSet.thumbnails`` list), in order."""
    out = []
    for i, jpeg in enumerate(thumbnails, 1):
        out.append(sprite_uri(jpeg, side))
        if i % 1000 == 0:
            report(progress, i, len(thumbnails), "encoding thumbnails")
    report(progress, len(thumbnails), len(thumbnails), "encoding thumbnails")
    return out


def mosaic_uri(mosaic: Mosaic, *, quality: int = MOSAIC_QUALITY) -> str:
    """The mosaic's RGBA picture as a WebP data URI (keeps the transparency between sprites, small)."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(mosaic.image, dtype=np.uint8), "RGBA").save(buf, "WEBP", quality=quality)
    return data_uri(buf.getvalue(), "image/webp")
