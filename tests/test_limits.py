"""Issue 13: resource limits that hold for any input (decode memory, concurrent decodes, archives, .npz)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import amplifiers
from explorer import images, limits
from explorer.images import ImageRejected, decode_image, decode_many

REPO = Path(__file__).resolve().parents[1]
# Peak RSS of a child decoding one file, imports included (numpy + Pillow alone are ~60 MB). Before
# issue 13 these files took 2.0-2.9 GB (float64 rescaling and compositing of the full-size image).
DECODE_BUDGET_MB = 400

CHILD = amplifiers.PEAK_MB_CHILD + r"""
sys.path.insert(0, sys.argv[1])
from explorer.images import ImageRejected, decode_image
data = open(sys.argv[2], "rb").read()
try:
    out = decode_image(data)
    print("decoded", out.pixels.shape, out.note)
except ImageRejected as exc:
    print("refused", exc.reason)
print(peak_mb())
"""


@pytest.fixture(scope="module")
def big_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big")
    return {"png16": amplifiers.write_png16(folder / "png16.png", 8000, 8000),
            "tiff": amplifiers.write_float_tiff(folder / "f32.tif", 8000, 8000),
            "png16-48": amplifiers.write_png16(folder / "png16-48.png", 8000, 6000),
            "tiff-48": amplifiers.write_float_tiff(folder / "f32-48.tif", 8000, 6000),
            "rgba": amplifiers.write_png_rgba(folder / "rgba.png", 8000, 8000)}


def peak_of_decoding(path: Path) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(REPO), str(path)], capture_output=True, text=True,
                         timeout=120, check=True)
    *lines, peak = out.stdout.strip().splitlines()
    return "\n".join(lines), int(peak)


@pytest.mark.parametrize("case, what", [("png16-48", "16-bit rescaled from range [0, 65535]"),
                                        ("tiff-48", "floating-point rescaled from range [-0.99975, 0.99975]"),
                                        ("rgba", "transparency composited onto grey")])
def test_decoding_a_large_wide_or_transparent_image_stays_in_budget(big_files, case, what):
    assert big_files[case].stat().st_size < 5 * 2**20  # a small file ...
    result, peak = peak_of_decoding(big_files[case])
    assert result.startswith("decoded (128, 128, 3)") and what in result  # ... decoded, not refused
    assert peak < DECODE_BUDGET_MB, f"{case}: peak {peak} MB"


@pytest.mark.parametrize("case, what", [("png16", "16-bit"), ("tiff", "floating-point")])
def test_wide_modes_have_a_lower_pixel_limit_checked_from_the_header(big_files, case, what):
    result, peak = peak_of_decoding(big_files[case])
    assert result == f"refused too large: 64 Mpx > limit 48 Mpx for {what} images"
    assert peak < 150


def test_band_conversion_keeps_the_rescaling_and_its_notes():
    from PIL import Image
    import io

    values = np.linspace(-2.0, 6.0, 900 * 1300, dtype=np.float32).reshape(900, 1300)
    values[3, 3], values[5, 5] = np.nan, -np.inf
    buf = io.BytesIO()
    Image.fromarray(values, "F").save(buf, "TIFF")
    out = decode_image(buf.getvalue())
    assert "floating-point rescaled from range [-2, 6]" in out.note and "2 non-finite values shown black" in out.note
    # top rows dark (low values), bottom rows bright: the bands were stitched in order
    assert out.pixels[20:30, :, 0].mean() < 40 and out.pixels[-30:-20, :, 0].mean() > 215


def test_decodes_share_a_server_wide_limit(monkeypatch):
    """Two loads at once (two sessions) never run more than DECODE_SLOTS decodes together."""
    active, peak, lock = [0], [0], threading.Lock()

    def slow_decode(data, **kwargs):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        raise ImageRejected("test")

    monkeypatch.setattr(images, "decode_image", slow_decode)
    threads = [threading.Thread(target=decode_many, args=([b"x"] * 12,), kwargs={"workers": 3})
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == limits.DECODE_SLOTS


def test_every_limit_is_a_named_positive_constant():
    names = dict(limits.describe())
    assert {"IMAGE_MAX_PIXELS", "IMAGE_MAX_PIXELS_WIDE", "DECODE_SLOTS", "SESSION_MAX_IMAGES",
            "SESSION_MAX_DECODED_BYTES", "NPZ_MAX_ROWS", "NPZ_MAX_BYTES", "ZIP_MAX_ENTRIES"} <= set(names)
    assert all(v > 0 for v in names.values())
    assert images.DEFAULT_LIMITS.max_pixels == limits.IMAGE_MAX_PIXELS
    assert limits.IMAGE_MAX_PIXELS_WIDE < limits.IMAGE_MAX_PIXELS


# --- archives and .npz ------------------------------------------------------------------------------------

def test_upload_allowance_counts_zip_members_from_the_directory_before_decoding(tmp_path, monkeypatch):
    import explorer.io.sources as sources

    monkeypatch.setattr(sources, "decode_many", lambda *a, **k: pytest.fail("decoded before the count"))
    data = amplifiers.tiny_png_zip(tmp_path / "t.zip", 40).read_bytes()
    uploads = [sources.Upload("t.zip", data), sources.Upload("x.png", amplifiers.tiny_png(3))]
    with pytest.raises(sources.AllowanceExceeded) as info:
        sources.load_uploads(uploads, max_images=30)
    assert str(info.value) == "these uploads hold 41 images (t.zip: 40), more than the 30 images still allowed"
    with pytest.raises(sources.AllowanceExceeded, match=r"t\.zip: 40\), 1\.9 MB once decoded, more than the 1\.0 MB"):
        sources.load_uploads(uploads, max_decoded_bytes=2**20)


def test_npz_shape_is_checked_from_the_header_before_reading(tmp_path, monkeypatch):
    from explorer.io import store

    path = amplifiers.npz_declaring(tmp_path / "big.npz", 20_000, 64)
    monkeypatch.setattr(store.np, "load", lambda *a, **k: pytest.fail("read before the header check"))
    with pytest.raises(ValueError) as info:
        store.load_embeddings(path.read_bytes(), name="big.npz", max_rows=10_000)
    assert str(info.value) == "big.npz: declares 20,000 x 64 vectors, over the limit of 10,000 rows"
    with pytest.raises(ValueError, match=r"^big\.npz: declares 20,000 x 64 vectors, over the limit of 32 dim"):
        store.load_embeddings(path, name="big.npz", max_dims=32)
    with pytest.raises(ValueError, match=r"^big\.npz: declares 5 MiB of arrays, over the limit of 1 MiB$"):
        store.load_embeddings(path, name="big.npz", max_bytes=2**20)


def test_npz_non_finite_rows_are_left_out_and_reported(tmp_path):
    from explorer.io import store

    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    vectors[1, 0], vectors[3, 2] = np.nan, -np.inf
    np.savez(tmp_path / "v.npz", ids=np.array(list("abcd")), sources=np.array(["a.png", "b.png", "c.png", "d.png"]),
             tags=np.array(list("xyxy")), vectors=vectors, tag__kind=np.array(list("pqrs")))
    kept = store.load_embeddings(tmp_path / "v.npz", drop_non_finite=True)
    assert kept.ids == ["a", "c"] and kept.tags == ["x", "x"] and kept.extra_tags == {"kind": ["p", "r"]}
    assert np.array_equal(kept.vectors, vectors[[0, 2]])
    assert [(s.file, s.reason) for s in kept.skipped] == [("b.png", store.NON_FINITE_REASON),
                                                          ("d.png", store.NON_FINITE_REASON)]
    assert len(store.load_embeddings(tmp_path / "v.npz")) == 4  # the command line keeps every row


# --- small sets -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tags", [list("aba"), list("aaaaa"), list("ab") * 3, list("ab") * 4])
def test_held_out_comparison_on_a_set_too_small_to_hold_out_trains_on_all_with_a_note(tags):
    from explorer.story import contrastive as C

    X = np.random.default_rng(len(tags)).normal(size=(len(tags), 6))
    out = C.held_out_comparison(X, tags, settings=C.TrainSettings(steps=10, out_dim=4))
    n_tags = len(set(tags))
    assert out.note.startswith(f"Only {len(tags)} images in {n_tags} tag{'s' if n_tags > 1 else ''}:")
    assert out.knn_before is None and out.silhouette_after is None and out.n_held_out == 0
    assert out.n_train == len(tags) and out.result.head.transform(X).shape == (len(tags), 4)


def test_held_out_comparison_measures_once_three_images_can_be_held_out():
    from explorer.story import contrastive as C

    tags = list("abc") * 4
    X = np.random.default_rng(0).normal(size=(12, 6))
    out = C.held_out_comparison(X, tags, settings=C.TrainSettings(steps=10, out_dim=4))
    assert out.note == "" and out.n_held_out >= C.MIN_HELD_OUT and out.knn_before is not None
