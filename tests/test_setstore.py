"""The saved-set store: round trip, unguessable tokens, forget, LRU size cap, damaged entries."""

from __future__ import annotations

import dataclasses
import os
import time

import numpy as np
import pytest

from explorer.imageset import ImageSet, SkippedFile
from explorer.io.load import load_workset
from explorer.io.setstore import SetNotFound, SetStore, SetTooLarge, is_token, stored_precision
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


def vectors_set(seed: int, n: int, d: int, dtype=np.float32) -> WorkSet:
    vectors = np.random.default_rng(seed).normal(size=(n, d)).astype(dtype)
    ids = [f"r{i}" for i in range(n)]
    key = vectors_set_key(ids, "", vectors)
    return WorkSet(name="v.npz", key=key, set_key=key, images=None, ids=ids, sources=ids,
                   columns={"tag": ["t"] * n}, vectors=vectors, embedder_name="")


def test_a_set_that_does_not_fit_is_refused_and_evicts_nobody(tmp_path):
    """Issue 20: with the store at 50 MB one 229 KB Parquet became a 51 MB object, evicted every other
    visitor's sets and left the store above its cap (the old LRU eviction)."""
    store = SetStore(tmp_path, max_bytes=50 << 20)
    assert store.max_object_bytes <= (50 << 20) // 4 and store.max_owner_bytes <= 25 << 20
    others = [store.save(vectors_set(i, 1000, 256), owner=f"visitor{i}") for i in range(3)]  # ~1 MB each
    with pytest.raises(SetTooLarge, match=r"takes 51 MB on disk, over the limit of 12 MB for one saved set"):
        store.save(vectors_set(9, 26_000, 512), owner="attacker")  # 51 MB of float32
    assert all(store.load(t)[0].vectors.shape == (1000, 256) for t in others)
    assert store.size_bytes() <= store.max_bytes


def test_each_session_has_a_quota_and_the_store_never_passes_its_cap(tmp_path):
    store = SetStore(tmp_path, max_bytes=40 << 20, max_owner_bytes=12 << 20, max_object_bytes=5 << 20)
    mine = [store.save(vectors_set(i, 1000, 1000), owner="me") for i in range(3)]  # ~4 MB each
    with pytest.raises(SetTooLarge, match=r"this session's saved sets already take 1\d MB.*per session"):
        store.save(vectors_set(3, 1000, 1000), owner="me")
    assert store.owner_bytes("me") < 12 << 20
    kept = [store.save(vectors_set(10 + i, 1000, 1000), owner=f"v{i}") for i in range(6)]
    with pytest.raises(SetTooLarge, match="the server's set store is full"):
        for i in range(6, 20):
            kept.append(store.save(vectors_set(10 + i, 1000, 1000), owner=f"v{i}"))
    assert store.size_bytes() <= store.max_bytes
    assert all(store.load(t)[0].vectors is not None for t in mine + kept)  # nobody's set was removed
    # the same content again costs nothing new, even for a full store
    assert store.load(store.save(vectors_set(0, 1000, 1000), owner="me"))[0].vectors.shape == (1000, 1000)


def test_sets_not_opened_for_keep_days_expire_at_the_next_save(tmp_path):
    store = SetStore(tmp_path, keep_days=1)
    old = store.save(vectors_set(0, 10, 4))
    (obj,) = (tmp_path / "v1" / "objects").glob("*.npz")
    past = time.time() - 2 * 86400
    os.utime(obj, (past, past))
    new = store.save(vectors_set(1, 10, 4))
    with pytest.raises(SetNotFound, match="no longer kept"):
        store.load(old)
    assert store.load(new)[0].vectors.shape == (10, 4)


def test_vectors_are_stored_at_the_precision_they_came_in(tmp_path):
    store = SetStore(tmp_path)
    half = vectors_set(0, 500, 64, np.float16)
    token = store.save(half)
    (obj,) = (tmp_path / "v1" / "objects").glob("*.npz")
    with np.load(obj) as data:
        assert data["vectors"].dtype == np.float16
    assert obj.stat().st_size < 500 * 64 * 2 + 20_000  # not inflated to float32
    np.testing.assert_array_equal(store.load(token)[0].vectors, half.vectors.astype(np.float32))
    full = vectors_set(1, 50, 8)  # float32 values that are no float16 numbers stay float32
    store.save(full)
    assert stored_precision(full.vectors).dtype == np.float32
    assert stored_precision(np.zeros((3, 2), np.float64)).dtype == np.float16  # zeros lose nothing


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
