"""Tests of the contrastive core: gradients by finite differences, training, pairs and Wang & Isola numbers."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.distances import l2_normalize
from explorer.story import contrastive as C


def numeric_grad(f, X, eps=1e-6):
    G = np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        old = X[idx]
        X[idx] = old + eps
        up = f(X)
        X[idx] = old - eps
        down = f(X)
        X[idx] = old
        G[idx] = (up - down) / (2 * eps)
    return G


def unit_rows(rng, n, d):
    return l2_normalize(rng.normal(size=(n, d)), dtype=None)


def test_supcon_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 1, 1, 2, 0, 3])  # tag 3 has no positive: that anchor is skipped
    H = rng.normal(size=(7, 4))

    def loss_of(H_):
        return C.supcon_loss(l2_normalize(H_, dtype=None), labels, 0.5)[0]

    _, dZ = C.supcon_loss(l2_normalize(H, dtype=None), labels, 0.5)
    _, dH = C.normalize_backward(H, dZ)
    np.testing.assert_allclose(dH, numeric_grad(loss_of, H.copy()), rtol=1e-5, atol=1e-8)


def test_info_nce_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    loss, dA, dB = C.info_nce_loss(A, B, 0.3)  # gradient w.r.t. Z directly (no normalisation here)
    np.testing.assert_allclose(dA, numeric_grad(lambda A_: C.info_nce_loss(A_, B, 0.3)[0], A.copy()), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(dB, numeric_grad(lambda B_: C.info_nce_loss(A, B_, 0.3)[0], B.copy()), rtol=1e-5, atol=1e-8)


def test_info_nce_matches_direct_formula():
    rng = np.random.default_rng(2)
    A, B = unit_rows(rng, 4, 3), unit_rows(rng, 4, 3)
    tau = 0.2
    V = np.concatenate([A, B])
    total = 0.0
    for i in range(8):
        partner = (i + 4) % 8
        logits = np.array([V[i] @ V[j] / tau for j in range(8) if j != i])
        others = [j for j in range(8) if j != i]
        total += -(V[i] @ V[partner] / tau - np.log(np.exp(logits).sum()))
        assert partner in others
    assert C.info_nce_loss(A, B, tau)[0] == pytest.approx(total / 8, rel=1e-10)


def test_clip_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    labels = np.array([0, 1, 0, 2, 1])
    Zi, Zt = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    _, dI, dT = C.clip_loss(Zi, Zt, labels, 0.4)
    np.testing.assert_allclose(dI, numeric_grad(lambda X: C.clip_loss(X, Zt, labels, 0.4)[0], Zi.copy()), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(dT, numeric_grad(lambda X: C.clip_loss(Zi, X, labels, 0.4)[0], Zt.copy()), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
@pytest.mark.parametrize("loss", ["supcon", "infonce", "both"])
def test_head_backprop_matches_finite_differences(kind, loss):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(8, 5))
    twin = X + 0.1 * rng.normal(size=X.shape)
    labels = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    settings = C.TrainSettings(kind=kind, loss=loss, out_dim=3, hidden=16, temperature=0.5)
    head = C.init_head(X, kind=kind, out_dim=3, hidden=16, seed=0)
    if kind == "mlp":  # move biases off zero so ReLU kinks are not hit exactly
        head.params["b1"] += rng.normal(size=16) * 0.1
    _, grads = C.batch_loss(head, X, labels, twin, settings)
    for name, value in head.params.items():
        def loss_of(P, name=name):
            saved = head.params[name]
            head.params[name] = P
            out = C.batch_loss(head, X, labels, twin, settings)[0]
            head.params[name] = saved
            return out
        np.testing.assert_allclose(grads[name], numeric_grad(loss_of, value.copy()), rtol=1e-4, atol=1e-7,
                                   err_msg=f"{kind}/{loss}: {name}")


def clustered(seed=0, n_per=30, d=20, tags=4, noise=1.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(tags, d))
    # Most variance is in directions that do not carry the tag: a head must learn to ignore them.
    nuisance = rng.normal(size=(tags * n_per, d)) * np.r_[np.full(5, 4.0), np.full(d - 5, 0.3)]
    X = np.repeat(centres, n_per, axis=0) * 0.6 + nuisance * noise / 2
    return X, [f"t{i}" for i in np.repeat(np.arange(tags), n_per)]


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_training_lowers_the_loss_and_is_deterministic(kind):
    X, tags = clustered()
    settings = C.TrainSettings(kind=kind, steps=100, out_dim=8, hidden=32)
    calls = []
    first = C.train_head(X, tags, settings=settings, seed=3, progress=lambda d, t, m: calls.append((d, t)))
    second = C.train_head(X, tags, settings=settings, seed=3)
    assert first.losses[-1] < 0.8 * first.losses[0]
    assert first.losses == second.losses
    np.testing.assert_array_equal(first.head.transform(X), second.head.transform(X))
    assert calls[-1] == (100, 100)


def test_held_out_agreement_rises_on_nuisance_dominated_clusters():
    X, tags = clustered(seed=1, n_per=40)
    out = C.held_out_comparison(X, tags, settings=C.TrainSettings(steps=200, out_dim=8), seed=0)
    assert out.knn_after > out.knn_before + 0.1
    assert out.silhouette_after > out.silhouette_before
    assert set(out.train_index).isdisjoint(out.held_out_index)


def test_split_is_stratified_seeded_and_disjoint():
    tags = ["a"] * 10 + ["b"] * 20 + ["c"] * 1
    train, test = C.split_by_image(tags, held_out=0.3, seed=5)
    again = C.split_by_image(tags, held_out=0.3, seed=5)
    np.testing.assert_array_equal(train, again[0])
    assert sorted(np.r_[train, test].tolist()) == list(range(31))
    held = [tags[i] for i in test]
    assert held.count("a") == 3 and held.count("b") == 6 and held.count("c") == 0
    with pytest.raises(ValueError, match="held_out"):
        C.split_by_image(tags, held_out=1.5)


def test_alignment_and_uniformity_match_direct_formulas():
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(6, 3)) * 5, rng.normal(size=(6, 3))
    A, B = l2_normalize(X, dtype=None), l2_normalize(Y, dtype=None)
    direct_align = np.mean([np.sum((A[i] - B[i]) ** 2) for i in range(6)])
    assert C.alignment(X, Y) == pytest.approx(direct_align)
    pairs = [np.exp(-2 * np.sum((A[i] - A[j]) ** 2)) for i in range(6) for j in range(i + 1, 6)]
    assert C.uniformity(X) == pytest.approx(np.log(np.mean(pairs)))
    assert C.alignment(X, X * 3) == pytest.approx(0.0, abs=1e-12)


def test_uniformity_sampling_is_seeded_and_close_to_exact():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(400, 8))
    exact = C.uniformity(X)
    sampled = C.uniformity(X, max_pairs=20000, seed=1)
    assert sampled == C.uniformity(X, max_pairs=20000, seed=1)
    assert sampled == pytest.approx(exact, abs=0.02)


def test_hard_negatives_are_the_closest_other_tag():
    X = np.array([[1, 0], [0.9, 0.1], [0.8, 0.6], [0, 1], [-1, 0]], dtype=float)
    tags = ["a", "a", "b", "b", "c"]
    hn = C.hard_negatives(X, tags, k=2)
    assert hn[0].tolist() == [2, 3]
    assert hn[4, 0] == 2 or hn[4, 0] == 3
    info = C.positives_and_negatives(X, tags, 0, k=2)
    assert [i for i, _ in info["positives"]] == [1]
    assert [i for i, _ in info["hard_negatives"]] == [2, 3]
    assert info["easy_negatives"][0][0] == 4 and info["easy_negatives"][0][1] == pytest.approx(2.0)


def test_knn_agreement_is_majority_vote_of_neighbours():
    X = np.array([[1, 0], [0.99, 0.1], [0, 1], [0.1, 0.99]], dtype=float)
    assert C.knn_agreement(X, ["a", "a", "b", "b"], k=1) == 1.0
    assert C.knn_agreement(X, ["a", "b", "a", "b"], k=1) == 0.0


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ValueError, match="tags"):
        C.hard_negatives(np.ones((3, 2)), ["a", "b"])
    with pytest.raises(ValueError, match="X_twin"):
        C.alignment(np.ones((3, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="kind"):
        C.TrainSettings(kind="deep")
    with pytest.raises(ValueError, match="NaN"):
        C.train_head(np.array([[np.nan, 1.0], [1.0, 2.0]]), ["a", "b"])


def test_uniformity_memory_is_bounded_and_value_unchanged():
    """200,000 pairs of 1,280-d rows are gathered in chunks: the value equals the direct formula and the
    peak memory of a fresh process stays far below the ~4 GB the all-at-once gather took."""
    import subprocess
    import sys
    from pathlib import Path

    from explorer.story.contrastive import _pair_indices, uniformity

    X = np.random.default_rng(1).standard_normal((300, 64)).astype(np.float32)
    Z = l2_normalize(X, dtype=None)
    i, j = _pair_indices(len(Z), 200_000, 0)
    direct = np.log(np.mean(np.exp(-2.0 * np.maximum(2 - 2 * np.sum(Z[i] * Z[j], axis=1), 0))))
    assert uniformity(X) == pytest.approx(direct, abs=1e-5)
    import amplifiers

    code = amplifiers.PEAK_MB_CHILD + (
        "import numpy as np\nfrom explorer.story.contrastive import uniformity\n"
        "X = np.random.default_rng(0).standard_normal((1121, 1280)).astype(np.float32)\n"
        "uniformity(X)\nprint(peak_mb())\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) < 600  # MB
