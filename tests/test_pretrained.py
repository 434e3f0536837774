"""The optional pretrained CNN embedder (efficientnet-lite0); skipped when torch or its packages are absent."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import explorer.embedders as emb

MISSING = emb._missing_pretrained()
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"efficientnet-lite0 needs {', '.join(MISSING)}: {emb.PRETRAINED_HINT}")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIZE = 128


def drawn(kind: str, dx: int = 0) -> np.ndarray:
    """A simple shape on a plain background, moved ``dx`` pixels to the right."""
    img = Image.new("RGB", (SIZE, SIZE), (235, 230, 220))
    d = ImageDraw.Draw(img)
    box = (30 + dx, 30, 98 + dx, 98)
    if kind == "disc":
        d.ellipse(box, fill=(200, 40, 40))
    elif kind == "square":
        d.rectangle(box, fill=(40, 60, 200))
    elif kind == "cross":
        d.line((box[0], box[1], box[2], box[3]), fill=(20, 20, 20), width=9)
        d.line((box[0], box[3], box[2], box[1]), fill=(20, 20, 20), width=9)
    elif kind == "stripes":
        for x in range(0, SIZE, 12):
            d.rectangle((x + dx, 0, x + dx + 5, SIZE), fill=(30, 140, 30))
    elif kind == "ring":
        d.ellipse(box, outline=(230, 160, 0), width=10)
    return np.asarray(img)


KINDS = ["disc", "square", "cross", "stripes", "ring"]


@pytest.fixture(scope="module")
def embedder():
    return emb.get_embedder("efficientnet-lite0")


@pytest.fixture(scope="module")
def shapes(embedder):
    pixels = np.stack([drawn(k) for k in KINDS] + [drawn(k, dx=4) for k in KINDS])
    return embedder.embed(pixels)


def test_registered_as_available():
    assert "efficientnet-lite0" in emb.available_embedders()


def test_shape_dtype_and_relu6_range(shapes):
    assert shapes.shape == (10, 1280) and shapes.dtype == np.float32
    assert np.isfinite(shapes).all()
    assert shapes.min() >= 0.0 and shapes.max() <= 6.0  # averages of ReLU6 outputs
    assert shapes.std(axis=0).max() > 0.01, "features vary between images"


def test_deterministic(embedder, shapes):
    again = embedder.embed(np.stack([drawn(k) for k in KINDS[:2]]))
    np.testing.assert_allclose(again, shapes[:2], rtol=1e-4, atol=1e-5)


def test_a_shifted_copy_is_nearer_than_any_other_shape(shapes):
    unit = shapes / np.linalg.norm(shapes, axis=1, keepdims=True)
    originals, shifted = unit[:5], unit[5:]
    sims = shifted @ originals.T
    assert (sims.argmax(axis=1) == np.arange(5)).all(), sims.round(3)


def test_loads_and_runs_offline(monkeypatch, embedder):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(emb, "_model", None)  # force a fresh load from the packaged weights file
    out = embedder.embed(drawn("disc")[None])
    assert out.shape == (1, 1280)


def test_batches_report_progress():
    small_batches = emb.get_embedder("efficientnet-lite0")
    small_batches.batch_size = 2
    calls = []
    small_batches.embed(np.stack([drawn("ring")] * 3), progress=lambda d, t, m: calls.append((d, t)))
    assert calls == [(0, 3), (2, 3), (3, 3)]


@pytest.mark.skipif(not (DATA / "grocery-subset").is_dir(), reason=f"real photos not found at {DATA}")
def test_real_photos_neighbour_their_own_kind(embedder):
    kinds = ["Banana", "Milk", "Tomato"]
    pixels, labels = [], []
    for kind in kinds:
        files = sorted((DATA / "grocery-subset" / kind).rglob("*.jpg"))[:3]
        for f in files:
            with Image.open(f) as im:
                pixels.append(np.asarray(im.convert("RGB").resize((SIZE, SIZE))))
            labels.append(kind)
    vecs = embedder.embed(np.stack(pixels))
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    nearest = [labels[j] for j in sims.argmax(axis=1)]
    agreement = np.mean([a == b for a, b in zip(nearest, labels)])
    assert agreement >= 0.75, list(zip(labels, nearest))
