"""explorer.io.decoded: re-opening a folder, ZIP or upload seen before decodes nothing; damage is recomputed."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import explorer.images as images_mod
from explorer.io.decoded import DecodedCache, file_identity
from explorer.io.sources import Upload, load_folder, load_uploads, load_zip


def jpeg(seed: int, size=(60, 45)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for t, tag in enumerate(["cats", "dogs"]):
        (root / tag).mkdir(parents=True)
        for i in range(4):
            (root / tag / f"{i}.jpg").write_bytes(jpeg(10 * t + i))
    (root / "dogs" / "bad.jpg").write_bytes(b"no image here")
    return root


@pytest.fixture
def decodes(monkeypatch) -> list[int]:
    """Counts calls of the real decoder (decode_many's workers look it up in explorer.images)."""
    calls: list[int] = []
    real = images_mod.decode_image

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(images_mod, "decode_image", counting)
    return calls


def same(a, b) -> None:
    assert a.sources == b.sources and a.tags == b.tags and a.hashes == b.hashes and a.notes == b.notes
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert a.thumbnails == b.thumbnails
    assert [s.file for s in a.skipped] == [s.file for s in b.skipped]


def test_a_folder_seen_before_is_neither_decoded_nor_read(tmp_path, folder, decodes, monkeypatch):
    cache = DecodedCache(tmp_path / "cache")
    cold = load_folder(folder, image_size=32, decoded=cache)
    assert len(decodes) == 9  # 8 images and the refused file
    reads: list[str] = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: reads.append(str(path)) or real_open(path, *a, **k))
    warm = load_folder(folder, image_size=32, decoded=DecodedCache(tmp_path / "cache"))
    same(cold, warm)
    assert len(decodes) == 10  # only the refused file is tried again
    assert [Path(p).name for p in reads if str(folder) in p] == ["bad.jpg"]
    # another image size is another entry
    load_folder(folder, image_size=24, decoded=cache)
    assert len(decodes) == 19


def test_a_touched_file_is_read_again_but_a_changed_one_decoded(tmp_path, folder, decodes):
    cache = DecodedCache(tmp_path / "cache")
    load_folder(folder, image_size=32, decoded=cache)
    first = len(decodes)
    touched = folder / "cats" / "0.jpg"
    before = file_identity(touched)
    os.utime(touched, ns=(1, 1))
    assert file_identity(touched) != before
    load_folder(folder, image_size=32, decoded=cache)
    assert len(decodes) == first + 1  # same bytes: taken by content hash (only bad.jpg decodes again)
    (folder / "cats" / "1.jpg").write_bytes(jpeg(99))
    again = load_folder(folder, image_size=32, decoded=cache)
    assert len(decodes) == first + 3
    fresh = load_folder(folder, image_size=32)
    same(again, fresh)


def test_zips_and_uploads_are_taken_by_content(tmp_path, folder, decodes):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*.jpg")):
            zf.write(path, path.relative_to(folder).as_posix())
    cache = DecodedCache(tmp_path / "cache")
    cold = load_zip(archive, image_size=32, decoded=cache)
    n = len(decodes)
    warm = load_zip(archive, image_size=32, decoded=cache)
    same(cold, warm)
    assert len(decodes) == n + 1  # bad.jpg only
    uploads = [Upload(p.name, p.read_bytes(), "pets") for p in sorted(folder.rglob("*.jpg")) if p.name != "bad.jpg"]
    load_uploads(uploads, image_size=32, decoded=cache)
    assert len(decodes) == n + 1 and cache.decodes_saved == 16


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_entry_is_decoded_again_and_healed(tmp_path, folder, decodes, damage):
    cache = DecodedCache(tmp_path / "cache")
    cold = load_folder(folder, image_size=32, decoded=cache)
    (pack,) = [p for p in (tmp_path / "cache").rglob("*.pack") if "decoded" in p.parent.name]
    raw = bytearray(pack.read_bytes())
    if damage == "flip":
        raw[-5] ^= 0xFF  # inside the last row's pixels
    else:
        raw = raw[:-100]
    pack.write_bytes(bytes(raw))
    n = len(decodes)
    again = load_folder(folder, image_size=32, decoded=DecodedCache(tmp_path / "cache"))
    same(cold, again)
    redone = len(decodes) - n - 1  # minus bad.jpg
    assert redone == (1 if damage == "flip" else 8)
    load_folder(folder, image_size=32, decoded=DecodedCache(tmp_path / "cache"))
    assert len(decodes) == n + redone + 2  # healed: only bad.jpg again


def test_a_warm_cli_embed_decodes_nothing(tmp_path, folder, decodes, capsys):
    from explorer.cli import main

    args = ["embed", str(folder), "--embedder", "pixels", "--cache-dir", str(tmp_path / "c")]
    assert main(args + ["--out", str(tmp_path / "a.npz")]) == 0
    n = len(decodes)
    assert main(args + ["--out", str(tmp_path / "b.npz")]) == 0
    assert len(decodes) == n + 1  # the refused file only
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(a["vectors"], b["vectors"])
    assert main(args + ["--out", str(tmp_path / "c.npz"), "--no-cache"]) == 0
    assert len(decodes) == n + 1 + 9  # --no-cache: no decoded cache either
