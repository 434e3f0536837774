"""Tests for explorer.io.sources on the generated hostile corpus and small synthetic sets."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest

import hostile_corpus as hc
from explorer.io import sources
from explorer.imageset import UNTAGGED, ImageSet
from explorer.io.sources import (LoadError, Upload, ZipLimits, display_name, load_folder, load_manifest,
                              load_source, load_uploads, load_zip)


def outcome(image_set: ImageSet) -> tuple[dict[str, str], dict[str, str]]:
    return dict(zip(image_set.sources, image_set.tags)), {s.file: s.reason for s in image_set.skipped}


def assert_matches(image_set: ImageSet, expected: hc.Expected) -> None:
    loaded, skipped = outcome(image_set)
    assert loaded == expected.loaded
    assert set(skipped) == set(expected.skipped)
    for name, fragment in expected.skipped.items():
        assert fragment in skipped[name], (name, skipped[name])
    notes = dict(zip(image_set.sources, image_set.notes))
    for name, fragment in expected.notes.items():
        assert fragment in notes[name], (name, notes[name])
    for junk in expected.ignored:
        assert junk not in loaded and junk not in skipped


@pytest.fixture(scope="module")
def hostile_set(hostile_folder):
    return load_folder(hostile_folder[0], image_size=32)


def test_hostile_folder_loads_exactly_the_good_files(hostile_folder, hostile_set):
    assert_matches(hostile_set, hostile_folder[1])
    assert hostile_set.pixels.shape == (len(hostile_folder[1].loaded), 32, 32, 3)


def test_hostile_folder_never_reads_outside_the_root(hostile_folder, hostile_set):
    secret = (hostile_folder[0].parent / "outside" / "secret.jpg").read_bytes()
    assert hashlib.sha256(secret).hexdigest() not in hostile_set.hashes


def test_hostile_folder_ids_hashes_and_untagged(hostile_folder, hostile_set):
    root = hostile_folder[0]
    i = hostile_set.sources.index("formats/a.jpg")
    assert hostile_set.hashes[i] == hashlib.sha256((root / "formats" / "a.jpg").read_bytes()).hexdigest()
    j = hostile_set.sources.index("links/to_inside.jpg")  # same bytes as formats/a.jpg
    assert hostile_set.hashes[j] == hostile_set.hashes[i] and hostile_set.ids[j] == hostile_set.ids[i] + "~2"
    assert len(set(hostile_set.ids)) == len(hostile_set)
    assert hostile_set.tag_counts()[UNTAGGED] == 1


def test_displayed_names_are_sanitised(hostile_set):
    shown = [n for n in hostile_set.sources if n.startswith("names/")]
    assert all(ch.isprintable() for n in shown for ch in n)
    assert "names/caf\ufffd_latin1.jpg" in shown


@pytest.mark.parametrize("raw, shown", [(b"a\xffb", "a\ufffdb"), ("tab\there", "tab\ufffdhere"),
                                        ("x\u202ey", "x\ufffdy"), ("caf\udce9", "caf\ufffd")])
def test_display_name(raw, shown):
    assert display_name(raw) == shown


def test_hostile_zip_from_bytes_and_from_path(tmp_path):
    data, expected = hc.build_zip()
    assert_matches(load_zip(data, name="hostile.zip", image_size=32), expected)
    path = tmp_path / "hostile.zip"
    path.write_bytes(data)
    from_path = load_zip(path, image_size=32)
    assert from_path.name == "hostile.zip"
    assert_matches(from_path, expected)


def test_zip_without_a_wrapper_folder_uses_the_first_level_as_tag():
    data = hc._simple_zip({"cats/a.jpg": hc.jpeg(seed=1), "dogs/b.jpg": hc.jpeg(seed=2),
                           "c.jpg": hc.jpeg(seed=3)})
    assert outcome(load_zip(data))[0] == {"cats/a.jpg": "cats", "dogs/b.jpg": "dogs", "c.jpg": UNTAGGED}


def test_zip_limits_refuse_from_the_central_directory():
    data = hc._simple_zip({f"t/{i}.jpg": hc.jpeg(seed=i) for i in range(5)})
    with pytest.raises(LoadError, match=r"5 entries > limit 3"):
        load_zip(data, name="many.zip", zip_limits=ZipLimits(max_entries=3))
    with pytest.raises(LoadError, match=r"many.zip: archive would expand to"):
        load_zip(data, name="many.zip", zip_limits=ZipLimits(max_total_bytes=1000))
    big = hc._simple_zip({"t/big.bmp": b"\0" * 300_000, "t/ok.jpg": hc.jpeg()})
    small_members = load_zip(big, zip_limits=ZipLimits(max_member_bytes=100_000))
    assert outcome(small_members) == ({"t/ok.jpg": "t"},
                                      {"t/big.bmp": "too big in archive: 293 KB > limit 97.7 KB"})


def test_zip_total_is_enforced_while_reading_when_headers_lie():
    members = {f"t/{i}.bmp": hc.encode(hc.Image.new("RGB", (64, 64), (i, 0, 0)), "BMP") for i in range(6)}
    data = hc._simple_zip(members, compression=zipfile.ZIP_STORED)
    for name in members:  # every header claims 10 bytes; the real members are ~12 KB each
        data = hc.patch_central(data, name, file_size=10)
    with pytest.raises(LoadError) as info:
        load_zip(data, zip_limits=ZipLimits(max_total_bytes=1000))
    assert {s.reason for s in info.value.skipped} <= {"expands beyond its declared size (zip bomb?)",
                                                     "damaged in archive (bad CRC)",
                                                     "archive expands beyond its total size limit"}
    assert len(info.value.skipped) == 6


def test_broken_archive_is_a_load_error(tmp_path):
    data = hc._simple_zip({"a/x.jpg": hc.jpeg()})
    with pytest.raises(LoadError, match="cut.zip: not a readable ZIP archive"):
        load_zip(data[: len(data) // 2], name="cut.zip")
    with pytest.raises(LoadError, match="archive not found"):
        load_zip(tmp_path / "none.zip")


def write_manifest(folder: Path, text: str, encoding: str = "utf-8") -> Path:
    path = folder / "labels.csv"
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def manifest_dir(tmp_path):
    folder = tmp_path / "set"
    (folder / "imgs").mkdir(parents=True)
    for name, seed in (("a.jpg", 1), ("b.jpg", 2), ("c.png", 3)):
        data = hc.jpeg(seed=seed) if name.endswith("jpg") else hc.png(seed=seed)
        (folder / "imgs" / name).write_bytes(data)
    (tmp_path / "outside.jpg").write_bytes(hc.jpeg(seed=9))
    return folder


def test_manifest_tags_extra_columns_and_refusals(manifest_dir):
    path = write_manifest(manifest_dir, "\n".join([
        "file,kind,colour", "imgs/a.jpg,cat,red", "imgs\\b.jpg,dog,blue", "imgs/c.png,,green",
        "imgs/missing.jpg,cat,red", "../outside.jpg,cat,red", "/etc/hostname,cat,red", "C:/x.jpg,cat,red",
        "imgs/../../outside.jpg,cat,red", "imgs/a.jpg,cat,again", ",cat,red", "imgs,cat,red"]))
    loaded = load_manifest(path, tag_column=None, image_size=32)
    assert outcome(loaded)[0] == {"imgs/a.jpg": "cat", "imgs\\b.jpg": "dog", "imgs/c.png": UNTAGGED}
    assert loaded.extra_tags == {"colour": ["red", "blue", "green"]}
    assert outcome(loaded)[1] == {
        "imgs/missing.jpg": "file not found",
        "../outside.jpg": "path leaves the manifest's folder, refused",
        "/etc/hostname": "path leaves the manifest's folder, refused",
        "C:/x.jpg": "path leaves the manifest's folder, refused",
        "imgs/../../outside.jpg": "path leaves the manifest's folder, refused",
        "imgs/a.jpg": "listed again (line 10; first on line 2)",
        "(line 11)": "no file name in this row",
        "imgs": "not a file",
    }
    by_colour = load_manifest(path, tag_column="colour", image_size=32)
    assert by_colour.tags == ["red", "blue", "green"] and by_colour.extra_tags == {"kind": ["cat", "dog", ""]}


def test_manifest_argument_errors(manifest_dir, tmp_path):
    path = write_manifest(manifest_dir, "file,kind\nimgs/a.jpg,cat\n")
    with pytest.raises(LoadError, match=r"unknown tag_column 'colour'; available columns: kind"):
        load_manifest(path, tag_column="colour")
    with pytest.raises(LoadError, match="manifest not found"):
        load_manifest(tmp_path / "nope.csv", tag_column=None)
    bad = write_manifest(manifest_dir, "file,kind\nimgs/a.jpg,caf\xe9\n", encoding="latin-1")
    with pytest.raises(LoadError, match="not UTF-8"):
        load_manifest(bad, tag_column=None)


def test_manifest_semicolons_and_path_column_detection(manifest_dir):
    path = write_manifest(manifest_dir, "label;image\ncat;imgs/a.jpg\ndog;imgs/b.jpg\n")
    assert load_manifest(path, tag_column=None).tags == ["cat", "dog"]


def test_nothing_loaded_is_a_load_error_with_the_skips(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LoadError, match="empty: no image files found"):
        load_folder(tmp_path / "empty")
    bad = tmp_path / "bad" / "t"
    bad.mkdir(parents=True)
    for i in range(3):
        (bad / f"{i}.jpg").write_bytes(b"not really")
    (bad / "x.png").write_bytes(b"")
    (bad / ".DS_Store").write_bytes(b"junk")
    with pytest.raises(LoadError) as info:
        load_folder(tmp_path / "bad")
    assert str(info.value) == "bad: no images could be loaded; 4 skipped: 3 not an image, 1 empty file"
    assert sorted(s.file for s in info.value.skipped) == ["t/0.jpg", "t/1.jpg", "t/2.jpg", "t/x.png"]


def test_uploads_with_tags_archives_and_junk():
    zipped = hc._simple_zip({"cats/a.jpg": hc.jpeg(seed=1), "b.jpg": hc.jpeg(seed=2),
                             "../c.jpg": hc.jpeg(seed=3)})
    uploads = [Upload("../../dir/x.jpg", hc.jpeg(seed=4), "hand"), Upload("y.png", hc.png(seed=5), "  "),
               Upload("bad.jpg", b"oops", "hand"), Upload(".DS_Store", b"junk", ""),
               Upload("more.zip", zipped, "object"), Upload("broken.zip", b"PK\x03\x04broken", "")]
    loaded = load_uploads(uploads, image_size=32)
    assert outcome(loaded)[0] == {"x.jpg": "hand", "y.png": UNTAGGED, "more.zip/cats/a.jpg": "cats",
                                  "more.zip/b.jpg": "object"}
    assert outcome(loaded)[1] == {"bad.jpg": "not an image", "more.zip/../c.jpg": "unsafe path in archive",
                                  "broken.zip": "not a readable ZIP archive (File is not a zip file)"}
    with pytest.raises(ValueError, match=r"uploads\[0\]"):
        load_uploads([("a.jpg", b"", "")])


def test_load_source_dispatch(tmp_path, hostile_folder, monkeypatch):
    data = hc._simple_zip({"cats/a.jpg": hc.jpeg()})
    (tmp_path / "set.zip").write_bytes(data)
    assert load_source(tmp_path / "set.zip").tags == ["cats"]
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.jpg").write_bytes(hc.jpeg())
    (tmp_path / "m.csv").write_text("path,label\nimgs/a.jpg,x\n")
    assert load_source(str(tmp_path / "m.csv"), tag_column="label").tags == ["x"]
    assert load_source(str(tmp_path / "imgs"), image_size=16).pixels.shape == (1, 16, 16, 3)
    (tmp_path / "notes.txt").write_text("x")
    for spec, kwargs, message in [(tmp_path / "nope", {}, "not found"),
                                  (tmp_path / "notes.txt", {}, "unsupported source"),
                                  (tmp_path / "imgs", {"tag_column": "x"}, "tag_column applies only")]:
        with pytest.raises(LoadError, match=message):
            load_source(spec, **kwargs)


def test_load_source_demo_calls_load_demo_and_names_the_spec(monkeypatch):
    calls = []

    def load_demo(name, *, seed=0, image_size=128):
        calls.append((name, seed, image_size))
        if name != "hands":
            raise ValueError(f"unknown demo {name!r}; available: hands")
        return "the set"
    monkeypatch.setattr(sources, "load_demo", load_demo)  # imported at the top of explorer.io.sources
    assert load_source("demo:hands", image_size=48) == "the set"
    assert calls == [("hands", 0, 48)]
    with pytest.raises(LoadError, match="demo:nope: unknown demo 'nope'"):
        load_source("demo:nope")


def test_progress_reaches_the_total(hostile_folder):
    seen = []
    loaded = load_folder(hostile_folder[0] / "formats", progress=lambda d, t, m: seen.append((d, t)))
    assert seen[-1] == (len(loaded), len(loaded)) and seen[0][0] == 0


def test_image_size_is_validated():
    with pytest.raises(ValueError, match="image_size"):
        load_uploads([Upload("a.jpg", hc.jpeg(), "")], image_size=0)
    assert np.asarray(load_uploads([Upload("a.jpg", hc.jpeg(), "")], image_size=20).pixels).shape[1] == 20
