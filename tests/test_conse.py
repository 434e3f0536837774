"""ConSE, the generalised zero-shot measures and text search, on synthetic ImageNet probabilities.

The ImageNet class names are replaced by made-up ones (``fake_classes``) so these run without the
pretrained extras; tests/test_conse_pretrained.py checks the real head and names.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from explorer.distances import l2_normalize
from explorer.story import conse as C
from explorer.story import search as S
from explorer.story import textmodel as T
from explorer.story import zeroshot as Z
from explorer.story.text_encoders import WORD, HashedTextEncoder

WORDS = ["apple", "banana", "carrot", "melon", "grape", "onion", "lemon", "cherry"]


@pytest.fixture
def fake_classes(monkeypatch):
    """1000 classes: class i is named after WORDS[i % 8] ("apple 0", "banana 1", ...), synonyms "X fruit"."""
    clean = [[f"{WORDS[i % 8]} {i}"] for i in range(1000)]
    synonyms = [[f"{WORDS[i % 8]} {i}", f"{WORDS[i % 8]} fruit"] for i in range(1000)]
    monkeypatch.setattr(C, "imagenet_class_names", lambda kind="clean": clean if kind == "clean" else synonyms)


def probs_for(labels: np.ndarray, *, seed: int = 0, sharp: float = 6.0) -> np.ndarray:
    """ImageNet-like probabilities: an image of word w puts most mass on classes named after w."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (len(labels), 1000))
    logits[np.arange(1000)[None, :] % 8 == labels[:, None]] += sharp
    P = np.exp(logits - logits.max(axis=1, keepdims=True))
    return P / P.sum(axis=1, keepdims=True)


def test_conse_vector_is_the_probability_weighted_mean_of_the_top_t_classes():
    rng = np.random.default_rng(0)
    V = l2_normalize(rng.normal(size=(1000, 16)), dtype=np.float64)
    P = probs_for(np.array([0, 3]))
    got = C.conse_vectors(P, V, top_t=3)
    for i in range(2):
        top = np.argsort(-P[i])[:3]
        want = (P[i, top, None] * V[top]).sum(axis=0)
        np.testing.assert_allclose(got[i], want / np.linalg.norm(want), atol=1e-12)
    np.testing.assert_allclose(C.conse_vectors(P, V, top_t=1000), l2_normalize(P @ V, dtype=np.float64), atol=1e-12)
    with pytest.raises(ValueError, match="1000 columns"):
        C.conse_vectors(P[:, :10], V)
    with pytest.raises(ValueError, match="probabilities"):
        C.conse_vectors(P * 2, V)


def test_settings_are_validated_once():
    assert C.ConseSettings().top_t == 10  # the paper's T
    for bad in ({"top_t": 0}, {"top_t": 1001}, {"top_t": True}, {"names": "gpt"}, {"tag_templates": ("no slot",)},
                {"class_templates": ()}):
        with pytest.raises(ValueError):
            C.ConseSettings(**bad)


def test_conse_classifies_tags_it_was_never_trained_on(fake_classes):
    labels = np.repeat(np.arange(4), 20)
    P = probs_for(labels)
    model = C.ConseModel.build(HashedTextEncoder(512))
    names = ["apple", "banana", "carrot", "melon"]
    assert np.mean(model.classify(P, names) == labels) > 0.9  # words shared with class names, nothing trained


def test_class_and_phrase_vectors_are_encoded_once_and_cached(fake_classes, tmp_path):
    from explorer.io.cache import EmbeddingCache

    calls = []

    class Counting(HashedTextEncoder):
        def _encode(self, texts):
            calls.append(len(texts))
            return super()._encode(texts)

    cache = EmbeddingCache(tmp_path)
    first = C.class_text_vectors(Counting(256), cache=cache)
    assert sum(calls) == 1000
    again = C.class_text_vectors(Counting(256), cache=cache)  # a new encoder: its memory is empty, the disk is not
    assert sum(calls) == 1000 and np.allclose(first, again)
    assert first.shape == (1000, 256) and np.allclose(np.linalg.norm(first, axis=1), 1)


def test_settings_are_chosen_on_the_images_given_only(fake_classes):
    labels = np.repeat(np.arange(4), 10)
    P = probs_for(labels, sharp=3.0)
    tags = np.asarray(WORDS, dtype=object)[labels]
    model = C.ConseModel.build(HashedTextEncoder(512))
    candidates = [C.ConseSettings(top_t=t) for t in (1, 50)]
    choice = C.choose_settings(model, P, tags, candidates=candidates)
    accs = [np.mean(C.ConseModel.build(HashedTextEncoder(512), s).classify(P, WORDS[:4]) == labels) for s in candidates]
    assert choice.train_top1 == pytest.approx(max(accs)) and choice.tried == 2
    assert choice.settings == candidates[int(np.argmax(accs))] and choice.tags_used == WORDS[:4]


def test_harmonic_mean_and_the_gate():
    assert Z.harmonic_mean(0.9, 0.3) == pytest.approx(0.45) and Z.harmonic_mean(0, 0) == 0
    assert Z.harmonic_mean(None, 0.5) is None
    rng = np.random.default_rng(0)
    train = rng.normal(size=(50, 8)) + 4 * np.eye(8)[[0] * 40 + [2] * 10]  # two trained tags, two regions
    near, far = train[:5] + 0.01 * rng.normal(size=(5, 8)), rng.normal(size=(5, 8)) + 4 * np.eye(8)[1]
    nov = Z.novelty(train, np.vstack([near, far]))
    assert nov[:5].max() < nov[5:].min()
    train_tags = ["a"] * 40 + ["b"] * 10
    gate = Z.calibrate_gate(train, train_tags, seen_floor=0.72)
    loo = Z.novelty(train, train, exclude_self=True)
    assert gate["nearest_agreement"] >= 0.8 and gate["keep_seen"] == pytest.approx(0.72 / gate["nearest_agreement"])
    assert np.mean(loo <= gate["threshold"]) == pytest.approx(gate["keep_seen"], abs=0.03)
    with pytest.raises(ValueError, match="seen_floor"):
        Z.calibrate_gate(train, train_tags, seen_floor=1.0)
    picked = Z.gate_predict(np.array(["s"] * 10, dtype=object), np.array(["u"] * 10, dtype=object), nov, gate["threshold"])
    assert list(picked[5:]) == ["u"] * 5


def recorded_run(monkeypatch, method: str, held_out=2, seed: int = 3):
    """Run ``Z.evaluate`` with every training, settings-choice and calibration step recorded."""
    log = []
    real = {"train": Z.train_on_tags, "choose": Z.choose_settings, "gate": Z.calibrate_gate}

    class Recording(HashedTextEncoder):
        def _encode(self, texts):
            log.append(("encode", list(texts)))
            return super()._encode(texts)

    def train(X, tags, **kw):
        log.append(("train", np.asarray(X).copy(), list(tags)))
        return real["train"](X, tags, **kw)

    def choose(model, P, tags, **kw):
        log.append(("choose-start", np.asarray(P).copy(), list(tags)))
        out = real["choose"](model, P, tags, **kw)
        log.append(("choose-end",))
        return out

    def gate(X_train, tags_train, **kw):
        log.append(("gate", np.asarray(X_train).copy(), list(tags_train)))
        return real["gate"](X_train, tags_train, **kw)

    monkeypatch.setattr(Z, "train_on_tags", train)
    monkeypatch.setattr(Z, "choose_settings", choose)
    monkeypatch.setattr(Z, "calibrate_gate", gate)
    labels = np.repeat(np.arange(6), 12)
    tags = np.asarray(WORDS, dtype=object)[labels]
    P = probs_for(labels, seed=1)
    X = np.random.default_rng(2).normal(size=(len(labels), 12)) + 3 * np.eye(12)[labels]
    encoder = Recording(512)
    model = C.ConseModel(encoder, C.ConseSettings(), C.class_text_vectors(encoder))
    log.clear()
    res = Z.evaluate(method, tags=tags, held_out=held_out, X=X, probs=P, encoder=encoder, conse=model, seed=seed,
                     settings=T.TextModelSettings(steps=20, batch_size=32))
    return res, log, X, P, tags


@pytest.mark.parametrize("method", ["conse", "combined"])
def test_held_out_tags_never_reach_training_choice_or_calibration(fake_classes, monkeypatch, method):
    res, log, X, P, tags = recorded_run(monkeypatch, method)
    held = set(res.held_out_tags)
    assert len(held) == 2
    split = T.zero_shot_split(tags, 2, seed=3)
    assert set(split.unseen_tags) == held
    forbidden = {X[i].tobytes() for i in np.concatenate([split.unseen, split.seen_test])}
    forbidden_p = {P[i].tobytes() for i in np.concatenate([split.unseen, split.seen_test])}
    steps = [e[0] for e in log]
    assert "choose-start" in steps and ("train" in steps) == (method == "combined") and ("gate" in steps) == (method == "combined")
    class_texts = {t.format(n) for kind in C.NAME_KINDS for group in C.imagenet_class_names(kind) for n in group
                   for templates in C.CANDIDATE_CLASS_TEMPLATES for t in templates}
    inside_choice, chosen_among = False, set()
    for entry in log:
        kind = entry[0]
        if kind == "choose-start":
            inside_choice = True
            assert not held & set(entry[2]) and not {row.tobytes() for row in entry[1]} & forbidden_p
            assert len(entry[1]) == len(split.train)
        elif kind == "choose-end":
            inside_choice = False
        elif kind == "encode" and inside_choice:  # the tag names the settings were chosen among
            tag_texts = [t for t in entry[1] if t not in class_texts]
            chosen_among.update(w for t in tag_texts for w in WORD.findall(t))
            assert not {w for t in tag_texts for w in WORD.findall(t)} & held, tag_texts[:5]
        elif kind == "train":
            assert not held & set(entry[2]) and not {row.tobytes() for row in entry[1]} & forbidden
        elif kind == "gate":
            assert not {row.tobytes() for row in entry[1]} & forbidden and len(entry[1]) == len(split.train)
            assert not held & set(entry[2])
    assert set(split.seen_tags) <= chosen_among  # the check above did see the seen tags' names
    assert res.n_train == len(split.train) and res.n_unseen == len(split.unseen)
    assert 0 <= res.unseen_top1 <= 1 and 0 <= res.seen_top1 <= 1 and res.chance == pytest.approx(1 / 6)


def test_pure_zero_shot_trains_nothing_and_reports_top1_over_all_tags(fake_classes, monkeypatch):
    res, log, _, P, tags = recorded_run(monkeypatch, "conse", held_out=0)
    assert [e[0] for e in log if e[0] != "encode"] == []  # no training, no choice, no calibration
    assert res.seen_top1 is None and res.harmonic_mean is None and res.held_out_tags == []
    names = list(dict.fromkeys(tags))
    model = C.ConseModel(HashedTextEncoder(512), C.ConseSettings(), C.class_text_vectors(HashedTextEncoder(512)))
    assert res.unseen_top1 == pytest.approx(np.mean(np.asarray(names, dtype=object)[model.classify(P, names)] == tags))
    assert set(res.to_json()) == {"method", "seen_top1", "unseen_top1", "harmonic_mean", "chance", "held_out_tags"}
    with pytest.raises(ValueError, match="0 is for conse"):
        Z.evaluate("combined", tags=tags, held_out=0, X=np.ones((len(tags), 3)), probs=P)


def test_search_finds_by_name_then_tag_then_meaning(fake_classes):
    labels = np.repeat(np.arange(3), 4)
    P = probs_for(labels)
    names = [f"shelf/{WORDS[c]}_{i:02d}.jpg" for i, c in enumerate(labels)]
    columns = {"tag": [WORDS[c] for c in labels], "colour": ["red"] * 6 + ["green"] * 6}
    model = C.ConseModel.build(HashedTextEncoder(512))
    by_name = S.search("BANANA_05", names=names, columns=columns, conse=model, probs=P)
    assert (by_name.kind, by_name.rows, by_name.total) == ("name", [5], 1) and "Name match" in by_name.message
    by_tag = S.search(" Carrot ", names=names, columns=columns, conse=model, probs=P, k=3)
    assert (by_tag.kind, by_tag.column, by_tag.rows, by_tag.total) == ("tag", "tag", [8, 9, 10], 4)
    assert "3 of 4" in by_tag.message
    assert S.search("green", names=names, columns=columns).column == "colour"
    by_text = S.search("a ripe banana", names=names, columns=columns, conse=model, probs=P, k=4)
    assert by_text.kind == "text" and sorted(by_text.rows) == [4, 5, 6, 7] and "ConSE" in by_text.method
    assert by_text.scores == sorted(by_text.scores, reverse=True)
    assert S.search("  ", names=names, columns=columns).kind == "empty"
    assert S.search("ripe", names=names, columns=columns).method == "no text model"


def test_search_with_the_trained_model_reports_unknown_words():
    from explorer.embedders import get_embedder
    from explorer.io.demos import load_demo

    s = load_demo("hands")
    X = get_embedder("pixels").embed(s.pixels)
    model = T.train_on_tags(X, s.tags, settings=T.TextModelSettings(steps=60), seed=0)
    names, columns = list(s.sources), {"tag": list(s.tags)}
    res = S.search("a fist please", names=names, columns=columns, model=model, X=X, k=5)
    assert res.kind == "text" and "trained image-text model (hashed" in res.method
    assert res.unknown_words == ["please"] and "Unknown words: please" in res.message
    assert S.search("zebra", names=names, columns=columns, model=model, X=X).kind == "unknown"


def test_separation_cli_zero_shot_method_contract(tmp_path, capsys, monkeypatch):
    from explorer.cli import main

    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    npz = tmp_path / "hands.npz"
    assert main(["embed", "demo:hands", "--embedder", "pixels", "--out", str(npz)]) == 0
    capsys.readouterr()
    assert main(["separation", str(npz), "--zero-shot-method", "projections", "--zero-shot-holdout", "3",
                 "--json"]) == 0
    zs = json.loads(capsys.readouterr().out)["zero_shot"]
    assert set(zs) == {"method", "seen_top1", "unseen_top1", "harmonic_mean", "chance", "held_out_tags"}
    assert zs["method"] == "projections" and zs["harmonic_mean"] == pytest.approx(
        Z.harmonic_mean(zs["seen_top1"], zs["unseen_top1"]))
    for argv, words in ((["--zero-shot-method", "conse", "--zero-shot-holdout", "0"], "efficientnet-lite0"),
                        (["--zero-shot-method", "combined", "--zero-shot-holdout", "0"], "pure zero-shot")):
        assert main(["separation", str(npz), *argv, "--json"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err
