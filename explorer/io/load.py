"""The one loader: any source -> an immutable ``WorkSet`` (rows, pictures when there are any, vectors).

``load_workset(source, embedder=..., limits=...)`` takes ``demo:NAME``, a folder, a ``.zip``, a manifest
``.csv``/``.tsv``/``.parquet``, an ``.npz`` written by ``python -m explorer embed``, a Parquet from ``export``,
a Projector bundle (folder, ``tensors.tsv`` or its ZIP), a folder written by ``embed --workers``, an
``ImageSet`` already in memory (uploads) or ``VectorBytes`` (an uploaded vector file, read in memory).
``classify_source`` names the kind once; every "is this sharded?" and "is this a vector file?" question is
answered there. Images are embedded through the on-disk embedding cache; vector files are taken as they
are, within ``limits`` (``explorer.limits.APP_VECTORS`` for a visitor, ``CLI_VECTORS`` for the operator).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from explorer import limits as L
from explorer.cluster.shards import ClusterError, ShardedSet, is_sharded_folder, open_sharded
from explorer.embedders import embed_set, get_embedder
from explorer.images import DEFAULT_IMAGE_SIZE
from explorer.imageset import ImageSet
from explorer.io.cache import EmbeddingCache, default_cache_dir
from explorer.io.decoded import DecodedCache
from explorer.io.interop import load_vectors, parquet_has_vectors, projector_tensors, zipped_bundle_member
from explorer.io.names import display_name
from explorer.io.shipped import find_shipped
from explorer.io.sources import LoadError, load_source
from explorer.io.store import EmbeddingFile
from explorer.progress import ProgressCallback
from explorer.workset import WorkSet, columns_of, content_key, image_set_key, vectors_set_key, workset_key


class _DefaultCache:
    """Sentinel: use the cache under ``default_cache_dir()`` (``$EXPLORER_CACHE_DIR``)."""

    def __repr__(self) -> str:
        return "DEFAULT_CACHE"


DEFAULT_CACHE: Any = _DefaultCache()


class SourceKind(str, Enum):
    """What a source is, decided once by :func:`classify_source`."""

    DEMO = "demo"
    FOLDER = "folder"
    ZIP = "zip"
    MANIFEST = "manifest"
    NPZ = "npz"
    PARQUET_VECTORS = "parquet_vectors"
    PROJECTOR = "projector"
    SHARD_FOLDER = "shard_folder"
    IMAGES = "images"  # an ImageSet already in memory (uploads)
    UPLOADED_VECTORS = "uploaded_vectors"  # VectorBytes

    @property
    def brings_vectors(self) -> bool:
        """True for the kinds whose vectors come in the source (nothing is embedded)."""
        return self in VECTOR_KINDS


VECTOR_KINDS = frozenset({SourceKind.NPZ, SourceKind.PARQUET_VECTORS, SourceKind.PROJECTOR,
                          SourceKind.SHARD_FOLDER, SourceKind.UPLOADED_VECTORS})


@dataclass(frozen=True)
class VectorBytes:
    """An uploaded vector file held in memory: ``name`` is its bare file name (``.npz``, ``.parquet``,
    ``tensors.tsv`` or a bundle ``.zip``), ``data`` its bytes."""

    name: str
    data: bytes


def classify_source(source: object) -> SourceKind:
    """The kind of ``source``; LoadError naming it when it is missing or of no kind we read."""
    if isinstance(source, ImageSet):
        return SourceKind.IMAGES
    if isinstance(source, VectorBytes):
        return SourceKind.UPLOADED_VECTORS
    if not isinstance(source, (str, os.PathLike)):
        raise LoadError(f"{type(source).__name__}: not a source (expected a path, demo:NAME, an ImageSet "
                        "or VectorBytes)")
    text = str(source)
    if text.startswith("demo:"):
        return SourceKind.DEMO
    path = Path(text)
    lower = text.lower()
    if is_sharded_folder(path):
        return SourceKind.SHARD_FOLDER
    if lower.endswith(".npz"):
        return SourceKind.NPZ
    if lower.endswith(".parquet"):
        return SourceKind.PARQUET_VECTORS if parquet_has_vectors(text) else SourceKind.MANIFEST
    if projector_tensors(text) is not None or zipped_bundle_member(text) is not None:
        return SourceKind.PROJECTOR
    if path.is_dir():
        return SourceKind.FOLDER
    if not path.exists():
        raise LoadError(f"{display_name(text)}: not found (expected a folder, a .zip, a .csv or demo:NAME)")
    if path.suffix.lower() == ".zip":
        return SourceKind.ZIP
    if path.suffix.lower() in (".csv", ".tsv"):
        return SourceKind.MANIFEST
    raise LoadError(f"{display_name(text)}: unsupported source (expected a folder, a .zip, a .csv or demo:NAME)")


def load_workset(source: str | os.PathLike | ImageSet | VectorBytes, *, embedder: Any = "pixels",
                 tag_column: str | None = None, image_size: int = DEFAULT_IMAGE_SIZE, cache: Any = DEFAULT_CACHE,
                 decoded: Any = DEFAULT_CACHE, limits: L.VectorLimits = L.CLI_VECTORS,
                 progress: ProgressCallback | None = None) -> WorkSet:
    """Load ``source`` and embed it: the one way a set and its vectors are built.

    embedder : an embedder name, an ``Embedder``, or None to load the rows without embedding (vectors
        None). Ignored for sources that bring their vectors (``SourceKind.brings_vectors``).
    tag_column : the manifest column holding the primary tag (manifest sources only).
    cache : an ``EmbeddingCache``; ``DEFAULT_CACHE`` for the one under ``$EXPLORER_CACHE_DIR``; None for none.
    decoded : an ``explorer.io.decoded.DecodedCache``; ``DEFAULT_CACHE`` for the one in ``cache``'s folder.
    limits : the caps on vector files. A bounded set (``APP_VECTORS``, for visitors) also leaves NaN/inf rows
        out (reported in ``skipped``) and names files by their bare name, never a server path.

    Raises ``LoadError`` when nothing loads (naming the source and the reason) and ``ValueError`` for a bad
    embedder name (``EmbedderUnavailable`` for a missing optional dependency).
    """
    kind = classify_source(source)
    if kind.brings_vectors:
        return _read_vectors(source, kind, limits)
    if cache is DEFAULT_CACHE:
        cache = EmbeddingCache(default_cache_dir())
    if decoded is DEFAULT_CACHE:
        decoded = DecodedCache(cache.root) if getattr(cache, "root", None) is not None else None
    model = _embedder(embedder)  # a bad name fails before anything is decoded
    images = source if kind is SourceKind.IMAGES else load_source(
        source, tag_column=tag_column, image_size=image_size, progress=progress, decoded=decoded)
    record = workset_from_images(images)
    return record if model is None else embed_workset(record, model, cache=cache, progress=progress)


def embed_workset(record: WorkSet, embedder: Any, *, cache: Any = None,
                  progress: ProgressCallback | None = None, use_shipped: bool = True) -> WorkSet:
    """A new record: ``record`` with ``embedder``'s vectors of its images (through ``cache``) and their key.

    ``use_shipped``: vectors shipped with the app for exactly this set and embedder (the built-in demo's,
    explorer.io.shipped) are taken instead of computed; False computes them (to rebuild or check those)."""
    if record.images is None:
        raise ValueError(f"{record.name}: holds precomputed vectors and no images to embed")
    model = _embedder(embedder)
    key = workset_key(record.set_key, model.cache_key)
    shipped = find_shipped(key) if use_shipped else None  # the built-in demo's vectors ship with the app (explorer.io.shipped)
    if shipped is not None and shipped.vectors is not None and len(shipped.vectors) == len(record.ids):
        vectors = shipped.vectors
    else:
        vectors = np.asarray(embed_set(record.images, model, cache=cache, progress=progress), dtype=np.float32)
    return dataclasses.replace(record, vectors=vectors, embedder=model, embedder_name=model.name, key=key,
                               vectors_file="")


def workset_from_images(images: ImageSet, *, name: str | None = None) -> WorkSet:
    """The record of an image set's rows, not yet embedded; its tag columns are derived here, once."""
    set_key = image_set_key(images)
    return WorkSet(name=name or images.name, key=set_key, images=images, ids=list(images.ids),
                   sources=list(images.sources), columns=columns_of(images.tags, images.extra_tags),
                   skipped=list(images.skipped), set_key=set_key)


def workset_from_vectors(data: Any, *, name: str, skipped: list | None = None,
                         extra_columns: dict[str, list[str]] | None = None, shard: ShardedSet | None = None) -> WorkSet:
    """The record of an already-read file of vectors (``explorer.io.store.EmbeddingFile`` or the same shape).

    ``skipped`` defaults to the file's own (e.g. non-finite vectors left out at load); ``extra_columns`` are
    tag columns added after the file's own; ``name`` is the bare file name (``vectors_label`` shows it).
    """
    if len(data.ids) == 0:
        raise LoadError(f"{name}: the file holds no vectors")
    vectors = np.ascontiguousarray(data.vectors, dtype=np.float32)
    embedder_name = data.embedder or ""
    set_key = vectors_set_key(list(data.ids), embedder_name, vectors)
    columns = columns_of(data.tags, {**(data.extra_tags or {}), **(extra_columns or {})})
    return WorkSet(name=name, key=workset_key(set_key, getattr(data, "embedder_key", "") or embedder_name),
                   images=None, ids=list(data.ids), sources=list(data.sources), columns=columns, vectors=vectors,
                   embedder_name=embedder_name, skipped=list(skipped if skipped is not None else
                                                              getattr(data, "skipped", []) or []),
                   set_key=set_key, shard=shard, vectors_file=name)


def workset_from_table(name: str, ids: list[str], sources: list[str], columns: dict[str, list[str]]) -> WorkSet:
    """The record of a table of rows without pictures or vectors (a map's coordinates drawn as given)."""
    set_key = content_key(name, ids)
    return WorkSet(name=name, key=set_key, set_key=set_key, images=None, ids=list(ids), sources=list(sources),
                   columns={"tag": list(columns["tag"]), **{k: list(v) for k, v in columns.items() if k != "tag"}})


# ----------------------------------------------------------------------------------------- vector files


def _bounded(limits: L.VectorLimits) -> bool:
    """A visitor's limits (rows capped): NaN/inf rows are dropped and files named by their bare name."""
    return limits.max_rows is not None


def _read_vectors(source: Any, kind: SourceKind, limits: L.VectorLimits) -> WorkSet:
    if kind is SourceKind.SHARD_FOLDER:
        return _from_sharded(Path(source))
    if kind is SourceKind.UPLOADED_VECTORS:
        name = PurePosixPath(source.name.replace("\\", "/")).name or "upload.npz"
        where = source.name
    else:
        name = Path(source).name or str(source)
        where = str(source)
    shown = name if _bounded(limits) else display_name(where)
    try:
        data = _vector_file(source, kind, name, limits)
    except (OSError, ValueError) as exc:
        message = display_name(str(exc).replace(where, shown), max_length=400)
        raise LoadError(message if shown in message else f"{shown}: {message}") from None
    return workset_from_vectors(data, name=name)


def _vector_file(source: Any, kind: SourceKind, name: str, limits: L.VectorLimits) -> EmbeddingFile:
    """Every reader checks ``limits`` before it allocates (headers, Parquet metadata, a counting pass over
    Projector text) and reads an upload from memory: nothing is unpacked to disk, no server path is shown."""
    drop = _bounded(limits)
    if kind is SourceKind.UPLOADED_VECTORS:
        return load_vectors(source.data, name=name, limits=limits, drop_non_finite=drop)
    return load_vectors(source, name=name if drop else None, limits=limits, drop_non_finite=drop)


def _from_sharded(path: Path) -> WorkSet:
    """A folder from ``embed --workers``: vectors and tags now, pictures per row from its partitions; a map
    that ``map --fit-sample`` wrote adds a column saying which points were fitted and which placed."""
    try:
        shard = open_sharded(path)
    except (ClusterError, OSError, ValueError) as exc:
        raise LoadError(str(exc)) from None
    # Lets the map be coloured by how each point got there; two str objects shared by every row (a list of a
    # million fresh strings was 60 MB and a tenth of a second).
    words = np.array(["placed", "fitted"], dtype=object)
    how_placed = {f"{method} map": words[mapped.fitted.astype(np.intp)].tolist() for method, mapped in shard.maps.items()}
    return workset_from_vectors(shard.data, name=path.name or str(path), skipped=list(shard.skipped),
                                extra_columns=how_placed, shard=shard)


def _embedder(embedder: Any):
    if embedder is None or not isinstance(embedder, str):
        return embedder
    return get_embedder(embedder)
