"""The .npz vectors files: round trip, the public array names, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorer.embedders import get_embedder
from explorer.imageset import ImageSet
from explorer.io.store import load_embeddings, save_embeddings


def small_set(n: int = 3) -> ImageSet:
    ids = [f"{i:016x}" for i in range(n)]
    return ImageSet(ids=ids, hashes=ids, sources=[f"größe/{i} ✋.jpg" for i in range(n)],
                    tags=["open palm", "fist", "ok"][:n], pixels=np.zeros((n, 4, 4, 3), np.uint8),
                    thumbnails=[b""] * n, extra_tags={"kind": ["hand"] * n, "fine label": list("abc")[:n]})


def test_round_trip_keeps_every_column(tmp_path):
    s = small_set()
    vectors = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    e = get_embedder("pixels", size=2)
    path = save_embeddings(tmp_path / "v.npz", s, vectors, e)
    f = load_embeddings(path)
    assert (f.ids, f.sources, f.tags) == (s.ids, s.sources, s.tags)
    assert f.vectors.dtype == np.float32 and f.vectors.shape == (3, 4)
    np.testing.assert_allclose(f.vectors, vectors, rtol=1e-6)
    assert f.embedder == "pixels" and f.embedder_key == e.cache_key
    assert f.extra_tags == s.extra_tags
    assert [p.name for p in tmp_path.iterdir()] == ["v.npz"], "no temporary file is left"


def test_public_array_names_and_no_pickle(tmp_path):
    path = save_embeddings(tmp_path / "v.npz", small_set(), np.ones((3, 2), np.float32), "hog")
    with np.load(path, allow_pickle=False) as data:
        assert {"ids", "sources", "tags", "vectors", "embedder", "tag__kind", "tag__fine label"} <= set(data.files)
        assert data["ids"].dtype.kind == "U" and data["vectors"].dtype == np.float32
    assert load_embeddings(path).embedder == "hog" and load_embeddings(path).embedder_key is None


def test_empty_set_round_trips(tmp_path):
    s = small_set(0)
    f = load_embeddings(save_embeddings(tmp_path / "e.npz", s, np.zeros((0, 5), np.float32)))
    assert f.ids == [] and f.vectors.shape == (0, 5) and f.embedder is None


@pytest.mark.parametrize("vectors", [np.ones((2, 4)), np.ones(3), np.array([["a"] * 2] * 3)])
def test_save_rejects_vectors_that_do_not_fit(tmp_path, vectors):
    with pytest.raises(ValueError, match="vectors"):
        save_embeddings(tmp_path / "v.npz", small_set(), vectors)
    assert not (tmp_path / "v.npz").exists()


def good_arrays() -> dict:
    return {"ids": np.array(["a", "b"]), "sources": np.array(["a.png", "b.png"]), "tags": np.array(["x", "y"]),
            "vectors": np.ones((2, 3), np.float32)}


def write_npz(path: Path, **changes) -> Path:
    arrays = {**good_arrays(), **changes}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize("case, problem", [
    ("missing file", "no such file"),
    ("random bytes", "not an .npz"),
    ("empty file", "empty file"),
    ("truncated", "not a readable"),
    ("pickled ids", "pickled"),
    ("no vectors", "vectors"),
    ("1-D vectors", "2-D"),
    ("integer vectors", "floating"),
    ("short tags", "'tags' has 1 entries"),
    ("numeric ids", "'ids' must be a 1-D text array"),
    ("folder", "folder"),
])
def test_bad_files_raise_value_error_naming_file_and_problem(tmp_path, case, problem):
    path = tmp_path / "bad.npz"
    if case == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(300))
    elif case == "empty file":
        path.write_bytes(b"")
    elif case == "truncated":
        raw = write_npz(tmp_path / "ok.npz").read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
    elif case == "pickled ids":
        write_npz(path, ids=np.array([{"x": 1}, None], dtype=object))
    elif case == "no vectors":
        write_npz(path, vectors=None)
    elif case == "1-D vectors":
        write_npz(path, vectors=np.ones(2, np.float32))
    elif case == "integer vectors":
        write_npz(path, vectors=np.ones((2, 3), np.int64))
    elif case == "short tags":
        write_npz(path, tags=np.array(["x"]))
    elif case == "numeric ids":
        write_npz(path, ids=np.array([1, 2]))
    elif case == "folder":
        path.mkdir()
    with pytest.raises(ValueError) as info:
        load_embeddings(path)
    assert str(path) in str(info.value)
    assert problem in str(info.value)
