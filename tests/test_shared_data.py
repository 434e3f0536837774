"""Loading the real photo sets in ../shared/data as a folder and through the grocery manifest.

Expected counts come from listing the files here (the data README states the totals: 2,062 and 1,121).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from explorer.io.sources import load_folder, load_source

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def listed_counts(root: Path) -> Counter:
    return Counter(p.parent.name for p in root.glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES)


def non_images_at_root(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def signs_dir(shared_data):
    path = shared_data / "sign-language-digits"
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="module")
def grocery_dir(shared_data):
    path = shared_data / "grocery-subset"
    if not path.is_dir():
        pytest.skip(f"{path} not present")
    return path


@pytest.fixture(scope="module")
def grocery_folder_set(grocery_dir):
    return load_folder(grocery_dir, image_size=64)


def test_sign_language_digits_as_a_folder(signs_dir):
    loaded = load_folder(signs_dir, image_size=64)
    expected = listed_counts(signs_dir)
    assert sum(expected.values()) == 2062  # the README's total
    assert Counter(loaded.tags) == expected
    assert loaded.pixels.shape == (2062, 64, 64, 3)
    # Only the licence and readme at the root are refused, and as what they are.
    expected_skips = {name: "not an image" for name in non_images_at_root(signs_dir)}
    assert {s.file: s.reason for s in loaded.skipped} == expected_skips


def test_the_large_sign_photos_decode_at_reduced_scale_without_damage(signs_dir):
    import io

    import numpy as np
    from PIL import Image, ImageOps

    from explorer.images import decode_image

    big = [p for p in sorted((signs_dir / "7").iterdir()) if p.stat().st_size > 1_000_000]
    assert len(big) == 3  # the README's three 3024x3024 photos
    for path in big:
        data = path.read_bytes()
        out = decode_image(data, image_size=64)
        assert (out.width, out.height) == (3024, 3024)
        full = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
        reference = np.asarray(full.resize((64, 64), Image.Resampling.LANCZOS), int)
        assert np.abs(out.pixels.astype(int) - reference).mean() < 4


def test_grocery_as_a_folder(grocery_dir, grocery_folder_set):
    expected = listed_counts(grocery_dir)
    assert sum(expected.values()) == 1121
    assert Counter(grocery_folder_set.tags) == expected
    assert {s.file for s in grocery_folder_set.skipped} == non_images_at_root(grocery_dir)


def test_grocery_through_its_manifest(grocery_dir, grocery_folder_set):
    manifest = grocery_dir / "labels.csv"
    with manifest.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    loaded = load_source(str(manifest), tag_column="coarse_label", image_size=64)
    assert len(loaded) == len(rows) == 1121 and loaded.skipped == []
    assert Counter(loaded.tags) == listed_counts(grocery_dir)
    assert set(loaded.extra_tags) == {"fine_label", "top_category", "original_split", "original_path"}
    by_file = {r["file"]: r for r in rows}
    for column in ("fine_label", "top_category"):
        assert loaded.extra_tags[column] == [by_file[s][column] for s in loaded.sources]
    assert Counter(loaded.extra_tags["top_category"]) == Counter(r["top_category"] for r in rows)
    # Same bytes as the folder load: the manifest names the same files.
    assert sorted(loaded.hashes) == sorted(grocery_folder_set.hashes)
