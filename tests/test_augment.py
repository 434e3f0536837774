"""Augmentations keep shape and dtype, are seeded, and actually change the image."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.story.augment import AugmentSettings, augment, augment_batch, colour_jitter, crop_rotate_flip


def images(n=4, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def test_batch_keeps_shape_and_dtype_and_changes_pixels():
    x = images()
    y = augment_batch(x, seed=1)
    assert y.shape == x.shape and y.dtype == np.uint8
    assert all(not np.array_equal(a, b) for a, b in zip(x, y))


def test_same_seed_same_twins_other_seed_other_twins_and_order_independent():
    x = images(6)
    a, b, c = augment_batch(x, seed=3), augment_batch(x, seed=3), augment_batch(x, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(augment_batch(x[:2], seed=3), a[:2])  # a twin does not depend on batch size


def test_identity_settings_leave_the_image_unchanged():
    x = images(1)[0]
    still = AugmentSettings(crop_scale=(1.0, 1.0), flip=False, max_rotation=0.0, brightness=0.0, contrast=0.0,
                            saturation=0.0, blur_probability=0.0)
    np.testing.assert_array_equal(augment(x, np.random.default_rng(0), still), x)


def test_flip_only_mirrors_columns():
    x = images(1)[0]
    flip = AugmentSettings(crop_scale=(1.0, 1.0), flip=True, max_rotation=0.0)
    for seed in range(10):  # a flip happens with probability 1/2; look for one
        rng = np.random.default_rng(seed)
        out = crop_rotate_flip(x, rng, flip)
        if not np.array_equal(out, x):
            np.testing.assert_array_equal(out, x[:, ::-1])
            return
    pytest.fail("no flip in 10 seeds")


def test_colour_jitter_on_grey_keeps_grey():
    x = np.full((8, 8, 3), 100, np.uint8)
    out = colour_jitter(x, np.random.default_rng(0), AugmentSettings())
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="pixels"):
        augment_batch(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="crop_scale"):
        AugmentSettings(crop_scale=(0.9, 0.5))
    with pytest.raises(ValueError, match="image"):
        augment(np.zeros((8, 8, 3), np.float32), np.random.default_rng(0))
