"""The tiny image-text model: stable hashed text features, tag ranking, compositions, stars and blends."""

from __future__ import annotations

import numpy as np
import pytest

from explorer import textmodel as T


def test_hashed_features_are_stable_normalised_and_share_words():
    a = T.hash_text_features(["Thumbs-up hand", "thumbs up hand", "ball", ""], dim=256)
    again = T.hash_text_features(["Thumbs-up hand"], dim=256)
    np.testing.assert_array_equal(a[0], again[0])  # crc32, not the per-process salted hash()
    np.testing.assert_array_equal(a[0], a[1])  # case and punctuation do not matter
    assert not a[3].any()
    cos = lambda u, v: u @ v / np.linalg.norm(u) / np.linalg.norm(v)  # noqa: E731
    both = T.hash_text_features(["fist thumbs", "fist", "thumbs", "ball"], dim=1024)
    assert cos(both[0], both[1]) > cos(both[0], both[3]) and cos(both[0], both[2]) > cos(both[0], both[3])


def test_image_texts_join_tag_and_extra_columns():
    assert T.image_texts(["fist", "ball"], {"kind": ["hand", "object"]}) == ["fist hand", "ball object"]


@pytest.fixture(scope="module")
def demo_model():
    from explorer.demos import load_demo
    from explorer.embedders import get_embedder

    s = load_demo("hands")
    X = get_embedder("pixels").embed(s.pixels)
    model = T.train_image_text(X, T.image_texts(s.tags, s.extra_tags),
                               settings=T.TextModelSettings(steps=120), seed=0)
    return s, X, model


def test_training_lowers_the_loss(demo_model):
    _, _, model = demo_model
    # The floor is not 0: ~18 images share each caption in a batch, so the soft target has entropy ~log(18).
    assert np.mean(model.losses[-10:]) < np.mean(model.losses[:5]) - 1.0


def test_each_tag_name_ranks_its_own_tag_first(demo_model):
    s, X, model = demo_model
    firsts = {tag: T.rank_tags(model, tag, X, s.tags)[0][0] for tag in s.tag_counts()}
    assert firsts == {tag: tag for tag in s.tag_counts()}


def test_a_composition_lands_between_its_concepts(demo_model):
    s, X, model = demo_model
    top_two = {tag for tag, _ in T.rank_tags(model, "fist thumbs", X, s.tags)[:2]}
    assert top_two == {"fist", "thumbs up"}
    q = T.query_images(model, "fist thumbs", X, k=10)
    assert q.known and len(q.nearest) == 10
    assert [score for _, score in q.nearest] == sorted((score for _, score in q.nearest), reverse=True)
    assert not T.query_images(model, "!!!", X).known


def test_star_position_is_the_weighted_mean_of_the_best_images():
    coords = np.array([[0.0, 0.0], [10.0, 0.0], [np.nan, np.nan], [5.0, 5.0]])
    scores = np.array([0.9, 0.9, 1.0, -1.0])
    np.testing.assert_allclose(T.star_position(coords, scores, k=2), [5.0, 0.0])  # NaN row skipped
    assert T.star_position(coords, scores, k=1)[0] in (0.0, 10.0)
    with pytest.raises(ValueError, match="coords"):
        T.star_position(coords[:2], scores)


def test_blend_of_two_tags_is_nearest_to_both():
    X = np.array([[1, 0, 0], [1, 0.1, 0], [0, 1, 0], [0.1, 1, 0], [0.7, 0.7, 0], [0, 0, 1]], dtype=float)
    tags = ["a", "a", "b", "b", "c", "d"]
    out = T.blend_tags(X, tags, "a", "b", weight=0.5, k=1)
    assert out["nearest"][0][0] == 4
    assert T.blend_tags(X, tags, "a", "b", weight=0.0, k=1)["nearest"][0][0] in (0, 1)
    with pytest.raises(ValueError, match="second"):
        T.blend_tags(X, tags, "a", "zzz")
