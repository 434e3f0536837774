"""Saving and loading the ``.npz`` vector files that ``python -m explorer embed`` writes.

A file holds the arrays ``ids``, ``sources``, ``tags`` (1-D unicode, length n) and ``vectors``
((n, d) float32) — these four names are a public contract — plus, when known, ``embedder`` (name),
``embedder_key`` (the embedder's cache key) and one ``tag__<column>`` unicode array per extra tag
column. Nothing is pickled: files are loaded with ``allow_pickle=False``.

Before any array is read, the ``.npy`` headers inside the archive are checked: declared shapes and bytes
against the caller's limits (the app passes ``explorer.limits.NPZ_MAX_*``; the command line only the
zip-bomb guard ``NPZ_CLI_MAX_BYTES``), and object arrays are refused.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npformat

from explorer import limits as L
from explorer.imageset import SkippedFile
from explorer.io.bounded import MemberRefused, open_member
from explorer.io.cache import atomic_write
from explorer.io.names import display_name
from explorer.words import plural

REQUIRED = ("ids", "sources", "tags", "vectors")
TAG_PREFIX = "tag__"
# Refuse archives declaring more than this uncompressed, before reading any array (zip-bomb guard).
MAX_UNPACKED_BYTES = L.NPZ_CLI_MAX_BYTES
NON_FINITE_REASON = "vector has NaN or infinite values, left out"


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
    skipped: list[SkippedFile] = field(default_factory=list)  # rows left out (``drop_non_finite``)

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
    atomic_write(path, lambda fh: np.savez(fh, **arrays))  # a file object: savez would add .npz to a name
    return path


def load_embeddings(path: str | os.PathLike | bytes, *, name: str | None = None,
                    limits: L.VectorLimits | None = L.CLI_VECTORS, max_rows: int | None = None,
                    max_dims: int | None = None, max_bytes: int | None = None,
                    drop_non_finite: bool = False) -> EmbeddingFile:
    """Read and validate a vectors file; ValueError naming the file and the problem when it is bad.

    path : a file, or the file's bytes (an upload: nothing is written to disk).
    name : how the file is named in messages (default: the path; give a bare name to keep server paths
        out of what visitors see).
    limits : rows, dimensions and bytes checked from the ``.npy`` headers before any array is read
        (``explorer.limits.APP_VECTORS`` for visitors); every member is then read through the bounded
        reader, so a member inflating beyond its declared size stops there.
    max_rows, max_dims, max_bytes : override one field of ``limits`` (older callers).
    drop_non_finite : leave out rows whose vector holds NaN or inf, each reported in ``skipped``.
    """
    limits = L.CLI_VECTORS if limits is None else limits
    shown = name or ("upload.npz" if isinstance(path, (bytes, bytearray)) else str(path))
    path = path if isinstance(path, (bytes, bytearray)) else Path(path)
    arrays = _read_npz(path, shown, max_rows=limits.max_rows if max_rows is None else max_rows,
                       max_dims=limits.max_dims if max_dims is None else max_dims,
                       max_bytes=limits.max_bytes if max_bytes is None else max_bytes)
    path = shown
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise ValueError(f"{path}: missing {plural(len(missing), 'array')}: {', '.join(missing)} "
                         f"(a vectors file needs {', '.join(REQUIRED)})")
    vectors = arrays["vectors"]
    if vectors.ndim != 2:
        raise ValueError(f"{path}: 'vectors' must be 2-D (n, d), got shape {vectors.shape}")
    if not np.issubdtype(vectors.dtype, np.floating):
        raise ValueError(f"{path}: 'vectors' must be floating point, got {vectors.dtype}")
    n = vectors.shape[0]
    columns = {k: _text_column(path, k, arrays[k], n) for k in ("ids", "sources", "tags")}
    extra = {_column_name(k[len(TAG_PREFIX):]): _text_column(path, k, v, n)
             for k, v in arrays.items() if k.startswith(TAG_PREFIX)}
    out = EmbeddingFile(ids=columns["ids"], sources=columns["sources"], tags=columns["tags"],
                        vectors=np.ascontiguousarray(vectors, dtype=np.float32),
                        embedder=_scalar_text(path, "embedder", arrays.get("embedder")), extra_tags=extra,
                        embedder_key=_scalar_text(path, "embedder_key", arrays.get("embedder_key")))
    return _without_non_finite(out, path) if drop_non_finite else out


def _without_non_finite(data: EmbeddingFile, shown: str) -> EmbeddingFile:
    """``data`` without the rows whose vector is not finite, each reported in ``skipped``."""
    keep = np.isfinite(data.vectors).all(axis=1)
    if keep.all():
        return data
    if not keep.any():
        raise ValueError(f"{shown}: every vector holds NaN or infinite values")
    rows = np.flatnonzero(keep)

    def pick(values: list[str]) -> list[str]:
        return [values[i] for i in rows]

    skipped = [SkippedFile(data.sources[i] or data.ids[i], NON_FINITE_REASON) for i in np.flatnonzero(~keep)]
    return EmbeddingFile(ids=pick(data.ids), sources=pick(data.sources), tags=pick(data.tags),
                         vectors=np.ascontiguousarray(data.vectors[rows]), embedder=data.embedder,
                         extra_tags={k: pick(v) for k, v in data.extra_tags.items()},
                         embedder_key=data.embedder_key, skipped=data.skipped + skipped)


def _text_array(values: Any) -> np.ndarray:
    out = np.array([str(v) for v in values], dtype=str)
    return out if out.size else np.zeros(0, dtype="<U1")


def _read_npz(path: Path | bytes, shown: str, *, max_rows: int | None, max_dims: int | None,
              max_bytes: int) -> dict[str, np.ndarray]:
    """All arrays of the archive; ValueError naming the file when it is not a sound one or is over a limit."""
    try:
        if isinstance(path, (bytes, bytearray)):
            magic, handle = bytes(path[:4]), io.BytesIO(path)
        else:
            with open(path, "rb") as fh:
                magic = fh.read(4)
            handle = path
        if magic not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise ValueError("not an .npz archive" if magic else "empty file")
        with zipfile.ZipFile(handle) as zf:
            _check_headers(zf, max_rows=max_rows, max_dims=max_dims, max_bytes=max_bytes)
            declared = sum(info.file_size for info in zf.infolist())  # members that are not .npy, too
            if declared > max_bytes:
                raise _Refused(f"declares {_size(declared)} of arrays, over the limit of {_size(max_bytes)}")
            # Each array through the bounded reader, a chunk at a time into an array of its checked header's
            # size; members that are not arrays are never read (np.load would inflate them in one call).
            arrays = {}
            for info in zf.infolist():
                if info.filename.endswith(".npy"):
                    with open_member(zf, info, max_bytes) as fh:
                        arrays[info.filename[:-4]] = npformat.read_array(fh, allow_pickle=False)
            return arrays
    except MemberRefused as exc:
        raise ValueError(f"{shown}: {exc}") from None
    except _Refused as exc:
        raise ValueError(f"{shown}: {exc}") from None
    except FileNotFoundError:
        raise ValueError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{shown}: is a folder, not a vectors file") from None
    except MemoryError:
        raise ValueError(f"{shown}: too large to load in the memory available") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        reason = str(exc) or type(exc).__name__
        if "pickle" in reason:
            reason = "holds pickled objects, which are never loaded"
        raise ValueError(f"{shown}: not a readable vectors file ({reason})") from None


class _Refused(Exception):
    """An archive over a limit (its message is the whole reason)."""


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _check_headers(zf: zipfile.ZipFile, *, max_rows: int | None, max_dims: int | None, max_bytes: int) -> None:
    """Check every ``.npy`` header (shape, dtype) against the limits, reading no array data."""
    total = 0
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            continue
        with zf.open(info) as fh:
            version = npformat.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = npformat.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = npformat.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy version {version} in {info.filename}")
        if dtype.hasobject:
            raise ValueError("holds pickled objects, which are never loaded")
        count = int(np.prod(shape, dtype=object))
        total += count * dtype.itemsize
        if info.filename == "vectors.npy" and len(shape) == 2:
            rows, dims = shape
            if max_rows is not None and rows > max_rows:
                raise _Refused(f"declares {rows:,} x {dims:,} vectors, over the limit of {max_rows:,} rows")
            if max_dims is not None and dims > max_dims:
                raise _Refused(f"declares {rows:,} x {dims:,} vectors, over the limit of {max_dims:,} dimensions")
    if total > max_bytes:
        raise _Refused(f"declares {_size(total)} of arrays, over the limit of {_size(max_bytes)}")


def _text_column(path: Path, key: str, array: np.ndarray, n: int) -> list[str]:
    if array.dtype.kind != "U" or array.ndim != 1:
        raise ValueError(f"{path}: {key!r} must be a 1-D text array, got {array.dtype} {array.shape}")
    if array.shape[0] != n:
        raise ValueError(f"{path}: {key!r} has {array.shape[0]} entries but 'vectors' has {n} rows")
    # Anyone's text: control characters (terminal escapes) and bidi overrides become U+FFFD, as file names do.
    return [display_name(v, max_length=10_000) for v in array.tolist()]


def _column_name(text: str) -> str:
    return display_name(text)


def _scalar_text(path: Path, key: str, array: np.ndarray | None) -> str | None:
    if array is None:
        return None
    if array.dtype.kind != "U" or array.size != 1:
        raise ValueError(f"{path}: {key!r} must be one text value, got {array.dtype} {array.shape}")
    return display_name(str(array.reshape(()).item()), max_length=400)
