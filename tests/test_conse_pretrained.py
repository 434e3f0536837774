"""ConSE on the real efficientnet-lite0 head and ImageNet class names; skipped without the pretrained extras."""

from __future__ import annotations

import json

import numpy as np
import pytest

import explorer.embedders as emb
from explorer.story import conse as C

MISSING = emb._missing_pretrained() + C.missing_class_names()
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"ConSE needs the pretrained extras ({', '.join(MISSING)}): {emb.PRETRAINED_HINT}")


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    """12 small drawn images in 3 tags (a folder), loaded and embedded by efficientnet-lite0 into a fresh cache."""
    from PIL import Image, ImageDraw

    from explorer.io.cache import EmbeddingCache
    from explorer.io.load import load_workset

    root = tmp_path_factory.mktemp("shapes")
    colours = {"red": (200, 30, 30), "green": (30, 160, 40), "blue": (30, 60, 200)}
    for tag, colour in colours.items():
        (root / tag).mkdir()
        for i in range(4):
            img = Image.new("RGB", (64, 64), (240, 236, 228))
            ImageDraw.Draw(img).ellipse((8 + 3 * i, 10, 50 + 2 * i, 54), fill=colour)
            img.save(root / tag / f"{tag}_{i}.png")
    cache = EmbeddingCache(tmp_path_factory.mktemp("cache"))
    return load_workset(root, embedder="efficientnet-lite0", cache=cache, decoded=None), cache, root


def test_probabilities_kept_with_the_vectors_equal_the_head_on_the_cached_features(tiny_set):
    import torch

    record, cache, _ = tiny_set
    embedder = record.embedder
    size = record.images.image_size
    features = np.stack(cache.get_many(record.images.hashes, embedder.cache_key, size))
    kept = cache.get_many(record.images.hashes, embedder.head_cache_key, size, dim=1000)
    assert all(row is not None for row in kept), "embedding filed the head's probabilities beside the vectors"
    model = emb._load_efficientnet()
    with torch.no_grad():
        want = torch.softmax(model._fc(torch.from_numpy(features)), dim=1).numpy()
    np.testing.assert_allclose(np.stack(kept), want, atol=1e-5)
    np.testing.assert_allclose(emb.set_head_probabilities(record.images, record.vectors, embedder, cache=cache),
                               want, atol=1e-5)


def test_probabilities_missing_from_the_cache_are_computed_and_filed(tiny_set, tmp_path):
    from explorer.io.cache import EmbeddingCache

    record, _, _ = tiny_set
    fresh = EmbeddingCache(tmp_path)  # vectors known, probabilities never filed here
    probs = emb.set_head_probabilities(record.images, record.vectors, record.embedder, cache=fresh)
    assert probs.shape == (12, 1000) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    again = fresh.get_many(record.images.hashes, record.embedder.head_cache_key, record.images.image_size, dim=1000)
    np.testing.assert_array_equal(np.stack(again), probs)
    with pytest.raises(ValueError, match="no ImageNet head"):
        emb.set_head_probabilities(record.images, record.vectors, emb.get_embedder("pixels"))


def test_real_class_names_and_synonyms():
    clean, synonyms = C.imagenet_class_names("clean"), C.imagenet_class_names("synonyms")
    assert len(clean) == len(synonyms) == 1000 and clean[954] == ["banana"]
    assert synonyms[953][:2] == ["pineapple", "ananas"]


def test_separation_with_conse_adds_the_promised_keys(tiny_set, tmp_path, capsys, monkeypatch):
    from explorer.cli import main

    _, cache, root = tiny_set
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(cache.root))
    argv = ["separation", str(root), "--embedder", "efficientnet-lite0", "--text-model", "hashed", "--json"]
    assert main(argv + ["--zero-shot-method", "conse", "--zero-shot-holdout", "0"]) == 0
    zs = json.loads(capsys.readouterr().out)["zero_shot"]
    assert set(zs) == {"method", "seen_top1", "unseen_top1", "harmonic_mean", "chance", "held_out_tags"}
    assert zs["method"] == "conse" and zs["seen_top1"] is None and zs["harmonic_mean"] is None
    assert zs["held_out_tags"] == [] and zs["chance"] == pytest.approx(1 / 3) and 0 <= zs["unseen_top1"] <= 1
