"""The tiny image-text model: stable hashed text features, tag ranking, compositions, stars and blends."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.story import textmodel as T


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
    from explorer.io.demos import load_demo
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


# ---------------------------------------------------------------------------------------------------------
# Saying what it does not know


def test_unknown_words_are_reported_instead_of_ranked(demo_model):
    s, X, model = demo_model
    for phrase in ("asdfgh", "banana", "a photo of a banana"):
        q = T.query_images(model, phrase, X)
        assert not q.known and q.nearest == [] and not q.scores.any(), phrase
        assert T.rank_tags(model, phrase, X, s.tags) == []
    q = T.query_images(model, "a photo of a banana", X)
    assert q.unknown_words == ["banana"] and q.filler_words == ["a", "photo", "of"]
    mixed = T.query_images(model, "fist banana", X, k=5)
    assert mixed.known and mixed.unknown_words == ["banana"] and mixed.read_as == "fist"
    # the unknown word is left out, so the answer is exactly the known part's answer
    assert T.rank_tags(model, "fist banana", X, s.tags) == T.rank_tags(model, "fist", X, s.tags)
    assert T.query_images(model, "thumb", X).known  # most of its letter groups are in "thumbs"


def test_vocabulary_knows_tag_words_and_close_spellings_only():
    vocab = T.Vocabulary.of(["open palm", "thumbs up", "ok"])
    assert vocab.knows("palm") and vocab.knows("palms") and vocab.knows("ok")
    assert not vocab.knows("banana") and not vocab.knows("asdfgh") and not vocab.knows("o")


# ---------------------------------------------------------------------------------------------------------
# Captions from tags, training on a real set, zero-shot on tags never seen


@pytest.fixture(scope="module")
def real_hands(shared_data, tmp_path_factory):
    """12 photos of each of 6 signed digits (a copy of ../shared/data), embedded with hog."""
    import shutil

    from explorer.embedders import get_embedder
    from explorer.io.sources import load_source

    root = tmp_path_factory.mktemp("hands")
    for tag in "012345":
        (root / tag).mkdir()
        for path in sorted((shared_data / "sign-language-digits" / tag).glob("*"))[:12]:
            shutil.copy(path, root / tag / path.name)
    image_set = load_source(root)
    return np.asarray(get_embedder("hog").embed(image_set.pixels)), list(image_set.tags)


def test_training_on_tag_captions_lowers_the_loss_on_real_photos(real_hands):
    X, tags = real_hands
    model = T.train_on_tags(X, tags, settings=T.TextModelSettings(steps=60, batch_size=64), seed=0)
    assert np.mean(model.losses[-10:]) < np.mean(model.losses[:5]) - 0.3
    assert model.text_model == "hashed" and model.vocabulary.words == frozenset("012345")
    assert T.tag_captions("5")[:2] == ["5", "a photo of a 5"]


def test_zero_shot_measures_tags_and_images_training_never_saw(real_hands, monkeypatch):
    X, tags = real_hands
    log = []

    class Recording(T._default_encoder(T.TextModelSettings()).__class__):
        def _encode(self, texts):
            log.append(("encode", list(texts)))
            return super()._encode(texts)

    real_fit = T._fit

    def recording_fit(X_train, F, caption_ids, labels, *args):
        log.append(("fit", np.asarray(X_train).copy()))
        return real_fit(X_train, F, caption_ids, labels, *args)

    monkeypatch.setattr(T, "_fit", recording_fit)
    res = T.zero_shot(X, tags, held_out=2, encoder=Recording(), seed=1,
                      settings=T.TextModelSettings(steps=40, batch_size=64))
    held = set(res.held_out_tags)
    tags = np.asarray(tags, dtype=object)
    assert len(held) == 2 and held < set(tags)
    fit_at = [i for i, (kind, _) in enumerate(log) if kind == "fit"]
    assert len(fit_at) == 1
    trained_texts = [t for kind, texts in log[:fit_at[0]] if kind == "encode" for t in texts]
    trained_words = {w for t in trained_texts for w in T.WORD.findall(t)}
    assert trained_texts and not held & trained_words  # no caption of a held-out tag reached training
    X_train = log[fit_at[0]][1]
    unseen_rows = {X[i].tobytes() for i in np.flatnonzero(np.isin(tags, list(held)))}
    seen_test_rows = {X[i].tobytes() for i in res.seen_test_index}
    trained_rows = {row.tobytes() for row in X_train}
    assert len(X_train) == len(res.train_index) and not trained_rows & (unseen_rows | seen_test_rows)
    assert set(tags[res.unseen_index]) == held and not held & set(tags[res.seen_test_index])
    # the numbers are the share of correct top-1 answers among ALL tag names on exactly those images
    names = list(dict.fromkeys(tags))
    predicted = np.asarray(names, dtype=object)[T.classify(res.model, X, names)]
    assert res.unseen_top1 == pytest.approx(np.mean(predicted[res.unseen_index] == tags[res.unseen_index]))
    assert res.seen_top1 == pytest.approx(np.mean(predicted[res.seen_test_index] == tags[res.seen_test_index]))
    assert res.chance == pytest.approx(1 / 6) and res.unseen_only_chance == pytest.approx(1 / 2)
    held_names = list(res.held_out_tags)
    among = np.asarray(held_names, dtype=object)[T.classify(res.model, X[res.unseen_index], held_names)]
    assert res.unseen_only_top1 == pytest.approx(np.mean(among == tags[res.unseen_index]))
    assert set(res.as_json()) == {"seen_top1", "unseen_top1", "chance", "held_out_tags"}


def test_zero_shot_needs_two_tags_left_to_train_on():
    X = np.random.default_rng(0).normal(size=(12, 5))
    tags = ["a", "b", "c"] * 4
    with pytest.raises(ValueError, match="between 1 and 1"):
        T.zero_shot(X, tags, held_out=2)
    with pytest.raises(ValueError, match="held-out tags"):
        T.zero_shot(X, tags, held_out=["zzz"])


def test_separation_cli_adds_zero_shot_and_keeps_its_keys(tmp_path, capsys, monkeypatch):
    import json

    from explorer.cli import main

    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    npz = tmp_path / "hands.npz"
    assert main(["embed", "demo:hands", "--embedder", "pixels", "--out", str(npz)]) == 0
    capsys.readouterr()
    assert main(["separation", str(npz), "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert main(["separation", str(npz), "--text-model", "hashed", "--zero-shot-holdout", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == set(plain) | {"zero_shot"}
    assert {k: out[k] for k in plain if k != "notes"} == {k: plain[k] for k in plain if k != "notes"}
    zs = out["zero_shot"]
    assert set(zs) == {"seen_top1", "unseen_top1", "chance", "held_out_tags"}
    assert len(zs["held_out_tags"]) == 3 and zs["chance"] == pytest.approx(1 / 14)
    assert 0 <= zs["unseen_top1"] <= 1 and 0 <= zs["seen_top1"] <= 1
    assert any(note.startswith("zero-shot: hashed") for note in out["notes"])
    assert main(["separation", str(npz), "--zero-shot-holdout", "13", "--json"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fewer than 2" in err
