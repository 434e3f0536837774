"""The embedding disk cache: hits, keys, damaged entries, merging, concurrent writers, unwritable folders."""

from __future__ import annotations

import hashlib
import multiprocessing
import warnings
from pathlib import Path

import numpy as np
import pytest

import explorer.io.cache as cache_mod
from explorer.io.cache import EmbeddingCache, default_cache_dir
from explorer.embedders import embed_set, get_embedder
from explorer.imageset import ImageSet, unique_ids

KEY = "test:v1:{}"


def vec_for(h: str, dim: int = 16) -> np.ndarray:
    """A vector determined by the hash, so any process can check what it should read back."""
    seed = int(hashlib.sha256(h.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def hashes(prefix: str, n: int) -> list[str]:
    return [hashlib.sha256(f"{prefix}{i}".encode()).hexdigest() for i in range(n)]


def packs(root: Path) -> list[Path]:
    return sorted(root.rglob("*.pack"))


def test_default_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("EXPLORER_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "feature-space-explorer"


def test_round_trip_and_misses(tmp_path):
    c = EmbeddingCache(tmp_path)
    hs = hashes("a", 5)
    assert c.put_many(hs, KEY, 128, np.stack([vec_for(h) for h in hs])) == 5
    got = c.get_many(hs + ["unknown"], KEY, 128)
    assert all(np.array_equal(g, vec_for(h)) and g.dtype == np.float32 for g, h in zip(got, hs))
    assert got[5] is None
    assert (c.hits, c.misses) == (5, 1)
    assert not list(tmp_path.rglob(".tmp-*")), "no temporary files are left behind"


def test_entries_are_keyed_by_embedder_key_image_size_and_dim(tmp_path):
    c = EmbeddingCache(tmp_path)
    c.put("h", KEY, 128, vec_for("h"))
    assert c.get("h", KEY, 64) is None
    assert c.get("h", "other:v1:{}", 128) is None
    assert c.get_many(["h"], KEY, 128, dim=8) == [None]
    assert np.array_equal(c.get_many(["h"], KEY, 128, dim=16)[0], vec_for("h"))


def test_a_damaged_entry_is_a_miss_and_the_rest_survive(tmp_path):
    c = EmbeddingCache(tmp_path)
    hs = hashes("d", 4)
    c.put_many(hs, KEY, 128, np.stack([vec_for(h) for h in hs]))
    (pack,) = packs(tmp_path)
    data = bytearray(pack.read_bytes())
    data[-1] ^= 0xFF  # last byte of the last row's vector
    pack.write_bytes(bytes(data))
    got = c.get_many(hs, KEY, 128)
    assert got[3] is None and c.corrupt == 1
    assert all(np.array_equal(g, vec_for(h)) for g, h in zip(got[:3], hs[:3]))
    # The damaged pack was rewritten without the bad row: the good rows are still served, nothing is corrupt.
    again = EmbeddingCache(tmp_path)
    assert [g is None for g in again.get_many(hs, KEY, 128)] == [False, False, False, True]
    assert again.corrupt == 0


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_partial_or_foreign_pack_is_never_fatal(tmp_path, damage):
    c = EmbeddingCache(tmp_path)
    hs = hashes("p", 3)
    c.put_many(hs, KEY, 128, np.stack([vec_for(h) for h in hs]))
    (pack,) = packs(tmp_path)
    raw = pack.read_bytes()
    pack.write_bytes({"truncate": raw[:-7], "garbage": b"\x00junk" * 40, "empty": b""}[damage])
    assert c.get_many(hs, KEY, 128) == [None, None, None]
    assert c.corrupt == 1
    c.put_many(hs, KEY, 128, np.stack([vec_for(h) for h in hs]))
    assert all(np.array_equal(g, vec_for(h)) for g, h in zip(c.get_many(hs, KEY, 128), hs))


def test_embed_set_recomputes_a_damaged_entry(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    hs = [hashlib.sha256(p.tobytes()).hexdigest() for p in pixels]
    s = ImageSet(ids=unique_ids(hs), hashes=hs, sources=["a", "b", "c"], tags=["t"] * 3, pixels=pixels,
                 thumbnails=[b""] * 3)
    e, c = get_embedder("pixels", size=4), EmbeddingCache(tmp_path)
    truth = embed_set(s, e, cache=c)
    (pack,) = packs(tmp_path)
    data = bytearray(pack.read_bytes())
    data[-5] ^= 0x55
    pack.write_bytes(bytes(data))
    again = embed_set(s, e, cache=EmbeddingCache(tmp_path))
    np.testing.assert_array_equal(again, truth)


def test_many_small_writes_are_merged_without_loss(tmp_path):
    c = EmbeddingCache(tmp_path)
    all_hashes = []
    for i in range(cache_mod.MERGE_THRESHOLD + 4):
        hs = hashes(f"m{i}-", 3)
        all_hashes += hs
        c.put_many(hs, KEY, 128, np.stack([vec_for(h) for h in hs]))
    assert len(packs(tmp_path)) < cache_mod.MERGE_THRESHOLD
    got = c.get_many(all_hashes, KEY, 128)
    assert all(g is not None and np.array_equal(g, vec_for(h)) for g, h in zip(got, all_hashes))


def _writer(root: str, prefix: str, shared: list[str]) -> None:
    c = EmbeddingCache(root)
    own = hashes(prefix, 60)
    # Interleave own and shared entries in many small writes so both processes merge packs too.
    for i in range(0, 60, 3):
        hs = own[i:i + 3] + shared[i // 3:i // 3 + 1]
        c.put_many(hs, KEY, 128, np.stack([vec_for(h) for h in hs]))


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    shared = hashes("shared", 20)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), p, shared)) for p in ("x", "y")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    expected = hashes("x", 60) + hashes("y", 60) + shared
    c = EmbeddingCache(tmp_path)
    got = c.get_many(expected, KEY, 128)
    assert sum(g is None for g in got) == 0
    assert all(np.array_equal(g, vec_for(h)) for g, h in zip(got, expected))
    assert c.corrupt == 0


def test_unwritable_folder_warns_and_continues(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    c = EmbeddingCache(blocker / "cache")
    pixels = np.zeros((2, 8, 8, 3), np.uint8)
    pixels[1] = 255
    hs = ["h0", "h1"]
    s = ImageSet(ids=hs, hashes=hs, sources=hs, tags=["t", "t"], pixels=pixels, thumbnails=[b"", b""])
    with pytest.warns(RuntimeWarning, match="not writable"):
        out = embed_set(s, get_embedder("pixels", size=2), cache=c)
    assert out[0].max() == 0 and out[1].min() == 255
    assert c.writable is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once, not on every call
        assert c.put("h2", KEY, 8, np.ones(3)) == 0
