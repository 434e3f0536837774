"""Tests for explorer.images: safe decoding of one image, and the parallel decode_many."""

from __future__ import annotations

import hashlib
import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

import hostile_corpus as hc
from explorer.images import (BACKGROUND, DEFAULT_IMAGE_SIZE, THUMBNAIL_SIZE, DecodedImage, ImageRejected,
                             Limits, decode_image, decode_many, to_rgb)

GREY = np.array(BACKGROUND, np.uint8)


def solid(size, colour, fmt="PNG", mode="RGB", **kwargs) -> bytes:
    return hc.encode(Image.new(mode, size, colour), fmt, **kwargs)


def reject_reason(data: bytes, **kwargs) -> str:
    with pytest.raises(ImageRejected) as info:
        decode_image(data, **kwargs)
    return info.value.reason


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_every_allowed_format_decodes_to_the_right_colour(fmt):
    out = decode_image(solid((40, 40), (200, 60, 20), fmt))
    assert out.pixels.shape == (DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE, 3) and out.pixels.dtype == np.uint8
    assert np.abs(out.pixels[64, 64].astype(int) - (200, 60, 20)).max() <= 12  # lossy formats drift a little
    assert (out.width, out.height) == (40, 40)


def test_letterbox_keeps_aspect_on_the_fixed_background_and_thumbnail_keeps_aspect():
    out = decode_image(solid((80, 40), (255, 0, 0)), image_size=64, thumb_size=32)
    # 80x40 -> 64x32, pasted at rows 16..47
    assert (out.pixels[:16] == GREY).all() and (out.pixels[48:] == GREY).all()
    assert (out.pixels[16:48] == (255, 0, 0)).all()
    thumb = Image.open(io.BytesIO(out.thumbnail))
    assert thumb.format == "JPEG" and thumb.size == (32, 16)


def test_sha256_is_of_the_file_bytes():
    data = hc.jpeg(seed=3)
    assert decode_image(data).sha256 == hashlib.sha256(data).hexdigest()


def test_draft_mode_keeps_original_size_and_matches_a_full_decode():
    data = hc.encode(Image.fromarray(hc.photo(1600, 1200, 1)), "JPEG", quality=90)
    out = decode_image(data)
    assert (out.width, out.height) == (1600, 1200)
    full = Image.open(io.BytesIO(data)).convert("RGB").resize((128, 96), Image.Resampling.LANCZOS)
    region = out.pixels[16:112].astype(int)  # the letter-boxed 128x96 image
    assert np.abs(region - np.asarray(full, int)).mean() < 4


def test_exif_orientation_is_applied():
    out = decode_image(hc.exif_rotated_jpeg())
    assert (out.width, out.height) == (30, 60)
    top, bottom = out.pixels[20, 64].astype(int), out.pixels[108, 64].astype(int)
    assert top[0] > 180 and top[2] < 60      # red half went to the top
    assert bottom[2] > 180 and bottom[0] < 60


def test_transparent_areas_land_on_the_fixed_background():
    arr = np.zeros((32, 64, 4), np.uint8)
    arr[:, 32:] = (10, 200, 10, 255)  # left half fully transparent (and black underneath)
    out = decode_image(hc.encode(Image.fromarray(arr, "RGBA"), "PNG"), image_size=64)
    assert (out.pixels[16:48, :32] == GREY).all()
    assert (out.pixels[16:48, 32:] == (10, 200, 10)).all()
    assert "transparency" in out.note


@pytest.mark.parametrize("mode", ["PA", "LA", "RGBa"])
def test_other_alpha_modes_are_composited(mode):
    rgba = Image.new("RGBA", (4, 4), (250, 250, 250, 0))
    rgb, note = to_rgb(rgba.convert(mode))
    assert np.abs(np.asarray(rgb, int) - BACKGROUND).max() <= 1 and "transparency" in note


def test_16_bit_is_rescaled_by_its_actual_range_not_clipped():
    ramp = np.linspace(1000, 3000, 64 * 64).reshape(64, 64).astype(np.uint16)
    data = hc.encode(Image.fromarray(ramp), "PNG")
    naive = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert naive.min() == 255  # what a plain convert does: every pixel white
    out = decode_image(data, image_size=64)
    assert out.pixels.min() <= 2 and out.pixels.max() >= 253
    assert "16-bit rescaled from range [1000, 3000]" in out.note


def test_float_with_nan_is_rescaled_and_the_gap_is_said():
    arr = np.linspace(-2.0, 6.0, 16 * 16, dtype=np.float32).reshape(16, 16)
    arr[5, 5] = np.nan
    rgb, note = to_rgb(Image.fromarray(arr, "F"))
    px = np.asarray(rgb)
    assert px[0, 0].tolist() == [0, 0, 0] and px[-1, -1].tolist() == [255, 255, 255]
    assert px[5, 5].tolist() == [0, 0, 0] and px[5, 6, 0] > 50
    assert "floating-point rescaled from range [-2" in note and "1 non-finite" in note


def test_constant_16_bit_image_is_mid_grey_and_said():
    rgb, note = to_rgb(Image.fromarray(np.full((4, 4), 777, np.uint16)))
    assert (np.asarray(rgb) == 128).all() and "constant value 777" in note


def test_cmyk_and_bilevel_convert():
    cmyk = decode_image(solid((20, 20), (0, 255, 255, 0), "JPEG", mode="CMYK"))
    assert cmyk.pixels[64, 64, 0] > 200 and cmyk.pixels[64, 64, 1:].max() < 60  # no cyan/magenta/yellow: red
    bilevel = decode_image(solid((20, 20), 1, "PNG", mode="1"))
    assert (bilevel.pixels[64, 64] == 255).all()


def test_one_pixel_fills_the_square_and_4000x3_is_a_thin_line():
    one = decode_image(solid((1, 1), (200, 10, 10)))
    assert (one.pixels == (200, 10, 10)).all() and (one.width, one.height) == (1, 1)
    thin = decode_image(solid((4000, 3), (10, 10, 200)))
    coloured_rows = np.where((thin.pixels != GREY).any(axis=(1, 2)))[0]
    assert coloured_rows.tolist() == [63] and "extreme aspect ratio (4000x3)" in thin.note


def test_multi_picture_jpeg_uses_draft_mode_on_its_first_picture():
    first = Image.fromarray(hc.photo(800, 600, 1))
    data = hc.encode(first, "MPO", save_all=True, append_images=[Image.new("RGB", (800, 600), (0, 0, 255))])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    out = decode_image(data, image_size=64)
    assert (out.width, out.height, out.note) == (800, 600, "first frame of 2")
    reference = np.asarray(first.resize((64, 48), Image.Resampling.LANCZOS), int)
    assert np.abs(out.pixels[8:56].astype(int) - reference).mean() < 4


def test_animated_gif_keeps_the_first_frame_and_says_so():
    frames = [Image.new("RGB", (16, 16), c) for c in ((250, 0, 0), (0, 250, 0), (0, 0, 250))]
    data = hc.encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40)
    out = decode_image(data)
    assert out.note == "first frame of 3"
    assert out.pixels[64, 64, 0] > 200 and out.pixels[64, 64, 1:].max() < 50


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"just some text", "not an image"),
    (b"%PDF-1.7\n", "not an image (PDF is not accepted)"),
    (b"%!PS-Adobe-3.0 EPSF-3.0\n", "not an image (PostScript/EPS is not accepted)"),
    (b"\xc5\xd0\xd3\xc6" + b"\0" * 40, "not an image (EPS is not accepted)"),
    (b"PK\x03\x04" + b"\0" * 40, "archive, not opened"),
    (hc.png_header_only(20000, 20000), "too large: 400 Mpx > limit 64 Mpx"),
    (hc.png_header_only(9000, 8000), "too large: 72 Mpx > limit 64 Mpx"),
])
def test_refusals_have_plain_reasons(data, reason):
    assert reject_reason(data) == reason


def test_truncated_jpeg_is_refused_and_pillow_global_left_alone():
    from PIL import ImageFile

    data = hc.jpeg(300, 200)
    assert reject_reason(data[: len(data) // 2]) == "truncated"
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_limits_are_applied():
    data = solid((100, 50), (0, 0, 0))
    assert reject_reason(data, limits=Limits(max_pixels=4000)) == "too large: 0.005 Mpx > limit 0.004 Mpx"
    assert reject_reason(data, limits=Limits(max_file_bytes=10)).startswith("file too big")
    with pytest.raises(ValueError, match="max_pixels"):
        Limits(max_pixels=0)


@pytest.mark.parametrize("name, value", [("image_size", 0), ("thumb_size", -3), ("image_size", 2.5)])
def test_bad_parameters_name_themselves(name, value):
    with pytest.raises(ValueError, match=name):
        decode_image(hc.jpeg(), **{name: value})


def test_decode_many_keeps_order_and_reports_progress():
    items = [hc.jpeg(seed=1), b"nope", solid((8, 8), (1, 2, 3)), b""]
    calls = []
    results = decode_many(items, image_size=32, progress=lambda d, t, m: calls.append((d, t)))
    assert [type(r) for r in results] == [DecodedImage, ImageRejected, DecodedImage, ImageRejected]
    assert [r.reason for r in results if isinstance(r, ImageRejected)] == ["not an image", "empty file"]
    assert results[2].pixels.shape == (32, 32, 3)
    assert calls[0] == (0, 4) and calls[-1] == (4, 4) and [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_decode_many_abandons_a_file_that_takes_too_long():
    release = threading.Event()

    def stuck() -> bytes:
        release.wait(5)
        return hc.jpeg()

    def unreadable() -> bytes:
        raise PermissionError(13, "Permission denied")

    start = time.monotonic()
    results = decode_many([stuck, hc.jpeg(seed=2), unreadable, hc.png()], limits=Limits(timeout_s=0.4))
    elapsed = time.monotonic() - start
    release.set()
    assert isinstance(results[0], ImageRejected) and results[0].reason.startswith("timed out")
    assert isinstance(results[1], DecodedImage) and isinstance(results[3], DecodedImage)
    assert results[2].reason == "could not be read (Permission denied)"
    assert elapsed < 3


def test_decode_many_reads_lazily_with_bounded_files_in_flight():
    in_flight, peak, lock = [0], [0], threading.Lock()
    data = hc.jpeg(seed=4)

    def reader() -> bytes:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.01)
        return data

    def counting_progress(done, total, message):
        with lock:
            in_flight[0] = max(0, in_flight[0] - (done - counting_progress.last))
        counting_progress.last = done
    counting_progress.last = 0

    results = decode_many([reader] * 20, workers=2, progress=counting_progress)
    assert all(isinstance(r, DecodedImage) for r in results)
    assert 1 <= peak[0] <= 4  # 2 * workers: a huge folder is never read all at once


def test_defaults_match_the_contract():
    assert (DEFAULT_IMAGE_SIZE, THUMBNAIL_SIZE) == (128, 96)
