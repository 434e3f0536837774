"""explorer.workset: one record of a set and its vectors, built the same way from every source."""

from __future__ import annotations

import argparse
import csv
import zipfile
from pathlib import Path

import numpy as np
import pytest

from explorer.io.cache import EmbeddingCache
from explorer.embedders import get_embedder
from explorer.io.sources import LoadError, load_source
from explorer.io.store import save_embeddings
from explorer.io.load import load_workset
from explorer.workset import WorkSet, content_key, image_set_key, workset_key
from test_cli import jpeg_bytes

COLOURS = {"red": (200, 30, 30), "blue": (30, 30, 200)}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    for tag, base in COLOURS.items():
        (root / tag).mkdir(parents=True)
        for i in range(3):
            (root / tag / f"{tag}{i}.jpg").write_bytes(jpeg_bytes(tuple(c + 10 * i for c in base)))
    (root / "red" / "broken.jpg").write_bytes(b"not an image at all")
    return root


def zip_of(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for path in sorted(folder.rglob("*.jpg")):
            zf.write(path, path.relative_to(folder).as_posix())
    return out


def check_record(record: WorkSet, *, n: int, dim: int) -> None:
    assert len(record) == n == len(record.ids) == len(record.sources)
    assert list(record.columns)[0] == "tag" and record.tags == record.column("tag") == record.column(None)
    assert record.vectors.shape == (n, dim) and record.vectors.dtype == np.float32
    assert record.key and record.set_key and record.key != record.set_key


def test_demo_record_has_rows_tags_vectors_and_extra_columns(tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    record = load_workset("demo:hands", embedder="color-histogram", image_size=32, cache=cache)
    check_record(record, n=448, dim=get_embedder("color-histogram").dim)
    assert record.tag_columns == ["tag", "kind"] and set(record.column("kind")) == {"hand", "object"}
    assert record.images is not None and record.embedder_name == "color-histogram"
    with pytest.raises(KeyError, match="kind"):
        record.column("nope")
    again = load_workset("demo:hands", embedder="color-histogram", image_size=32, cache=cache)
    assert again.key == record.key and cache.hits == 448  # the second build read every vector back


def test_folder_zip_and_loaded_set_share_keys_and_vectors(tmp_path, folder):
    by_folder = load_workset(folder, embedder="pixels", cache=None)
    by_zip = load_workset(zip_of(folder, tmp_path / "set.zip"), embedder="pixels", cache=None)
    by_memory = load_workset(load_source(str(folder)), embedder="pixels", cache=None)
    check_record(by_folder, n=6, dim=get_embedder("pixels").dim)
    assert [s.file for s in by_folder.skipped] == ["red/broken.jpg"]
    assert by_folder.key == by_zip.key == by_memory.key
    np.testing.assert_array_equal(by_folder.vectors, by_zip.vectors)
    other = load_workset(folder, embedder="color-histogram", cache=None)
    assert other.set_key == by_folder.set_key and other.key != by_folder.key


def test_manifest_record_takes_the_chosen_tag_column(tmp_path, folder):
    manifest = folder / "list.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "colour", "shade"])
        for tag in COLOURS:
            for i in range(3):
                writer.writerow([f"{tag}/{tag}{i}.jpg", tag, "dark" if i == 0 else "light"])
    record = load_workset(manifest, embedder="pixels", tag_column="shade", cache=None)
    check_record(record, n=6, dim=get_embedder("pixels").dim)
    assert record.tags.count("dark") == 2 and record.tag_columns == ["tag", "colour"]
    by_colour = load_workset(manifest, embedder="pixels", tag_column="colour", cache=None)
    assert by_colour.set_key != record.set_key  # other tags, other set


def test_npz_record_keeps_vectors_and_has_no_images(tmp_path, folder):
    record = load_workset(folder, embedder="pixels", cache=None)
    path = save_embeddings(tmp_path / "v.npz", record.images, record.vectors, record.embedder)
    loaded = load_workset(path, embedder="hog")  # an .npz is taken as it is
    assert loaded.images is None and loaded.embedder is None and loaded.embedder_name == "pixels"
    np.testing.assert_array_equal(loaded.vectors, record.vectors)
    assert loaded.ids == record.ids and loaded.tags == record.tags
    assert loaded.key == workset_key(loaded.set_key, record.embedder.cache_key)


def test_without_embedder_rows_only_and_errors_name_the_source(tmp_path, folder):
    rows = load_workset(folder, embedder=None)
    assert rows.vectors is None and rows.set_key == image_set_key(rows.images) == rows.key
    with pytest.raises(LoadError, match="nowhere"):
        load_workset(tmp_path / "nowhere", embedder=None)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"nope")
    with pytest.raises(LoadError, match="bad.npz"):
        load_workset(bad)
    with pytest.raises(ValueError, match="no-such-embedder"):
        load_workset(folder, embedder="no-such-embedder")


def test_progress_reports_loading_and_embedding(folder):
    seen = []
    load_workset(folder, embedder="pixels", cache=None, progress=lambda d, t, m: seen.append((d, t, m)))
    assert any(t == 7 for _, t, _ in seen)  # decoding 7 files (one refused)
    assert seen[-1][0] == seen[-1][1] == 6 and "pixels" in seen[-1][2]


def test_cli_and_ui_routes_make_the_same_key_for_a_demo(tmp_path):
    from explorer.cli import load_with_vectors

    args = argparse.Namespace(source="demo:hands", embedder="hog", tag_column=None, cache_dir=str(tmp_path), no_cache=False)
    by_cli = load_with_vectors(args, None)
    images = load_source("demo:hands")
    ui_key = workset_key(image_set_key(images), get_embedder("hog").cache_key)  # what ui.workspace computes
    assert by_cli.key == ui_key
    assert by_cli.images is not None and by_cli.embedder.name == "hog" and len(by_cli.tags) == 448
    assert content_key(["a", "b"]) != content_key("a", "b")
