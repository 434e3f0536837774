"""Contrastive learning on embedding vectors: pairs, Wang & Isola quality numbers, and a numpy projection head.

Shapes: ``X`` is (n, d) float vectors from an embedder, ``tags`` a length-n sequence of strings. The head is
trained in numpy with hand-written gradients (checked by finite differences in the tests), Adam, minibatches
and a seed, so it runs anywhere the app runs and gives the same result twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from explorer.distances import as_matrix, l2_normalize
from explorer.measures import knn_tag_agreement, separation
from explorer.imageset import tag_codes
from explorer.progress import ProgressCallback, report
from explorer.words import plural

EPS = 1e-12


# ---------------------------------------------------------------------------------------------------------
# Validation and small geometry helpers


def _as_matrix(X, name: str = "X") -> np.ndarray:
    """Finite, non-empty float64 vectors (``explorer.distances.as_matrix`` with this module's rules)."""
    return as_matrix(X, name, dtype=np.float64, finite=True, min_rows=1)


def as_tags(tags: Sequence[str], n: int, name: str = "tags") -> np.ndarray:
    tags = np.asarray([str(t) for t in tags], dtype=object)
    if len(tags) != n:
        raise ValueError(f"{name} has {len(tags)} entries but there are {n} vectors")
    return tags


# ---------------------------------------------------------------------------------------------------------
# Pairs


def cosine_to(X: np.ndarray, anchor: int) -> np.ndarray:
    """Cosine similarity of every row of X (n, d) to row ``anchor`` -> (n,)."""
    Z = l2_normalize(_as_matrix(X), dtype=None)
    if not 0 <= anchor < len(Z):
        raise ValueError(f"anchor must be a row index in [0, {len(Z)}), got {anchor}")
    return Z @ Z[anchor]


def positives_and_negatives(X, tags: Sequence[str], anchor: int, *, k: int = 5) -> dict:
    """The ``k`` closest same-tag images (positives) and the ``k`` hardest negatives of one anchor.

    Hard negatives are images with a different tag that are the most similar (cosine) to the anchor.
    Returns ``{"positives": [(index, cosine_distance)], "hard_negatives": [...], "easy_negatives": [...]}``,
    each list sorted by distance (easy negatives: the farthest different-tag images).
    """
    X = _as_matrix(X)
    tags = as_tags(tags, len(X))
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    dist = 1.0 - cosine_to(X, anchor)
    same = tags == tags[anchor]
    same[anchor] = False
    pos = np.flatnonzero(same)
    neg = np.flatnonzero(tags != tags[anchor])
    pos = pos[np.argsort(dist[pos], kind="stable")][:k]
    neg_sorted = neg[np.argsort(dist[neg], kind="stable")]
    as_list = lambda idx: [(int(i), float(dist[i])) for i in idx]  # noqa: E731
    return {"positives": as_list(pos), "hard_negatives": as_list(neg_sorted[:k]),
            "easy_negatives": as_list(neg_sorted[::-1][:k])}


def hard_negatives(X, tags: Sequence[str], *, k: int = 1) -> np.ndarray:
    """For every row, the ``k`` most cosine-similar rows with a different tag -> (n, k) int64 (-1 if none)."""
    Z = l2_normalize(_as_matrix(X), dtype=None)
    tags = as_tags(tags, len(Z))
    codes, _ = tag_codes(tags)
    out = np.full((len(Z), k), -1, dtype=np.int64)
    for start in range(0, len(Z), 1024):  # blocked so memory stays (1024, n)
        sim = Z[start:start + 1024] @ Z.T
        sim[codes[start:start + 1024, None] == codes[None, :]] = -np.inf
        top = np.argsort(-sim, axis=1, kind="stable")[:, :k]
        valid = np.isfinite(np.take_along_axis(sim, top, axis=1))
        out[start:start + 1024] = np.where(valid, top, -1)
    return out


def twin_distances(X, X_twin) -> np.ndarray:
    """Cosine distance between each image and its augmented twin: (n,) for X, X_twin (n, d)."""
    A, B = l2_normalize(_as_matrix(X), dtype=None), l2_normalize(_as_matrix(X_twin, "X_twin"), dtype=None)
    if A.shape != B.shape:
        raise ValueError(f"X_twin must have the shape of X {A.shape}, got {B.shape}")
    return 1.0 - np.sum(A * B, axis=1)


def pair_distance_samples(X, tags: Sequence[str], *, max_pairs: int = 20000, seed: int = 0) -> dict:
    """Cosine distances of same-tag and different-tag pairs (all pairs, or a seeded sample when many).

    Returns ``{"same": (m1,) array, "different": (m2,) array, "sampled": bool}``.
    """
    Z = l2_normalize(_as_matrix(X), dtype=None)
    codes, _ = tag_codes(as_tags(tags, len(Z)))
    i, j = _pair_indices(len(Z), max_pairs, seed)
    d = 1.0 - np.sum(Z[i] * Z[j], axis=1)
    same = codes[i] == codes[j]
    return {"same": d[same], "different": d[~same], "sampled": len(i) < len(Z) * (len(Z) - 1) // 2}


def _pair_indices(n: int, max_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    total = n * (n - 1) // 2
    if total <= max_pairs:
        return np.triu_indices(n, k=1)
    rng = np.random.default_rng(seed)
    i = rng.integers(0, n, size=max_pairs)
    j = (i + rng.integers(1, n, size=max_pairs)) % n  # never i == j
    return i, j


# ---------------------------------------------------------------------------------------------------------
# Wang & Isola (ICML 2020): alignment and uniformity on the unit sphere


def alignment(X, X_twin, *, alpha: float = 2.0) -> float:
    """E ||f(x) - f(y)||^alpha over positive pairs (row i of X with row i of X_twin), L2-normalised first.

    0 means twins land on the same point; 4 (alpha=2) means they are antipodal. Lower is better.
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    A, B = l2_normalize(_as_matrix(X), dtype=None), l2_normalize(_as_matrix(X_twin, "X_twin"), dtype=None)
    if A.shape != B.shape:
        raise ValueError(f"X_twin must have the shape of X {A.shape}, got {B.shape}")
    return float(np.mean(np.linalg.norm(A - B, axis=1) ** alpha))


PAIR_CHUNK = 8192  # pairs gathered at a time by uniformity (bounds its memory to a few tens of MB)


def uniformity(X, *, t: float = 2.0, max_pairs: int = 200_000, seed: int = 0) -> float:
    """log E exp(-t ||f(x) - f(y)||^2) over distinct pairs of L2-normalised rows; lower = more uniform.

    With more than ``max_pairs`` pairs a fixed-seed sample of pairs is used. Needs at least 2 rows.
    """
    if t <= 0:
        raise ValueError(f"t must be > 0, got {t}")
    Z = l2_normalize(_as_matrix(X), dtype=None)
    if len(Z) < 2:
        raise ValueError("uniformity needs at least 2 vectors")
    i, j = _pair_indices(len(Z), max_pairs, seed)
    # Pairs in chunks: gathering all 200,000 pairs of 1,280-d rows at once took gigabytes.
    dots = np.concatenate([np.einsum("ij,ij->i", Z[i[s:s + PAIR_CHUNK]], Z[j[s:s + PAIR_CHUNK]])
                           for s in range(0, len(i), PAIR_CHUNK)])
    sq = np.maximum(2.0 - 2.0 * dots, 0.0)  # ||a-b||^2 for unit vectors
    values = -t * sq
    top = values.max()
    return float(top + np.log(np.mean(np.exp(values - top))))


# ---------------------------------------------------------------------------------------------------------
# Losses with analytic gradients


def normalize_backward(H: np.ndarray, dZ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Z = H/||H|| row-wise; returns (Z, dL/dH) given dL/dZ."""
    norm = np.maximum(np.linalg.norm(H, axis=1, keepdims=True), EPS)
    Z = H / norm
    return Z, (dZ - Z * np.sum(Z * dZ, axis=1, keepdims=True)) / norm


def supcon_loss(Z: np.ndarray, labels: np.ndarray, temperature: float) -> tuple[float, np.ndarray]:
    """Supervised contrastive loss (Khosla et al. 2020, "L_out") on unit rows Z (B, e) -> (loss, dL/dZ).

    Rows with the same label are positives of each other. Anchors without any positive are skipped.
    InfoNCE / NT-Xent over augmented pairs is the special case where each label is one image's pair.
    """
    B = len(Z)
    S = (Z @ Z.T) / temperature
    np.fill_diagonal(S, -np.inf)
    S -= S.max(axis=1, keepdims=True)
    P = np.exp(S)
    denom = P.sum(axis=1, keepdims=True)
    P /= denom  # softmax over a != i
    pos = (labels[:, None] == labels[None, :]) & ~np.eye(B, dtype=bool)
    n_pos = pos.sum(axis=1)
    anchors = n_pos > 0
    if not anchors.any():
        return 0.0, np.zeros_like(Z)
    log_p = np.where(pos, S - np.log(denom), 0.0)
    per_anchor = -log_p.sum(axis=1)[anchors] / n_pos[anchors]
    m = anchors.sum()
    dS = np.where(anchors[:, None], P - pos / np.maximum(n_pos, 1)[:, None], 0.0) / m
    np.fill_diagonal(dS, 0.0)
    dZ = (dS + dS.T) @ Z / temperature
    return float(per_anchor.mean()), dZ


def info_nce_loss(Za: np.ndarray, Zb: np.ndarray, temperature: float) -> tuple[float, np.ndarray, np.ndarray]:
    """NT-Xent (SimCLR) on unit rows: row i of Za and row i of Zb are the only positive pair -> (loss, dZa, dZb)."""
    B = len(Za)
    labels = np.concatenate([np.arange(B), np.arange(B)])
    loss, dZ = supcon_loss(np.concatenate([Za, Zb]), labels, temperature)
    return loss, dZ[:B], dZ[B:]


def soft_cross_entropy(S: np.ndarray, T: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over rows of -sum_j T_ij log softmax(S_i)_j; T rows sum to 1 -> (loss, dL/dS)."""
    S_max = S.max(axis=1, keepdims=True)
    log_p = S - S_max - np.log(np.sum(np.exp(S - S_max), axis=1, keepdims=True))
    loss = -np.sum(T * log_p) / len(S)
    return float(loss), (np.exp(log_p) - T) / len(S)


def clip_loss(Zi: np.ndarray, Zt: np.ndarray, labels: np.ndarray, temperature: float
              ) -> tuple[float, np.ndarray, np.ndarray]:
    """Symmetric image-text InfoNCE (CLIP) on unit rows Zi, Zt (B, e) -> (loss, dZi, dZt).

    Row i of Zi is paired with row i of Zt. Rows sharing a label have the same text, so every matching
    text counts as a correct answer (soft targets) instead of being pushed away as a false negative.
    """
    S = (Zi @ Zt.T) / temperature
    match = (labels[:, None] == labels[None, :]).astype(np.float64)
    T = match / match.sum(axis=1, keepdims=True)
    loss_i, dS_i = soft_cross_entropy(S, T)
    loss_t, dS_t = soft_cross_entropy(S.T, T.T / T.T.sum(axis=1, keepdims=True))
    dS = 0.5 * (dS_i + dS_t.T) / temperature
    return 0.5 * (loss_i + loss_t), dS @ Zt, dS.T @ Zi


# ---------------------------------------------------------------------------------------------------------
# The projection head


@dataclass
class ContrastiveHead:
    """A linear map or a 2-layer MLP (ReLU) from embedder vectors (n, d) to a unit-norm space (n, out_dim).

    ``mean``/``scale`` standardise inputs (fitted on the training images only). ``params`` holds
    ``W1`` (d, h) and for the MLP also ``b1`` (h,), ``W2`` (h, out_dim), ``b2`` (out_dim,).
    """

    kind: str
    mean: np.ndarray
    scale: float
    params: dict[str, np.ndarray]

    def _prep(self, X) -> np.ndarray:
        X = _as_matrix(X)
        if X.shape[1] != len(self.mean):
            raise ValueError(f"X has {X.shape[1]} dimensions but the head was trained on {len(self.mean)}")
        return (X - self.mean) / self.scale

    def forward(self, Xs: np.ndarray) -> tuple[np.ndarray, dict]:
        """Unnormalised output H (n, out_dim) of standardised inputs and the cache for ``backward``."""
        p = self.params
        A = Xs @ p["W1"]
        if self.kind == "linear":
            return A, {"X": Xs}
        R = np.maximum(A + p["b1"], 0.0)
        return R @ p["W2"] + p["b2"], {"X": Xs, "R": R}

    def backward(self, cache: dict, dH: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of the parameters given dL/dH."""
        if self.kind == "linear":
            return {"W1": cache["X"].T @ dH}
        R = cache["R"]
        dR = (dH @ self.params["W2"].T) * (R > 0)
        return {"W1": cache["X"].T @ dR, "b1": dR.sum(axis=0), "W2": R.T @ dH, "b2": dH.sum(axis=0)}

    def transform(self, X) -> np.ndarray:
        """Unit-norm head outputs (n, out_dim) float32 for vectors X (n, d)."""
        H, _ = self.forward(self._prep(X))
        return l2_normalize(H, dtype=None).astype(np.float32)


def init_head(X_train: np.ndarray, *, kind: str, out_dim: int, hidden: int, seed: int) -> ContrastiveHead:
    """Linear heads start as the top principal directions (so "before training" is plain PCA);
    MLPs start with He-scaled random weights."""
    mean = X_train.mean(axis=0)
    Xc = X_train - mean
    scale = float(np.sqrt(np.mean(np.sum(Xc ** 2, axis=1)))) or 1.0
    Xs = Xc / scale
    rng = np.random.default_rng(seed)
    d = X_train.shape[1]
    if kind == "linear":
        from sklearn.utils.extmath import randomized_svd

        # Randomized SVD: only the top out_dim directions are needed, and a full SVD of (n, d) is slow.
        _, _, Vt = randomized_svd(Xs, n_components=min(out_dim, *Xs.shape), n_iter=2, random_state=seed)
        W = Vt.T
        if W.shape[1] < out_dim:  # fewer samples than out_dim: pad with small random directions
            W = np.hstack([W, rng.normal(0, 1 / np.sqrt(d), (d, out_dim - W.shape[1]))])
        return ContrastiveHead(kind, mean, scale, {"W1": W * np.sqrt(d / out_dim)})
    params = {"W1": rng.normal(0, np.sqrt(2.0 / d), (d, hidden)) * np.sqrt(d), "b1": np.zeros(hidden),
              "W2": rng.normal(0, np.sqrt(2.0 / hidden), (hidden, out_dim)), "b2": np.zeros(out_dim)}
    return ContrastiveHead(kind, mean, scale, params)


def check_settings(settings, *, at_least_one: Sequence[str], positive: Sequence[str]) -> None:
    """Validate a settings record's counts (>= 1) and rates (> 0), naming the field that is wrong."""
    for name in at_least_one:
        if int(getattr(settings, name)) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(settings, name)}")
    for name in positive:
        if not getattr(settings, name) > 0:
            raise ValueError(f"{name} must be > 0, got {getattr(settings, name)}")


@dataclass
class TrainSettings:
    """Hyper-parameters of ``train_head``; validated once here."""

    kind: str = "linear"
    loss: str = "supcon"
    out_dim: int = 64
    hidden: int = 256
    temperature: float = 0.1
    steps: int = 150
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-3

    def __post_init__(self) -> None:
        if self.kind not in ("linear", "mlp"):
            raise ValueError(f"kind must be 'linear' or 'mlp', got {self.kind!r}")
        if self.loss not in ("supcon", "infonce", "both"):
            raise ValueError(f"loss must be 'supcon', 'infonce' or 'both', got {self.loss!r}")
        check_settings(self, at_least_one=("out_dim", "hidden", "steps", "batch_size"),
                       positive=("temperature", "learning_rate"))
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")


@dataclass
class TrainResult:
    """A trained head and the training loss: ``losses[0]`` on all training rows before any step, then the
    mean minibatch loss of each pass over the data (the last pass may be partial)."""

    head: ContrastiveHead
    losses: list[float] = field(default_factory=list)
    settings: TrainSettings = field(default_factory=TrainSettings)
    seconds: float = 0.0


class Adam:
    """Adam with decoupled weight decay (AdamW) over a dict of arrays, updated in place."""

    def __init__(self, params: dict, lr: float, weight_decay: float) -> None:
        self.lr, self.wd, self.t = lr, weight_decay, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params: dict, grads: dict) -> None:
        self.t += 1
        b1, b2 = 0.9, 0.999
        for k, g in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m_hat = self.m[k] / (1 - b1 ** self.t)
            v_hat = self.v[k] / (1 - b2 ** self.t)
            params[k] -= self.lr * (m_hat / (np.sqrt(v_hat) + 1e-8) + self.wd * params[k])


def batch_loss(head: ContrastiveHead, Xs: np.ndarray, labels: np.ndarray, Xs_twin: np.ndarray | None,
               settings: TrainSettings) -> tuple[float, dict]:
    """The chosen loss on one standardised minibatch and its parameter gradients."""
    B = len(Xs)
    inputs = Xs if Xs_twin is None else np.concatenate([Xs, Xs_twin])
    H, cache = head.forward(inputs)
    Z = l2_normalize(H, dtype=None)
    loss, dZ = 0.0, np.zeros_like(Z)
    if settings.loss in ("supcon", "both"):
        sup_labels = labels if Xs_twin is None else np.concatenate([labels, labels])
        value, grad = supcon_loss(Z, sup_labels, settings.temperature)
        loss, dZ = loss + value, dZ + grad
    if settings.loss in ("infonce", "both") and Xs_twin is not None:
        value, ga, gb = info_nce_loss(Z[:B], Z[B:], settings.temperature)
        loss, dZ = loss + value, dZ + np.concatenate([ga, gb])
    _, dH = normalize_backward(H, dZ)
    return loss, head.backward(cache, dH)


def train_head(X, tags: Sequence[str], *, X_twin=None, settings: TrainSettings | None = None, seed: int = 0,
               progress: ProgressCallback | None = None) -> TrainResult:
    """Train a contrastive head on vectors X (n, d) with tags; optional augmented-twin vectors X_twin (n, d).

    ``settings.loss``: "supcon" (same tag = positive; twins join as extra views), "infonce" (twin = the
    only positive; needs X_twin; tags unused) or "both" (their sum). Deterministic for a given seed.
    """
    import time

    settings = settings or TrainSettings()
    X = _as_matrix(X)
    codes, _ = tag_codes(as_tags(tags, len(X)))
    Xt = None if X_twin is None else _as_matrix(X_twin, "X_twin")
    if Xt is not None and Xt.shape != X.shape:
        raise ValueError(f"X_twin must have the shape of X {X.shape}, got {Xt.shape}")
    if settings.loss == "infonce" and Xt is None:
        raise ValueError("loss='infonce' needs X_twin (vectors of augmented twins)")
    start = time.perf_counter()
    head = init_head(X, kind=settings.kind, out_dim=settings.out_dim, hidden=settings.hidden, seed=seed)
    # float32 halves the cost of every step; the gradient checks run the same code in float64.
    head.params = {k: v.astype(np.float32) for k, v in head.params.items()}
    Xs = ((X - head.mean) / head.scale).astype(np.float32)
    Xts = None if Xt is None else ((Xt - head.mean) / head.scale).astype(np.float32)
    rng = np.random.default_rng(seed)
    opt = Adam(head.params, settings.learning_rate, settings.weight_decay)
    batches = _batches(len(X), settings.batch_size)
    result = TrainResult(head, [_pass_loss(head, Xs, codes, Xts, settings, batches, None)], settings)
    report(progress, 0, settings.steps, "training the contrastive head")
    with one_blas_thread():
        _train_loop(head, Xs, codes, Xts, settings, batches, rng, opt, result, progress)
    result.seconds = time.perf_counter() - start
    return result


def one_blas_thread():
    # The minibatch products are small: extra BLAS threads cost more in hand-offs than they save,
    # and on a shared server they steal the other sessions' core.
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _train_loop(head, Xs, codes, Xts, settings, batches, rng, opt, result, progress) -> None:
    done = 0
    while done < settings.steps:
        use = batches[:settings.steps - done]
        result.losses.append(_pass_loss(head, Xs, codes, Xts, settings, use, _stratified_order(codes, rng), opt))
        done += len(use)
        report(progress, done, settings.steps, f"training the contrastive head (loss {result.losses[-1]:.3f})")


def _batches(n: int, batch_size: int) -> list[slice]:
    count = max(1, int(round(n / batch_size)))
    edges = np.linspace(0, n, count + 1).astype(int)
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _stratified_order(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Interleave shuffled tags so every minibatch holds every tag (supcon needs positives in the batch).
    keys = np.empty(len(codes))
    for c in np.unique(codes):
        idx = np.flatnonzero(codes == c)
        keys[rng.permutation(idx)] = (np.arange(len(idx)) + rng.random()) / len(idx)
    return np.argsort(keys + 1e-9 * rng.random(len(codes)), kind="stable")


def _pass_loss(head, Xs, codes, Xts, settings, batches, order, opt: Adam | None = None) -> float:
    order = np.arange(len(Xs)) if order is None else order
    total = 0.0
    for part in batches:
        idx = order[part]
        loss, grads = batch_loss(head, Xs[idx], codes[idx], None if Xts is None else Xts[idx], settings)
        if opt is not None:
            opt.step(head.params, grads)
        total += loss * len(idx)
    return total / sum(len(order[part]) for part in batches)


# ---------------------------------------------------------------------------------------------------------
# Held-out evaluation

# Held-out images below which the before/after measures mean nothing (leave-one-out k-NN needs 2 others).
MIN_HELD_OUT = 3


def split_by_image(tags: Sequence[str], *, held_out: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stratified, seeded split of row indices into (train, held_out); every tag keeps >= 1 training row
    and, when it has >= 2 rows, >= 1 held-out row."""
    if not 0.0 < held_out < 1.0:
        raise ValueError(f"held_out must be a fraction in (0, 1), got {held_out}")
    codes, _ = tag_codes(tags)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(codes):
        idx = rng.permutation(np.flatnonzero(codes == c))
        m = 0 if len(idx) < 2 else min(len(idx) - 1, max(1, int(round(held_out * len(idx)))))
        test.extend(idx[:m])
        train.extend(idx[m:])
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(test, dtype=np.int64))


def knn_agreement(X, tags: Sequence[str], *, k: int = 10) -> float | None:
    """Leave-one-out cosine k-NN tag agreement (majority vote, as ``explorer.measures.knn_tag_agreement``)."""
    return knn_tag_agreement(_as_matrix(X), list(as_tags(tags, len(X))), k=k, metric="cosine").overall


def cosine_silhouette(X, tags: Sequence[str]) -> float | None:
    """Mean cosine silhouette (``explorer.measures.separation``); None when undefined."""
    return separation(_as_matrix(X), list(as_tags(tags, len(X))), k=1).silhouette


@dataclass(frozen=True)
class HeldOutComparison:
    """What ``held_out_comparison`` measured: held-out k-NN agreement and silhouette before (the embedder's
    vectors) and after (the head's outputs); None with a ``note`` when the set was too small to hold out."""

    knn_before: float | None
    knn_after: float | None
    silhouette_before: float | None
    silhouette_after: float | None
    train_index: np.ndarray
    held_out_index: np.ndarray
    result: TrainResult
    note: str = ""

    @property
    def n_train(self) -> int:
        return int(len(self.train_index))

    @property
    def n_held_out(self) -> int:
        return int(len(self.held_out_index))

    @property
    def train_loss(self) -> list[float]:
        return self.result.losses

    @property
    def seconds(self) -> float:
        return self.result.seconds


def held_out_comparison(X, tags: Sequence[str], *, X_twin=None, settings: TrainSettings | None = None,
                        held_out: float = 0.3, k: int = 10, seed: int = 0,
                        progress: ProgressCallback | None = None) -> HeldOutComparison:
    """Train a head on a stratified training split; measure the held-out images before and after.

    Held-out measures compare held-out images only with each other (leave-one-out k-NN agreement,
    cosine silhouette), on the embedder's vectors ("before") and on the head's outputs ("after").
    A set too small to hold out ``MIN_HELD_OUT`` images is trained on whole: the measures are None and
    ``note`` says why in plain words ("" otherwise).
    """
    X = _as_matrix(X)
    tags = as_tags(tags, len(X))
    train, test = split_by_image(list(tags), held_out=held_out, seed=seed)
    if len(X) < 2:
        raise ValueError(f"training needs at least 2 images, got {len(X)}")
    if len(test) < MIN_HELD_OUT:
        return _trained_on_all(X, tags, len(test), X_twin=X_twin, settings=settings, seed=seed, progress=progress)
    twin = None if X_twin is None else _as_matrix(X_twin, "X_twin")[train]
    result = train_head(X[train], tags[train], X_twin=twin, settings=settings, seed=seed, progress=progress)
    after = result.head.transform(X[test])
    return HeldOutComparison(knn_before=knn_agreement(X[test], tags[test], k=k),
                             knn_after=knn_agreement(after, tags[test], k=k),
                             silhouette_before=cosine_silhouette(X[test], tags[test]),
                             silhouette_after=cosine_silhouette(after, tags[test]),
                             train_index=train, held_out_index=test, result=result)


def _trained_on_all(X: np.ndarray, tags: np.ndarray, would_hold: int, *, X_twin, settings, seed: int,
                    progress) -> HeldOutComparison:
    """A small set: no held-out measure is possible, so the head trains on every image and says so."""
    twin = None if X_twin is None else _as_matrix(X_twin, "X_twin")
    result = train_head(X, tags, X_twin=twin, settings=settings, seed=seed, progress=progress)
    note = (f"Only {plural(len(X), 'image')} in {plural(len(set(tags.tolist())), 'tag')}: holding some out would leave {would_hold} "
            f"to measure on, and the held-out measures need at least {MIN_HELD_OUT} (roughly 10 images with "
            "2 or more per tag). The head was trained on all images; the before/after numbers are not measured.")
    return HeldOutComparison(knn_before=None, knn_after=None, silhouette_before=None, silhouette_after=None,
                             train_index=np.arange(len(X), dtype=np.int64),
                             held_out_index=np.zeros(0, dtype=np.int64), result=result, note=note)
