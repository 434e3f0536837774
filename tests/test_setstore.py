"""The saved-set store: round trip, unguessable tokens, forget, LRU size cap, damaged entries."""

from __future__ import annotations

import dataclasses
import json
import os
import time

import numpy as np
import pytest

from explorer.imageset import ImageSet, SkippedFile
from explorer.io.setstore import SetNotFound, SetStore, is_token
from explorer.io.load import load_workset
from explorer.workset import WorkSet, vectors_set_key


def image_set(n: int = 5, seed: int = 0, size: int = 8) -> ImageSet:
    rng = np.random.default_rng(seed)
    hashes = [f"{seed:02d}{i:062d}" for i in range(n)]
    return ImageSet(ids=[h[:16] for h in hashes], hashes=hashes, sources=[f"img{i}.png" for i in range(n)],
                    tags=["a" if i % 2 else "b" for i in range(n)],
                    pixels=rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8),
                    thumbnails=[bytes(rng.integers(0, 255, 10 + i, dtype=np.uint8)) for i in range(n)],
                    notes=[""] * (n - 1) + ["first frame of 3"], extra_tags={"kind": ["x"] * n},
                    skipped=[SkippedFile("bad.jpg", "truncated")], name="uploads")


INFO = {"origin": "upload", "batches": [[5, "a"]]}


def saved_images(seed: int = 0, n: int = 5) -> WorkSet:
    return load_workset(image_set(n, seed), embedder=None)


def test_round_trip_of_a_set_with_pictures(tmp_path):
    store = SetStore(tmp_path)
    original = saved_images()
    token = store.save(original, info=INFO)
    assert is_token(token) and len(token) >= 32
    back, info = store.load(token)
    assert back.name == "uploads" and info == INFO and back.vectors is None
    assert back.columns == original.columns and back.ids == original.ids
    assert back.key == back.set_key == original.set_key
    im, orig = back.images, original.images
    np.testing.assert_array_equal(im.pixels, orig.pixels)
    assert im.thumbnails == orig.thumbnails and im.hashes == orig.hashes and im.notes == orig.notes
    assert im.extra_tags == orig.extra_tags and im.skipped == orig.skipped
    assert back.skipped == [SkippedFile("bad.jpg", "truncated")]


def test_round_trip_of_vectors_without_pictures(tmp_path):
    store = SetStore(tmp_path)
    vectors = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    key = vectors_set_key(list("abcd"), "hog", vectors)
    token = store.save(WorkSet(name="v.npz", key=key, set_key=key, images=None, ids=list("abcd"),
                               sources=list("abcd"), columns={"tag": list("xxyy")}, vectors=vectors,
                               embedder_name="hog"))
    back, info = store.load(token)
    assert info == {} and back.key == key
    np.testing.assert_array_equal(back.vectors, vectors)
    assert back.images is None and back.embedder_name == "hog"


def test_tokens_are_random_and_content_is_stored_once(tmp_path):
    store = SetStore(tmp_path)
    t1, t2 = store.save(saved_images()), store.save(saved_images())
    assert t1 != t2
    assert len(list((tmp_path / "v1" / "objects").glob("*.npz"))) == 1
    # forgetting one token keeps the object for the other
    assert store.forget(t1)
    with pytest.raises(SetNotFound):
        store.load(t1)
    assert store.load(t2)[0].name == "uploads"
    assert store.forget(t2)
    assert list((tmp_path / "v1" / "objects").glob("*.npz")) == []
    assert not store.forget(t2)


@pytest.mark.parametrize("token", ["", "../../etc/passwd", "a" * 10, "x" * 40, "A/B" * 8, None])
def test_unknown_or_malformed_tokens_raise_set_not_found(tmp_path, token):
    store = SetStore(tmp_path)
    store.save(saved_images())
    with pytest.raises(SetNotFound, match="not"):
        store.load(token)


def test_size_cap_evicts_the_least_recently_used(tmp_path):
    first = SetStore(tmp_path)
    t0 = first.save(saved_images(0, n=20))
    one = first.size_bytes()
    store = SetStore(tmp_path, max_bytes=int(one * 2.5))
    t1 = store.save(saved_images(1, n=20))
    old = time.time() - 100
    digest = json.loads((tmp_path / "v1" / "tokens" / f"{t1}.json").read_text())["object"]
    os.utime(tmp_path / "v1" / "objects" / f"{digest}.npz", (old, old))
    store.load(t0)  # t0 is now the most recently used; t1 is the oldest
    t2 = store.save(saved_images(2, n=20))
    assert store.size_bytes() <= store.max_bytes
    assert store.load(t0)[0].images is not None and store.load(t2)[0].images is not None
    with pytest.raises(SetNotFound, match="no longer kept"):
        store.load(t1)


def test_a_damaged_object_is_a_clear_error_and_is_removed(tmp_path):
    store = SetStore(tmp_path)
    token = store.save(saved_images())
    (obj,) = (tmp_path / "v1" / "objects").glob("*.npz")
    obj.write_bytes(obj.read_bytes()[:200])
    with pytest.raises(SetNotFound, match="damaged"):
        store.load(token)
    assert not obj.exists()
    with pytest.raises(SetNotFound):
        store.load(token)


def test_mismatched_columns_are_refused(tmp_path):
    good = saved_images()
    bad = dataclasses.replace(good, sources=good.sources[:-1])
    with pytest.raises(ValueError, match="disagree"):
        SetStore(tmp_path).save(bad)
