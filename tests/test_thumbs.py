"""explorer.thumbs: thumbnails and the map mosaic encoded as data URIs for the browser."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from explorer.mosaic import compose_mosaic
from explorer.thumbs import data_uri, mosaic_uri, sprite_uri, sprite_uris


def jpeg(size=(96, 64), colour=(200, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


def picture(uri: str, mime: str) -> Image.Image:
    head, body = uri.split(",", 1)
    assert head == f"data:{mime};base64"
    return Image.open(io.BytesIO(base64.b64decode(body)))


def test_sprites_are_small_jpegs_keeping_aspect_and_colour():
    uris = sprite_uris([jpeg(), jpeg((30, 90), (20, 20, 220))], side=48)
    first, second = picture(uris[0], "image/jpeg"), picture(uris[1], "image/jpeg")
    assert first.format == "JPEG" and first.size == (48, 32) and second.size == (16, 48)
    r, g, b = first.convert("RGB").getpixel((24, 16))
    assert r > 150 and g < 90 and b < 90
    assert sprite_uri(jpeg((20, 10)), 48).startswith("data:image/jpeg")  # never enlarged
    assert picture(sprite_uri(jpeg((20, 10)), 48), "image/jpeg").size == (20, 10)


def test_unreadable_thumbnail_gives_an_empty_uri_and_bad_side_an_error():
    assert sprite_uris([b"not a jpeg", jpeg()], side=24)[0] == ""
    with pytest.raises(ValueError, match="side"):
        sprite_uri(jpeg(), 0)


def test_mosaic_uri_is_a_webp_keeping_transparency():
    coords = np.array([[0.0, 0.0], [5.0, 5.0]])
    pixels = np.stack([np.full((16, 16, 3), c, np.uint8) for c in [(255, 0, 0), (0, 0, 255)]])
    mosaic = compose_mosaic(coords, pixels, canvas_px=200, sprite_px=20)
    im = picture(mosaic_uri(mosaic), "image/webp")
    assert im.format == "WEBP" and im.size == (200, 200) and im.mode == "RGBA"
    alpha = np.asarray(im)[..., 3]
    assert alpha[100, 100] == 0 and (alpha > 0).sum() == pytest.approx(2 * 20 * 20, rel=0.1)
    assert data_uri(b"\x00\x01", "image/png") == "data:image/png;base64,AAE="
