"""Numbers that say how faithful a map is and how well tags separate in feature space.

Conventions shared by every measure here:

* Feature vectors ``X`` use cosine distance by default (zero / non-finite rows are at distance 1
  from everything, see :mod:`explorer.distances`); map coordinates ``Y`` use euclidean distance.
* Rows of ``Y`` (or of a euclidean ``X``) with NaN/inf — e.g. points a projection excluded — are left
  out of the computation; per-point outputs are NaN exactly at those rows and only there.
* ``k`` larger than the data allows is clamped to the largest valid value; functions that return a
  record say so in its ``notes``. Overall numbers are never NaN: undefined ones are ``None``.
* Scale: the map measures (``trustworthiness``, ``neighbours_kept``, ``knn_tag_agreement``,
  ``map_measures``) take ``sample="auto" | None | int`` and ``seed``. ``"auto"`` computes them exactly up
  to ``SAMPLE_ABOVE`` usable points and above that *estimates* them on a seeded random sample of
  ``SAMPLE_SIZE`` points (each sampled point's neighbours and ranks are still taken among all points);
  ``None`` is always exact. The result says how many points it was computed on (``sample_size``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from explorer.distances import METRICS, as_matrix, check_k, distance_blocks, knn, l2_normalize
from explorer.imageset import tag_codes
from explorer.words import plural


SAMPLE_ABOVE = 20_000  # more usable points than this: "auto" estimates on a sample
SAMPLE_SIZE = 2_000    # points in that sample (standard error of an agreement share <= 1.1 points)


# ------------------------------------------------------------------------------------ helpers


class Estimate(float):
    """A measure's value (a float) that also says on how many points it was computed.

    ``sample_size`` points of ``population``; ``exact`` when they are all of them.
    """

    sample_size: int
    population: int

    def __new__(cls, value: float, sample_size: int, population: int) -> "Estimate":
        out = super().__new__(cls, value)
        out.sample_size, out.population = int(sample_size), int(population)
        return out

    @property
    def exact(self) -> bool:
        return self.sample_size >= self.population

    def __reduce__(self):
        return (Estimate, (float(self), self.sample_size, self.population))


def sample_rows(n: int, limit: int, *, seed: int = 0) -> np.ndarray:
    """All rows when n <= limit, else a sorted seeded sample of ``limit`` rows."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def measure_rows(n: int, sample="auto", seed: int = 0) -> np.ndarray | None:
    """The rows (of n usable ones) a measure is computed on; None for all of them (exact).

    ``sample``: "auto" (a ``SAMPLE_SIZE`` sample above ``SAMPLE_ABOVE`` points), None (exact) or a
    positive int (a sample of that size when smaller than n).
    """
    if sample is None:
        return None
    if isinstance(sample, str):
        if sample != "auto":
            raise ValueError(f"sample must be 'auto', None or a positive integer, got {sample!r}")
        return sample_rows(n, SAMPLE_SIZE, seed=seed) if n > SAMPLE_ABOVE else None
    size = check_k(sample, name="sample")
    return sample_rows(n, size, seed=seed) if size < n else None


def sample_note(sample_size: int, population: int) -> str:
    """The sentence every report of an estimated measure carries."""
    return f"estimated on a random sample of {sample_size:,} of {population:,} points"


def _check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    return metric


def _matrix(X, name: str) -> np.ndarray:
    return as_matrix(X, name, dtype=None)


def _usable_rows(A: np.ndarray, metric: str) -> np.ndarray:
    """Rows a metric can place: all rows for cosine (defined fallback), finite rows for euclidean."""
    if metric == "cosine":
        return np.ones(len(A), bool)
    return np.isfinite(A).all(axis=1)


KDTREE_ABOVE = 5_000  # map (<= 3-D euclidean) neighbours of larger sets come from a KD-tree, not brute force


def _map_neighbours(B: np.ndarray, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    """k nearest neighbours (m, k) in the map coordinates B (n, <= 3) of ``rows`` (None: all), self excluded.

    Brute force (``knn``) up to ``KDTREE_ABOVE`` points; above, a KD-tree asked for a few extra neighbours
    so that ties at the k-th distance are still broken by lower index, as ``knn`` does.
    """
    n = len(B)
    if n <= KDTREE_ABOVE or B.shape[1] > 3:
        return knn(B, k, metric="euclidean")[0] if rows is None else knn(B, k, metric="euclidean", rows=rows)[0]
    from scipy.spatial import cKDTree

    query = np.arange(n) if rows is None else rows
    extra = min(n, k + 9)
    dist, idx = cKDTree(B).query(B[query], k=extra, workers=2)
    removed = idx == query[:, None]  # self out (twins at distance 0 stay)
    by_index = np.argsort(np.where(removed, n, idx), axis=1, kind="stable")
    idx = np.take_along_axis(idx, by_index, axis=1)
    key = np.take_along_axis(np.where(removed, np.inf, dist), by_index, axis=1)
    return np.take_along_axis(idx, np.argsort(key, axis=1, kind="stable"), axis=1)[:, :k]


def _neighbours_or_none(A: np.ndarray, k: int, metric: str, rows: np.ndarray | None = None):
    """knn indices (n or len(rows), k) with k clamped to n - 1, and the k used (0 when there is no neighbour)."""
    k = min(k, len(A) - 1)
    if k < 1:
        return np.empty((len(A) if rows is None else len(rows), 0), np.int64), 0
    return (knn(A, k, metric=metric) if rows is None else knn(A, k, metric=metric, rows=rows))[0], k


# -------------------------------------------------------------------------- map faithfulness

def neighbours_kept(X, Y, *, k: int = 10, metric: str = "cosine", sample="auto", seed: int = 0) -> np.ndarray:
    """Per point, the fraction of its k nearest neighbours in X (n, d) kept among its k nearest in Y (n, m).

    X uses ``metric`` (cosine by default), Y is euclidean (map coordinates). Returns (n,) float in
    [0, 1]; NaN for rows left out (non-finite rows of Y, or of X for euclidean) and, when estimated on a
    sample (see the module docstring), for the rows outside it. k is clamped
    to (number of usable rows - 1); with fewer than two usable rows nothing can be lost and every
    usable point scores 1.0.
    """
    k = check_k(k)
    A, B = _pair(X, Y)
    keep = _usable_rows(A, _check_metric(metric)) & np.isfinite(B).all(axis=1)
    out = np.full(len(A), np.nan)
    idx = np.flatnonzero(keep)
    rows = measure_rows(len(idx), sample, seed)
    nx, k_used = _neighbours_or_none(A[idx], k, metric, rows)
    at = idx if rows is None else idx[rows]
    if k_used == 0:
        out[at] = 1.0
        return out
    out[at] = _overlap(nx, _map_neighbours(B[idx], k_used, rows))
    return out


def _overlap(nx: np.ndarray, ny: np.ndarray) -> np.ndarray:
    """Per row, the share of the neighbours in nx (m, k) that are also in ny (m, k)."""
    return (nx[:, :, None] == ny[:, None, :]).any(axis=2).sum(axis=1) / nx.shape[1]


def _pair(X, Y) -> tuple[np.ndarray, np.ndarray]:
    A, B = _matrix(X, "X"), _matrix(Y, "Y")
    if len(A) != len(B):
        raise ValueError(f"X has {len(A)} rows but Y has {len(B)}")
    return A, B


def trustworthiness(X, Y, *, k: int = 10, metric: str = "cosine", sample="auto", seed: int = 0) -> Estimate | None:
    """Trustworthiness of the map Y (n, m) of X (n, d), as ``sklearn.manifold.trustworthiness``.

    1 - 2 / (n k (2n - 3k - 1)) * sum over points i and their k map neighbours j of max(0, r(i, j) - k),
    where r(i, j) is the rank of j among i's neighbours in X (ties in X ordered by lower index).
    Ranks are counted block by block against rows of X's distances, so memory stays bounded for
    large n (sklearn's holds an n x n distance matrix and an n x n integer rank table).
    k is clamped to the largest value the formula allows, k < n / 2; None when n < 3 usable rows.
    On a sample (module docstring) the sum runs over the sampled points, scaled by n / sample size —
    an unbiased estimate; the returned ``Estimate`` (a float) says the sample size.
    """
    k = check_k(k)
    A, B = _pair(X, Y)
    keep = _usable_rows(A, _check_metric(metric)) & np.isfinite(B).all(axis=1)
    A, B = A[keep], B[keep]
    n = len(A)
    k = min(k, (n - 1) // 2)
    if k < 1:
        return None
    rows = measure_rows(n, sample, seed)
    return _trust_from(A, _map_neighbours(B, k, rows), k, metric, rows)[0]


def _trust_from(A: np.ndarray, map_nb: np.ndarray, k: int, metric: str, rows: np.ndarray | None,
                k_nn: int = 0) -> tuple[Estimate, np.ndarray | None]:
    """Trustworthiness given the map neighbours (m, k) of ``rows`` (None: every row) of A.

    One pass over those rows' distances; with ``k_nn`` it also returns their k_nn nearest neighbours in
    A (m, k_nn), nearest first, ties by lower index — the same pass serves both.
    """
    n = len(A)
    blocks = distance_blocks(A, metric=metric) if rows is None else distance_blocks(A, metric=metric, rows=rows)
    selves = np.arange(n) if rows is None else rows
    near = np.empty((len(selves), k_nn), np.int64) if k_nn else None
    penalty = 0
    for start, D in blocks:
        stop = start + len(D)
        D[np.arange(len(D)), selves[start:stop]] = np.inf  # a point is not its own neighbour
        top = _smallest(D, max(k, k_nn))
        if near is not None:
            near[start:stop] = top[:, :k_nn]
        penalty += _rank_penalty(D, map_nb[start:stop], top[:, :k], k)
    m = len(selves)
    return Estimate(1.0 - (penalty * n / m) * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))), m, n), near


def _smallest(D: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k smallest entries of each row of D (b, n), smallest first, ties by lower index."""
    b, n = D.shape
    kth = np.partition(D, k - 1, axis=1)[:, k - 1]
    r, c = np.nonzero(D <= kth[:, None])
    order = np.lexsort((c, D[r, c], r))
    first = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=b))[:-1]])
    return c[order[first[:, None] + np.arange(k)]]


def _rank_penalty(D: np.ndarray, nb: np.ndarray, top: np.ndarray, k: int) -> int:
    """Sum of max(0, rank - k) over the map neighbours nb (b, k) given the rows' X distances D (b, n).

    A map neighbour among the row's k nearest in X (``top``) costs nothing; only the others are ranked:
    rank(i, j) - 1 = entries strictly before (distance, index) of j in row i, found by binary search
    in the sorted row (one sort per row instead of one pass over the row per neighbour).
    """
    far = ~(nb[:, :, None] == top[:, None, :]).any(axis=2)
    total = 0
    for r in np.flatnonzero(far.any(axis=1)):
        cols = nb[r, far[r]]
        vals = D[r, cols]
        row = np.sort(D[r])
        before = np.searchsorted(row, vals, side="left")
        upto = np.searchsorted(row, vals, side="right")
        for i in np.flatnonzero(upto - before > 1):  # exact ties (duplicates): lower index first
            before[i] += np.count_nonzero(D[r, :cols[i]] == vals[i])
        total += int(np.maximum(before + 1 - k, 0).sum())
    return total


# ------------------------------------------------------------------------------ tag agreement

@dataclass
class KnnAgreement:
    """Leave-one-out k-NN classification of tags.

    overall : float or None
        Majority-vote accuracy: share of points whose tag is the majority tag among their k nearest
        other points (ties between tags go to the tag of the nearest neighbour among the tied ones).
        None when fewer than two points could be used.
    per_point : ndarray (n,)
        1.0 if the vote recovered the point's tag, 0.0 if not, NaN for rows left out.
    per_tag : dict tag (as str) -> float
        Accuracy over the points of each tag (None for a tag whose points were all left out).
    same_tag_fraction : ndarray (n,)
        Fraction of each point's k neighbours that share its tag (NaN for rows left out).
    chance : float or None
        Share of the most common tag: the accuracy of always answering that tag.
    k : int
        Neighbours actually used (after clamping).
    notes : list of str
    sample_size : int
        Points the vote was taken for: all usable ones, or a random sample of them (then per_point and
        same_tag_fraction are NaN outside it, overall and per_tag are estimates and a note says so).
    """

    overall: float | None
    per_point: np.ndarray
    per_tag: dict[str, float | None]
    same_tag_fraction: np.ndarray
    chance: float | None
    k: int
    notes: list[str] = field(default_factory=list)
    sample_size: int = 0


def knn_tag_agreement(X, tags, *, k: int = 10, metric: str = "cosine", sample="auto",
                      seed: int = 0) -> KnnAgreement:
    """Leave-one-out majority-vote k-NN tag accuracy of the points X (n, d) with tags (n,).

    ``sample``/``seed``: estimated on a random sample above ``SAMPLE_ABOVE`` points (module docstring).
    """
    k = check_k(k)
    A = _matrix(X, "X")
    codes, order = tag_codes(tags, len(A))
    keep = _usable_rows(A, _check_metric(metric))
    rows = measure_rows(int(keep.sum()), sample, seed)
    nb, k_used = _neighbours_or_none(A[keep], k, metric, rows)
    return _agreement(codes, order, keep, nb, k, k_used, rows)


def _agreement(codes, order, keep, nb, k_asked, k_used, rows: np.ndarray | None = None) -> KnnAgreement:
    """The vote of the neighbours nb (indices into the usable rows) of ``rows`` of them (None: all)."""
    n = len(codes)
    usable = np.flatnonzero(keep)
    idx = usable if rows is None else usable[rows]
    notes = _agreement_notes(codes, order, keep, k_asked, k_used)
    if rows is not None:
        notes.append(sample_note(len(rows), len(usable)))
    per_point = np.full(n, np.nan)
    same = np.full(n, np.nan)
    if k_used == 0:
        return KnnAgreement(None, per_point, {t: None for t in order}, same, None, 0, notes, len(idx))
    own = codes[idx]
    nb_tags = codes[usable][nb]
    per_point[idx] = (_vote(nb_tags) == own).astype(float)
    same[idx] = (nb_tags == own[:, None]).mean(axis=1)
    per_tag = {t: (float(per_point[idx][own == c].mean()) if (own == c).any() else None)
               for c, t in enumerate(order)}
    chance = float(np.bincount(codes[usable]).max() / len(usable))
    return KnnAgreement(float(per_point[idx].mean()), per_point, per_tag, same, chance, k_used, notes, len(idx))


def _vote(nb_tags: np.ndarray) -> np.ndarray:
    """Majority tag per row of nb_tags (n, k) ordered nearest first; ties go to the nearest tied tag."""
    k = nb_tags.shape[1]
    votes = (nb_tags[:, :, None] == nb_tags[:, None, :]).sum(axis=2)
    # Highest count wins; among equal counts the earliest (nearest) position wins.
    best = np.argmax(votes * (k + 1) - np.arange(k), axis=1)
    return nb_tags[np.arange(len(nb_tags)), best]


def _agreement_notes(codes, order, keep, k_asked, k_used) -> list[str]:
    notes = []
    left_out = int((~keep).sum())
    if left_out:
        notes.append(f"{plural(left_out, 'point')} with NaN/inf coordinates left out")
    if keep.sum() < 2:
        notes.append("fewer than two usable points: no neighbours to vote")
    elif k_used < k_asked:
        notes.append(f"k lowered from {k_asked} to {k_used}: only {int(keep.sum())} usable points")
    if len(order) == 1:
        notes.append(f"only one tag ({order[0]!r}): agreement is trivially 1.0 and says nothing")
    singles = [t for c, t in enumerate(order) if (codes[keep] == c).sum() == 1]
    if singles:
        notes.append(f"{plural(len(singles), 'tag')} with a single image can never be recovered by their "
                     f"neighbours: {', '.join(map(repr, singles[:5]))}{', ...' if len(singles) > 5 else ''}")
    return notes


# ------------------------------------------------------------------------------ all of a map

@dataclass
class MapMeasures:
    """Every number the map reports, computed on one shared set of points (``map_measures``).

    trustworthiness : Estimate or None
    neighbours_kept : ndarray (n,) — NaN off the map and outside the sample
    knn_agreement_embedding, knn_agreement_map : float or None — the tag vote in X (``metric``) and on Y
    k : int — neighbours used; sample_size of population points (all usable ones when exact)
    notes : list of str — says when the numbers are estimates, and on how many points
    """

    trustworthiness: Estimate | None
    neighbours_kept: np.ndarray
    knn_agreement_embedding: float | None
    knn_agreement_map: float | None
    k: int
    sample_size: int
    population: int
    notes: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.sample_size >= self.population


def map_measures(X, Y, tags, *, k: int = 10, metric: str = "cosine", sample="auto", seed: int = 0) -> MapMeasures:
    """Trustworthiness, neighbours kept and tag agreement (in X and on the map) of the map Y of X.

    Points off the map (non-finite rows of Y) are left out. One neighbour search in X and one on the
    map serve all four numbers, for all usable points or (``sample``, module docstring) for a seeded
    random sample of them, so a 50,000-point map costs a few seconds instead of minutes.
    """
    k = check_k(k)
    A, B = _pair(X, Y)
    codes, order = tag_codes(tags, len(A))
    keep = _usable_rows(A, _check_metric(metric)) & np.isfinite(B).all(axis=1)
    usable = np.flatnonzero(keep)
    n = len(usable)
    kept = np.full(len(A), np.nan)
    if n < 3:
        return MapMeasures(None, kept, None, None, 0, n, n, ["fewer than three points on the map: no measures"])
    rows = measure_rows(n, sample, seed)
    k_used = min(k, n - 1)
    Au, Bu = A[usable], B[usable]
    ny = _map_neighbours(Bu, k_used, rows)
    k_trust = max(1, min(k_used, (n - 1) // 2))
    trust, nx = _trust_from(Au, ny[:, :k_trust], k_trust, metric, rows, k_nn=k_used)  # one pass over X
    kept[usable if rows is None else usable[rows]] = _overlap(nx, ny)
    in_x = _agreement(codes, order, keep, nx, k, k_used, rows)
    on_map = _agreement(codes, order, keep, ny, k, k_used, rows)
    m = n if rows is None else len(rows)
    notes = list(in_x.notes) if rows is None else [sample_note(m, n)] + in_x.notes[:-1]
    return MapMeasures(trust, kept, in_x.overall, on_map.overall, k_used, m, n, notes)


# --------------------------------------------------------------------------------- separation

@dataclass
class TagSeparation:
    """How one tag sits in feature space (cosine distances)."""

    silhouette: float | None      # mean silhouette of its images (0.0 for a single image, as sklearn)
    knn_agreement: float | None   # leave-one-out majority-vote accuracy of its images
    intra: float | None           # mean distance between two of its images (None for one image)
    inter: float | None           # mean distance from its images to other tags' (None for one tag)
    count: int


@dataclass
class Separation:
    """Which tags stand apart and which smear together.

    silhouette : float or None
        Mean cosine silhouette (as ``sklearn.metrics.silhouette_score(metric="cosine")``, computed
        exactly from tag sums, no sampling); None unless 2 <= number of tags <= n - 1.
    per_tag : dict tag -> TagSeparation
    intra_mean, inter_mean : float or None
        Mean cosine distance over all same-tag pairs / all different-tag pairs.
    confusion : ndarray (t, t)
        Row a: fraction of tag-a images' k nearest neighbours carrying tag b (rows sum to 1;
        all zero when there are no neighbours).
    tag_order : list of str
        Tags in first-seen order (``explorer.imageset.tag_order``, as the map's legend): the order of
        confusion's rows and columns.
    k : int
        Neighbours used for agreement and confusion.
    notes : list of str
    """

    silhouette: float | None
    per_tag: dict[str, TagSeparation]
    intra_mean: float | None
    inter_mean: float | None
    confusion: np.ndarray
    tag_order: list[str]
    k: int
    notes: list[str] = field(default_factory=list)


def separation(X, tags, *, k: int = 10) -> Separation:
    """Per-tag separation of the feature vectors X (n, d) under cosine distance.

    Zero / non-finite rows count as vectors at distance 1 from everything (noted). All distance sums
    use sum_j (1 - x_i . x_j) = count - x_i . (sum_j x_j) on L2-normalised rows, so the silhouette and
    the intra/inter means are exact without building the n x n matrix.
    """
    k = check_k(k)
    A = _matrix(X, "X")
    codes, order = tag_codes(tags, len(A))
    N = l2_normalize(A).astype(np.float64)
    t = len(order)
    counts = np.bincount(codes, minlength=t)
    sums = np.zeros((t, N.shape[1]))
    np.add.at(sums, codes, N)
    self_sq = np.einsum("ij,ij->i", N, N)
    dist_sums = counts[None, :] - N @ sums.T                        # (n, t), self still included
    dist_sums[np.arange(len(N)), codes] -= 1.0 - self_sq            # drop d(i, i) = 1 - |x_i|^2
    silhouette, per_point_sil = _silhouette(dist_sums, codes, counts)
    intra, inter = _tag_means(sums, counts, codes, self_sq)
    keep = np.ones(len(A), bool)
    nb, k_used = _neighbours_or_none(A, k, "cosine")
    agreement = _agreement(codes, order, keep, nb, k, k_used)
    per_tag = {tag: TagSeparation(
        silhouette=(float(per_point_sil[codes == c].mean()) if silhouette is not None else None),
        knn_agreement=agreement.per_tag[tag], intra=intra[c], inter=inter[c], count=int(counts[c]))
        for c, tag in enumerate(order)}
    notes = _separation_notes(A, order, counts, silhouette) + agreement.notes
    return Separation(silhouette=silhouette, per_tag=per_tag,
                      intra_mean=_pooled(intra, counts * (counts - 1)),
                      inter_mean=_pooled(inter, counts * (len(A) - counts)),
                      confusion=_confusion(codes, nb, t), tag_order=order, k=k_used, notes=notes)


def _silhouette(dist_sums: np.ndarray, codes: np.ndarray, counts: np.ndarray):
    """(mean silhouette or None, per-point silhouette (n,)) from per-point distance sums to each tag."""
    n, t = dist_sums.shape
    if not 2 <= t <= n - 1:
        return None, np.zeros(n)
    own_count = counts[codes]
    rows = np.arange(n)
    a = dist_sums[rows, codes] / np.maximum(own_count - 1, 1)
    means = dist_sums / counts[None, :]
    means[rows, codes] = np.inf
    b = means.min(axis=1)
    denom = np.maximum(a, b)
    s = np.divide(b - a, denom, out=np.zeros(n), where=denom > 0)
    s[own_count == 1] = 0.0  # sklearn's convention for a tag with one image
    return float(s.mean()), s


def _tag_means(sums, counts, codes, self_sq):
    """Per tag: mean distance within the tag and to all other tags (None where undefined)."""
    n = int(counts.sum())
    total = sums.sum(axis=0)
    own_sq = np.bincount(codes, weights=self_sq, minlength=len(counts))
    intra, inter = [], []
    for c, m in enumerate(counts):
        pairs = m * (m - 1)
        # sum over i != j in the tag of x_i . x_j = |sum|^2 - sum |x_i|^2
        intra.append(float((pairs - (sums[c] @ sums[c] - own_sq[c])) / pairs) if pairs else None)
        others = m * (n - m)
        inter.append(float((others - sums[c] @ (total - sums[c])) / others) if others else None)
    return intra, inter


def _pooled(values: list, weights: np.ndarray) -> float | None:
    pairs = [(v, w) for v, w in zip(values, weights) if v is not None and w > 0]
    if not pairs:
        return None
    return float(sum(v * w for v, w in pairs) / sum(w for _, w in pairs))


def _confusion(codes: np.ndarray, nb: np.ndarray, t: int) -> np.ndarray:
    counts = np.zeros((t, t))
    if nb.shape[1]:
        np.add.at(counts, (np.repeat(codes, nb.shape[1]), codes[nb].ravel()), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def _separation_notes(A, order, counts, silhouette) -> list[str]:
    notes = []
    bad = int((~np.isfinite(A).all(axis=1)).sum())
    zero = int((np.isfinite(A).all(axis=1) & ~np.any(A != 0, axis=1)).sum())
    if bad or zero:
        notes.append(f"{zero} zero and {plural(bad, 'NaN/inf vector')} counted as at distance 1 from everything")
    if silhouette is None:
        notes.append(f"silhouette needs 2 to n - 1 tags; here {plural(len(order), 'tag')} for {plural(len(A), 'image')}")
    singles = int((counts == 1).sum())
    if singles and silhouette is not None:
        notes.append(f"{plural(singles, 'tag')} with one image get silhouette 0 (sklearn's convention)")
    return notes
