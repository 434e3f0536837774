"""The embedder registry, the three built-in embedders and embed_set through the cache."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage.feature import hog

import explorer.embedders as emb
from explorer.io.cache import EmbeddingCache
from explorer.embedders import (EMBEDDERS, EmbedderUnavailable, available_embedders, embed_set, get_embedder,
                                pixels_grid_shape)
from explorer.imageset import ImageSet, unique_ids

REPO = Path(__file__).resolve().parents[1]
CORE = ["pixels", "color-histogram", "hog"]


def make_set(pixels: np.ndarray, tags: list[str] | None = None) -> ImageSet:
    hashes = [hashlib.sha256(p.tobytes()).hexdigest() for p in pixels]
    n = len(pixels)
    return ImageSet(ids=unique_ids(hashes), hashes=hashes, sources=[f"img{i}.png" for i in range(n)],
                    tags=tags or ["t"] * n, pixels=pixels, thumbnails=[b""] * n)


def random_pixels(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def stripes(size: int, period: int, vertical: bool, phase: int = 0) -> np.ndarray:
    line = ((np.arange(size) + phase) // (period // 2) % 2 * 255).astype(np.uint8)
    img = np.tile(line[None, :] if vertical else line[:, None], (size, 1) if vertical else (1, size))
    return np.repeat(img[..., None], 3, axis=2)


# ----- registry ---------------------------------------------------------------------------------------


def test_registry_describes_every_name_and_core_ones_are_available():
    assert set(EMBEDDERS) == {"pixels", "color-histogram", "hog", "efficientnet-lite0"}
    assert all(isinstance(d, str) and d for d in EMBEDDERS.values())
    assert set(CORE) <= set(available_embedders()) <= set(EMBEDDERS)


def test_unknown_name_is_quoted_with_the_valid_ones():
    with pytest.raises(ValueError) as info:
        get_embedder("pixles")
    assert "'pixles'" in str(info.value)
    assert all(name in str(info.value) for name in EMBEDDERS)


@pytest.mark.parametrize("name, params, word", [
    ("pixels", {"sise": 8}, "sise"),
    ("pixels", {"size": "32"}, "size"),
    ("pixels", {"size": 1}, "size"),
    ("pixels", {"grayscale": "no"}, "grayscale"),
    ("color-histogram", {"bins": True}, "bins"),
    ("color-histogram", {"bins": 100}, "bins"),
    ("hog", {"orientations": 0}, "orientations"),
    ("hog", {"size": 16, "pixels_per_cell": 16, "cells_per_block": 2}, "size"),
])
def test_bad_parameters_are_named(name, params, word):
    with pytest.raises(ValueError, match=word):
        get_embedder(name, **params)


def test_cache_key_is_stable_and_tracks_params_and_version():
    a = get_embedder("hog", orientations=12, size=32)
    b = get_embedder("hog", size=32, orientations=12)
    assert a.cache_key == b.cache_key
    assert a.cache_key != get_embedder("hog").cache_key
    assert a.cache_key.startswith("hog:v1:")
    assert get_embedder("pixels", size=np.int64(16)).params == {"size": 16, "grayscale": True}


def test_importing_embedders_does_not_import_torch():
    code = "import sys, explorer.embedders as e; e.available_embedders(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_optional_dependency_gives_the_install_hint(monkeypatch):
    monkeypatch.setattr(emb, "_missing_pretrained", lambda: ["torch"])
    with pytest.raises(EmbedderUnavailable) as info:
        get_embedder("efficientnet-lite0")
    assert isinstance(info.value, ValueError)
    assert "pip install torch==2.13.0 && pip install -r requirements-pretrained.txt" in str(info.value)
    assert "efficientnet-lite0" not in available_embedders()


@pytest.mark.parametrize("bad", [np.zeros((2, 8, 8, 3), np.float32), np.zeros((8, 8, 3), np.uint8),
                                 np.zeros((2, 8, 8, 4), np.uint8), [[1, 2, 3]]])
def test_embed_rejects_bad_pixel_arrays(bad):
    with pytest.raises(ValueError, match="pixels"):
        get_embedder("pixels").embed(bad)


@pytest.mark.parametrize("name", CORE)
def test_each_embedder_returns_float32_of_its_declared_dim(name):
    e = get_embedder(name)
    out = e.embed(random_pixels(5))
    assert out.shape == (5, e.dim) and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert e.embed(np.zeros((0, 64, 64, 3), np.uint8)).shape == (0, e.dim)


def test_progress_is_reported_per_batch_and_ends_at_total():
    e = get_embedder("pixels", size=8)
    e.batch_size = 4
    calls = []
    e.embed(random_pixels(10, 16), progress=lambda done, total, msg: calls.append((done, total)))
    assert [c[0] for c in calls] == [0, 4, 8, 10]
    assert {c[1] for c in calls} == {10}


# ----- pixels -----------------------------------------------------------------------------------------


def test_pixels_grayscale_rows_are_block_means_in_row_major_order():
    size, n = 64, 16
    rng = np.random.default_rng(3)
    gray = rng.integers(0, 256, (size, size), dtype=np.uint8)
    img = np.repeat(gray[..., None], 3, axis=2)  # R = G = B, so luma is exactly the gray value
    e = get_embedder("pixels", size=n)
    vec = e.embed(img[None])[0]
    expected = gray.reshape(n, size // n, n, size // n).mean(axis=(1, 3))
    assert vec.shape == (n * n,) and vec.min() >= 0 and vec.max() <= 255
    assert pixels_grid_shape(e) == (n, n)
    np.testing.assert_allclose(vec.reshape(pixels_grid_shape(e)), expected, atol=1e-3)
    np.testing.assert_allclose(vec[:n], expected[0], atol=1e-3)  # vector[:N] is the top row


def test_pixels_blocks_need_not_divide_the_image():
    img = np.zeros((1, 10, 10, 3), np.uint8)
    img[0, :, 5:] = 255  # left half black, right half white
    vec = get_embedder("pixels", size=3).embed(img)[0].reshape(3, 3)
    np.testing.assert_allclose(vec, [[0, 127.5, 255]] * 3, atol=1e-3)  # the middle cell straddles the edge


def test_pixels_rgb_keeps_channel_order_per_pixel():
    img = np.zeros((1, 32, 32, 3), np.uint8)
    img[0, :8, :8] = (200, 100, 50)  # top-left block only
    e = get_embedder("pixels", size=4, grayscale=False)
    vec = e.embed(img)[0]
    assert pixels_grid_shape(e) == (4, 4, 3) and vec.shape == (48,)
    assert vec[:3].tolist() == [200, 100, 50]
    assert vec[3:].max() == 0


def test_pixels_grid_shape_refuses_other_embedders():
    with pytest.raises(ValueError, match="pixels"):
        pixels_grid_shape(get_embedder("hog"))


# ----- colour histogram -------------------------------------------------------------------------------


def test_color_histogram_counts_fractions_in_the_joint_cell():
    bins = 4
    img = np.zeros((1, 16, 16, 3), np.uint8)
    img[0, :4] = (255, 0, 0)  # a quarter pure red
    img[0, 4:] = (0, 130, 255)  # the rest: g in bin 2, b in bin 3
    vec = get_embedder("color-histogram", bins=bins).embed(img)[0]
    assert vec.shape == (64,)
    red, other = (3 * bins + 0) * bins + 0, (0 * bins + 2) * bins + 3
    assert vec[red] == pytest.approx(0.25) and vec[other] == pytest.approx(0.75)
    assert np.count_nonzero(vec) == 2


def test_color_histograms_sum_to_one():
    vecs = get_embedder("color-histogram").embed(random_pixels(4))
    np.testing.assert_allclose(vecs.sum(axis=1), 1.0, rtol=1e-5)


# ----- HOG --------------------------------------------------------------------------------------------


def test_hog_matches_scikit_image_on_the_resized_gray_image():
    img = stripes(64, 8, vertical=True)
    img[20:40, 10:50] = 90
    e = get_embedder("hog", size=64)
    ours = e.embed(img[None])[0]
    ref = hog(img[..., 0] / 255.0, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
              block_norm="L2-Hys")
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


def test_hog_tells_edge_directions_apart_but_not_a_phase_shift():
    e = get_embedder("hog", size=64)
    v, v_shift, h = e.embed(np.stack([stripes(64, 8, True), stripes(64, 8, True, phase=2),
                                      stripes(64, 8, False)]))
    assert np.linalg.norm(v - v_shift) < 0.5 * np.linalg.norm(v - h)


def test_hog_threads_give_the_serial_result_in_order():
    pixels = random_pixels(20, 48, seed=7)
    serial = get_embedder("hog", size=32)
    serial.workers = 1
    threaded = get_embedder("hog", size=32)
    threaded.workers = 2
    np.testing.assert_array_equal(serial.embed(pixels), threaded.embed(pixels))


# ----- embed_set --------------------------------------------------------------------------------------


class CountingPixels(emb.PixelsEmbedder):
    """A pixels embedder that counts the images it actually embeds."""

    seen = 0

    def _embed_batch(self, batch):
        CountingPixels.seen += len(batch)
        return super()._embed_batch(batch)


def test_embed_set_without_cache_equals_embed():
    s = make_set(random_pixels(6))
    e = get_embedder("color-histogram")
    np.testing.assert_array_equal(embed_set(s, e), e.embed(s.pixels))


def test_embed_set_embeds_only_misses_and_each_content_once(tmp_path):
    pixels = random_pixels(8, 32)
    pixels[5] = pixels[1]  # same content twice
    s = make_set(pixels)
    e = CountingPixels(size=8)
    cache = EmbeddingCache(tmp_path)
    CountingPixels.seen = 0
    first = embed_set(s, e, cache=cache)
    assert CountingPixels.seen == 7
    np.testing.assert_array_equal(first, e.embed(pixels))

    CountingPixels.seen = 0
    bigger = make_set(np.concatenate([pixels, random_pixels(3, 32, seed=9)]))
    calls = []
    second = embed_set(bigger, e, cache=cache, progress=lambda d, t, m: calls.append((d, t, m)))
    assert CountingPixels.seen == 3
    np.testing.assert_array_equal(second[:8], first)
    # progress is the share of the work, silent about cache hits (other visitors' images, issue 13)
    assert calls[0][:2] == (0, 11) and calls[-1][:2] == (11, 11)
    assert not any("cache" in m for _, _, m in calls)


def test_embed_set_keeps_different_params_apart(tmp_path):
    s = make_set(random_pixels(3, 32))
    cache = EmbeddingCache(tmp_path)
    a = embed_set(s, get_embedder("pixels", size=8), cache=cache)
    b = embed_set(s, get_embedder("pixels", size=8, grayscale=False), cache=cache)
    assert a.shape == (3, 64) and b.shape == (3, 192)
