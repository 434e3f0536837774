"""Tests for the built-in demo sets: contract, determinism, and that demo:hands shows its point by measure."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage.feature import hog
from sklearn.datasets import load_digits
from sklearn.metrics import silhouette_score

from explorer.io.demos import DEMOS, GESTURES, OBJECTS, PER_CLASS, load_demo


@pytest.fixture(scope="module")
def hands():
    return load_demo("hands", seed=0, image_size=128)


@pytest.fixture(scope="module")
def digits():
    return load_demo("digits", image_size=32)


# ------------------------------------------------------------------------------------------ the contract


@pytest.mark.parametrize("name, quoted", [("handz", "'handz'"), ("", "''"), (3, "3")])
def test_unknown_name_is_quoted_and_valid_names_listed(name, quoted):
    with pytest.raises(ValueError) as err:
        load_demo(name)
    message = str(err.value)
    assert f"unknown demo {quoted};" in message
    for valid in DEMOS:
        assert valid in message


@pytest.mark.parametrize("kwargs, parameter", [
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"image_size": 4}, "image_size"),
    ({"image_size": "128"}, "image_size"), ({"progress": 3}, "progress"),
])
def test_bad_parameters_are_named(kwargs, parameter):
    with pytest.raises(ValueError, match=parameter):
        load_demo("hands", **kwargs)


def test_every_listed_demo_has_a_description():
    assert set(DEMOS) == {"digits", "hands"}
    assert all(isinstance(d, str) and d for d in DEMOS.values())


# ------------------------------------------------------------------------------------------------ digits


def test_digits_match_scikit_learn(digits):
    target = load_digits().target
    assert len(digits) == len(target) == 1797
    assert digits.tags == [str(t) for t in target]
    assert digits.tag_counts() == {str(d): int(np.sum(target == d)) for d in dict.fromkeys(target)}
    assert digits.pixels.shape == (1797, 32, 32, 3) and digits.pixels.dtype == np.uint8
    assert digits.name == "demo:digits"
    assert digits.sources[7] == "digits/0007.png"


def _shrink_to_8(grey: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(grey.astype(np.uint8)).resize((8, 8), Image.Resampling.BOX), float)


def test_digits_are_grey_dark_ink_that_keeps_the_8x8_content(digits):
    px = digits.pixels.astype(np.int16)
    assert np.array_equal(px[..., 0], px[..., 1]) and np.array_equal(px[..., 1], px[..., 2])
    original = load_digits().images[:50]
    shrunk = np.stack([_shrink_to_8(p[..., 0]) for p in px[:50]])
    # Ink (high sklearn values) is dark; the upscaled image shrinks back to a close match of the original.
    corr = np.corrcoef(original.ravel(), shrunk.ravel())[0, 1]
    assert corr < -0.9


def test_digit_hashes_follow_pixel_content(digits):
    by_bytes: dict[bytes, str] = {}
    for pixels, h in zip(digits.pixels[:300], digits.hashes[:300]):
        assert by_bytes.setdefault(pixels.tobytes(), h) == h
    assert len(set(digits.hashes[:300])) == len(by_bytes)
    assert len(set(digits.ids)) == len(digits)


def test_identical_images_share_a_hash_and_get_distinct_ids(digits):
    from explorer.io.demos import _image_set

    twice = np.stack([digits.pixels[0], digits.pixels[0], digits.pixels[1]])
    made = _image_set(twice, ["a", "b", "c"], ["0", "0", "1"], "t")
    assert made.hashes[0] == made.hashes[1] != made.hashes[2]
    assert made.ids[1] == made.ids[0] + "~2"


# ------------------------------------------------------------------------------------------------- hands


def test_hands_classes_counts_and_kinds(hands):
    assert len(GESTURES) >= 6 and len(OBJECTS) >= 4
    assert hands.tag_counts() == {t: PER_CLASS for t in (*GESTURES, *OBJECTS)}
    assert 200 <= len(hands) <= 1000
    kind_of = dict(zip(hands.tags, hands.extra_tags["kind"]))
    assert kind_of == {**{g: "hand" for g in GESTURES}, **{o: "object" for o in OBJECTS}}
    assert hands.name == "demo:hands"
    assert hands.sources[0] == "hands/open-palm/0000.png"
    assert all(s.startswith(f"hands/{t.replace(' ', '-')}/") and s.endswith(".png")
               for s, t in zip(hands.sources, hands.tags))


def test_hands_pixels_thumbnails_and_ids(hands):
    assert hands.pixels.shape == (len(hands), 128, 128, 3) and hands.pixels.dtype == np.uint8
    assert len(set(hands.ids)) == len(hands) == len(set(hands.hashes))
    thumb = Image.open(io.BytesIO(hands.thumbnails[0]))
    assert thumb.format == "JPEG" and max(thumb.size) <= 96
    assert all(len(t) < 20_000 for t in hands.thumbnails)


def test_same_seed_gives_identical_pixels_and_other_seeds_differ(hands):
    again = load_demo("hands", seed=0, image_size=128)
    assert np.array_equal(again.pixels, hands.pixels)
    assert again.hashes == hands.hashes and again.thumbnails == hands.thumbnails
    other = load_demo("hands", seed=1, image_size=128)
    assert other.tags == hands.tags
    assert not any(np.array_equal(a, b) for a, b in zip(other.pixels, hands.pixels))


@pytest.mark.parametrize("size", [16, 72])
def test_image_size_is_respected_and_progress_reaches_the_total(size):
    calls = []
    small = load_demo("hands", seed=3, image_size=size, progress=lambda d, t, m: calls.append((d, t, m)))
    assert small.pixels.shape == (len(GESTURES + OBJECTS) * PER_CLASS, size, size, 3)
    # Something is drawn: the centre differs from the corners in every image.
    middle = slice(size // 3, 2 * size // 3)
    centre = small.pixels[:, middle, middle].astype(float).mean(axis=(1, 2))
    corner = small.pixels[:, : size // 6, : size // 6].astype(float).mean(axis=(1, 2))
    assert np.all(np.abs(centre - corner).max(axis=1) > 3)
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1] == len(small)
    assert all(isinstance(m, str) and m for _, _, m in calls)


def test_skin_tones_vary_and_each_object_kind_comes_in_many_colours(hands):
    centre = np.median(hands.pixels[:, 56:72, 56:72].reshape(len(hands), -1, 3), axis=1)
    tags = np.array(hands.tags)
    spread = {t: float(centre[tags == t].std(axis=0).mean()) for t in (*GESTURES, *OBJECTS)}
    assert min(spread[t] for t in OBJECTS) > 20, spread
    # Skin ranges from very light to very dark, so the palm colour varies within every gesture too.
    assert min(spread[t] for t in GESTURES) > 15, spread


# ----------------------------------------------------------------------------------- the essay's point


def _grey(pixels: np.ndarray, side: int) -> np.ndarray:
    image = Image.fromarray(pixels).convert("L").resize((side, side), Image.Resampling.BILINEAR)
    return np.asarray(image, np.float32) / 255.0


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _knn_agreement(x: np.ndarray, tags: np.ndarray, k: int = 10) -> float:
    """Leave-one-out share of the k cosine-nearest neighbours that carry the same tag."""
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    nearest = np.argsort(-sim, axis=1)[:, :k]
    return float((tags[nearest] == tags[:, None]).mean())


def _separation(x: np.ndarray, tags: np.ndarray) -> tuple[float, float]:
    """(kNN agreement above chance, scaled so 0 = chance and 1 = perfect; cosine silhouette)."""
    chance = 1.0 / len(set(tags))
    agreement = _knn_agreement(x, tags)
    return (agreement - chance) / (1 - chance), float(silhouette_score(x, tags, metric="cosine"))


@pytest.fixture(scope="module")
def embeddings(hands):
    pixels = _unit(np.stack([_grey(p, 32).ravel() for p in hands.pixels]))
    hogs = _unit(np.stack([hog(_grey(p, 64)) for p in hands.pixels]))
    colour = np.stack([np.concatenate([c.mean(0), c.std(0)]) for c in
                       hands.pixels[:, 32:96, 32:96].reshape(len(hands), -1, 3).astype(np.float32)])
    colour = _unit((colour - colour.mean(0)) / colour.std(0))
    return {"pixels": pixels, "hog": hogs, "colour": colour}


def _by_group(hands, x):
    tags, kinds = np.array(hands.tags), np.array(hands.extra_tags["kind"])
    return {g: _separation(x[kinds == g], tags[kinds == g]) for g in ("hand", "object")}


def test_objects_separate_better_than_gestures_on_hog(hands, embeddings):
    figures = _by_group(hands, embeddings["hog"])
    print("hog (kNN above chance, silhouette):", figures)
    (hand_knn, hand_sil), (obj_knn, obj_sil) = figures["hand"], figures["object"]
    assert obj_knn > hand_knn + 0.2
    assert obj_sil > hand_sil


def test_gestures_overlap_in_hog_space_but_are_not_noise(hands, embeddings):
    # Gestures do differ (which fingers are out), so neighbours agree above chance, but far from cleanly.
    hand_knn, hand_sil = _by_group(hands, embeddings["hog"])["hand"]
    assert 0.0 < hand_knn < 0.5
    assert hand_sil < 0.05


def test_objects_are_told_apart_by_shape_not_colour(hands, embeddings):
    shape_knn = _by_group(hands, embeddings["hog"])["object"][0]
    colour_knn = _by_group(hands, embeddings["colour"])["object"][0]
    print("objects kNN above chance: hog", shape_knn, "colour", colour_knn)
    assert colour_knn < 0.25 < shape_knn


def test_raw_pixel_figures_are_reported(hands, embeddings):
    figures = _by_group(hands, embeddings["pixels"])
    print("pixels (kNN above chance, silhouette):", figures)
    # Raw pixels see mostly background; objects still come out ahead on neighbour agreement.
    assert figures["object"][0] > figures["hand"][0]
