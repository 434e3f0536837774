"""Saving and loading the ``.npz`` vector files that ``python -m explorer embed`` writes.

A file holds the arrays ``ids``, ``sources``, ``tags`` (1-D unicode, length n) and ``vectors``
((n, d) float32) — these four names are a public contract — plus, when known, ``embedder`` (name),
``embedder_key`` (the embedder's cache key) and one ``tag__<column>`` unicode array per extra tag
column. Nothing is pickled: files are loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REQUIRED = ("ids", "sources", "tags", "vectors")
TAG_PREFIX = "tag__"
# Refuse archives declaring more than this uncompressed, before reading any array (zip-bomb guard).
MAX_UNPACKED_BYTES = 8 << 30


@dataclass
class EmbeddingFile:
    """The contents of a vectors file: n rows of ids/sources/tags and an (n, d) float32 matrix."""

    ids: list[str]
    sources: list[str]
    tags: list[str]
    vectors: np.ndarray
    embedder: str | None = None
    extra_tags: dict[str, list[str]] = field(default_factory=dict)
    embedder_key: str | None = None

    def __len__(self) -> int:
        return len(self.ids)


def save_embeddings(path: str | os.PathLike, image_set: Any, vectors: np.ndarray, embedder: Any = None) -> Path:
    """Write ``vectors`` (n, d) for the n images of ``image_set`` to ``path`` atomically; returns the path.

    ``embedder`` is an ``Embedder`` (its name and cache key are stored), a name, or None.
    """
    path = Path(path)
    vectors = np.asarray(vectors)
    n = len(image_set.ids)
    if vectors.ndim != 2 or vectors.shape[0] != n:
        raise ValueError(f"vectors must have shape ({n}, d) for {n} images, got {vectors.shape}")
    if not np.issubdtype(vectors.dtype, np.floating):
        raise ValueError(f"vectors must be floating point, got {vectors.dtype}")
    arrays: dict[str, np.ndarray] = {
        "ids": _text_array(image_set.ids), "sources": _text_array(image_set.sources),
        "tags": _text_array(image_set.tags), "vectors": np.ascontiguousarray(vectors, dtype=np.float32),
    }
    for column, values in getattr(image_set, "extra_tags", {}).items():
        if "/" in column or "\\" in column or not column:
            raise ValueError(f"extra tag column name {column!r} cannot be stored (empty or contains a slash)")
        arrays[TAG_PREFIX + column] = _text_array(values)
    name = embedder if isinstance(embedder, str) else getattr(embedder, "name", None)
    if name:
        arrays["embedder"] = np.array(name)
    key = getattr(embedder, "cache_key", None)
    if key:
        arrays["embedder_key"] = np.array(key)
    _atomic_savez(path, arrays)
    return path


def load_embeddings(path: str | os.PathLike) -> EmbeddingFile:
    """Read and validate a vectors file; ValueError naming the file and the problem when it is bad."""
    path = Path(path)
    arrays = _read_npz(path)
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise ValueError(f"{path}: missing array(s) {', '.join(missing)} (a vectors file needs {', '.join(REQUIRED)})")
    vectors = arrays["vectors"]
    if vectors.ndim != 2:
        raise ValueError(f"{path}: 'vectors' must be 2-D (n, d), got shape {vectors.shape}")
    if not np.issubdtype(vectors.dtype, np.floating):
        raise ValueError(f"{path}: 'vectors' must be floating point, got {vectors.dtype}")
    n = vectors.shape[0]
    columns = {k: _text_column(path, k, arrays[k], n) for k in ("ids", "sources", "tags")}
    extra = {k[len(TAG_PREFIX):]: _text_column(path, k, v, n) for k, v in arrays.items() if k.startswith(TAG_PREFIX)}
    return EmbeddingFile(ids=columns["ids"], sources=columns["sources"], tags=columns["tags"],
                         vectors=np.ascontiguousarray(vectors, dtype=np.float32),
                         embedder=_scalar_text(path, "embedder", arrays.get("embedder")), extra_tags=extra,
                         embedder_key=_scalar_text(path, "embedder_key", arrays.get("embedder_key")))


def _text_array(values: Any) -> np.ndarray:
    out = np.array([str(v) for v in values], dtype=str)
    return out if out.size else np.zeros(0, dtype="<U1")


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write to a temporary file beside ``path`` and rename, so readers never see half a file."""
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a bare name
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of the archive at ``path``; ValueError naming the file when it is not a sound one."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise ValueError("not an .npz archive" if magic else "empty file")
        with zipfile.ZipFile(path) as zf:
            declared = sum(info.file_size for info in zf.infolist())
        if declared > MAX_UNPACKED_BYTES:
            raise ValueError(f"declares {declared / 2**30:.1f} GiB of arrays (limit {MAX_UNPACKED_BYTES / 2**30:.0f} GiB)")
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a folder, not a vectors file") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        reason = str(exc) or type(exc).__name__
        if "pickle" in reason:
            reason = "holds pickled objects, which are never loaded"
        raise ValueError(f"{path}: not a readable vectors file ({reason})") from None


def _text_column(path: Path, key: str, array: np.ndarray, n: int) -> list[str]:
    if array.dtype.kind != "U" or array.ndim != 1:
        raise ValueError(f"{path}: {key!r} must be a 1-D text array, got {array.dtype} {array.shape}")
    if array.shape[0] != n:
        raise ValueError(f"{path}: {key!r} has {array.shape[0]} entries but 'vectors' has {n} rows")
    return array.tolist()


def _scalar_text(path: Path, key: str, array: np.ndarray | None) -> str | None:
    if array is None:
        return None
    if array.dtype.kind != "U" or array.size != 1:
        raise ValueError(f"{path}: {key!r} must be one text value, got {array.dtype} {array.shape}")
    return str(array.reshape(()).item())
