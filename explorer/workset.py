"""One record for "a set and its vectors", and the one function that builds it from any source.

``load_workset(source, embedder=...)`` takes ``demo:NAME``, a folder, a ``.zip``, a manifest ``.csv``,
an ``.npz`` written by ``python -m explorer embed``, or an already-loaded ``ImageSet`` (uploads), and
returns a ``WorkSet``: the rows (ids, sources, tag columns), the pictures when there are any, and the
(n, d) float32 vectors, embedded through the on-disk embedding cache. The UI, the CLI and the story
pages all build their sets here, so the same content gets the same ``key`` whichever route loaded it.

Keys: ``set_key`` names the rows alone (image content hashes, tag columns and image size; for an
``.npz`` its ids and vector bytes); ``key`` = ``content_key(set_key, embedder identity)`` names the set
*and* its vectors (the embedder's ``cache_key``, which includes its parameters and version).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from explorer.images import DEFAULT_IMAGE_SIZE
from explorer.imageset import ImageSet, SkippedFile
from explorer.progress import ProgressCallback


class _DefaultCache:
    """Sentinel: use the cache under ``default_cache_dir()`` (``$EXPLORER_CACHE_DIR``)."""

    def __repr__(self) -> str:
        return "DEFAULT_CACHE"


DEFAULT_CACHE: Any = _DefaultCache()


def content_key(*parts: object) -> str:
    """A short SHA-256 over the parts' text (lists and tuples joined by newlines)."""
    h = hashlib.sha256()
    for part in parts:
        h.update((("\n".join(map(str, part)) if isinstance(part, (list, tuple)) else str(part)) + "\x1f").encode())
    return h.hexdigest()[:24]


def image_set_key(images: ImageSet) -> str:
    """The content key of an image set's rows: content hashes, every tag column and the image size."""
    extra = [(name, images.extra_tags[name]) for name in sorted(images.extra_tags) if name != "tag"]
    return content_key(images.hashes, images.tags, images.image_size, *[p for pair in extra for p in pair])


def vectors_set_key(ids: list[str], embedder_name: str, vectors: np.ndarray) -> str:
    """The content key of precomputed vectors (an ``.npz``): ids, embedder and the vector bytes."""
    digest = hashlib.sha256(np.ascontiguousarray(vectors, dtype=np.float32).tobytes()).hexdigest()
    return content_key(ids, embedder_name, digest)


def workset_key(set_key: str, embedder_id: str) -> str:
    """The key of a set *and* its vectors: ``embedder_id`` is the embedder's ``cache_key``."""
    return content_key(set_key, embedder_id)


@dataclass
class WorkSet:
    """A loaded set and its vectors.

    name : where it came from ("demo:hands", a folder name, an .npz file name, "your images").
    key : content key of set + embedder (``workset_key``); ``set_key`` the rows alone.
    images : the ImageSet (pixels, thumbnails), or None for an ``.npz`` without pictures.
    ids, sources : one entry per row.
    columns : tag column -> list of str per row; ``"tag"`` (the primary tag) comes first.
    vectors : (n, d) float32, or None when loaded with ``embedder=None`` from images.
    embedder_name : name of the embedder that made the vectors ("" when not embedded).
    embedder : the ``Embedder`` object when this run embedded, else None (an .npz).
    skipped : files refused while loading, with the reason.
    shard : for a folder written by ``embed --workers``, its ``explorer.cluster.ShardedSet`` (thumbnails are
        read per row from its Parquet files, and the maps ``map --fit-sample`` wrote are kept there).
    """

    name: str
    key: str
    images: ImageSet | None
    ids: list[str]
    sources: list[str]
    columns: dict[str, list[str]]
    vectors: np.ndarray | None = None
    embedder_name: str = ""
    embedder: Any = None
    skipped: list[SkippedFile] = field(default_factory=list)
    set_key: str = ""
    shard: Any = None  # explorer.cluster.ShardedSet for a folder from embed --workers: pictures and maps on disk

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def tags(self) -> list[str]:
        """The primary tag of each row."""
        return self.columns["tag"]

    @property
    def tag_columns(self) -> list[str]:
        return list(self.columns)

    @property
    def image_set(self) -> ImageSet | None:
        """Alias of ``images`` (the name the CLI commands use)."""
        return self.images

    def column(self, name: str | None = None) -> list[str]:
        """Any tag column by name (``None`` or "tag" is the primary tag); KeyError listing the columns."""
        name = name or "tag"
        if name not in self.columns:
            raise KeyError(f"unknown tag column {name!r}; available: {list(self.columns)}")
        return self.columns[name]


def columns_of(primary: list[str], extra: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """Tag columns with ``"tag"`` first, then the extra columns in their order."""
    return {"tag": list(primary), **{k: list(v) for k, v in (extra or {}).items() if k != "tag"}}


def is_npz(source: object) -> bool:
    """True for sources that bring their own vectors: an ``.npz`` from ``embed``, a Parquet from ``export``,
    a Projector bundle (``explorer.io.interop``)."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    from explorer.cluster import is_sharded_folder
    from explorer.io.interop import is_vector_source

    return str(source).lower().endswith(".npz") or is_vector_source(source) or is_sharded_folder(source)


def load_workset(source: str | os.PathLike | ImageSet, *, embedder: Any = "pixels", tag_column: str | None = None,
                 image_size: int = DEFAULT_IMAGE_SIZE, cache: Any = DEFAULT_CACHE, decoded: Any = DEFAULT_CACHE,
                 progress: ProgressCallback | None = None) -> WorkSet:
    """Load ``source`` and embed it: the one way a set and its vectors are built.

    source : ``demo:NAME``, a folder, a ``.zip``, a manifest ``.csv``/``.tsv``, an ``.npz`` of vectors,
        or an ``ImageSet`` already in memory (uploads).
    embedder : an embedder name, an ``Embedder``, or None to load the rows without embedding (vectors
        None). Ignored for an ``.npz``, whose vectors are taken as they are (``embedder`` stays None).
    tag_column : the manifest column holding the primary tag (``.csv`` sources only).
    cache : an ``EmbeddingCache``; ``DEFAULT_CACHE`` for the one under ``$EXPLORER_CACHE_DIR``; None for none.
    decoded : an ``explorer.decoded.DecodedCache`` of decoded images; ``DEFAULT_CACHE`` for the one in
        ``cache``'s folder (none when ``cache`` is None). Files seen before are then not decoded again, and
        unchanged files of a folder or manifest not even read.

    Raises ``explorer.sources.LoadError`` when nothing loads (naming the source and the reason) and
    ``ValueError`` for a bad embedder name (``EmbedderUnavailable`` for a missing optional dependency).
    """
    if is_npz(source):
        return _from_npz(Path(source))
    if cache is DEFAULT_CACHE:
        from explorer.io.cache import EmbeddingCache, default_cache_dir

        cache = EmbeddingCache(default_cache_dir())
    if decoded is DEFAULT_CACHE:
        from explorer.io.decoded import DecodedCache

        decoded = DecodedCache(cache.root) if getattr(cache, "root", None) is not None else None
    model = _embedder(embedder)  # a bad name fails before anything is decoded
    if isinstance(source, ImageSet):
        images = source
    else:
        from explorer.io.sources import load_source

        images = load_source(source, tag_column=tag_column, image_size=image_size, progress=progress,
                             decoded=decoded)
    record = _from_images(images)
    if model is not None:
        embed_workset(record, model, cache=cache, progress=progress)
    return record


def embed_workset(record: WorkSet, embedder: Any, *, cache: Any = None,
                  progress: ProgressCallback | None = None) -> WorkSet:
    """Fill ``record.vectors`` (and its key) with ``embedder``'s vectors of its images, through ``cache``."""
    from explorer.embedders import embed_set

    if record.images is None:
        raise ValueError(f"{record.name}: holds precomputed vectors and no images to embed")
    model = _embedder(embedder)
    record.vectors = np.asarray(embed_set(record.images, model, cache=cache, progress=progress), dtype=np.float32)
    record.embedder, record.embedder_name = model, model.name
    record.key = workset_key(record.set_key, model.cache_key)
    return record


def _embedder(embedder: Any):
    if embedder is None or not isinstance(embedder, str):
        return embedder
    from explorer.embedders import get_embedder

    return get_embedder(embedder)


def _from_images(images: ImageSet) -> WorkSet:
    set_key = image_set_key(images)
    return WorkSet(name=images.name, key=set_key, images=images, ids=list(images.ids),
                   sources=list(images.sources), columns=columns_of(images.tags, images.extra_tags),
                   skipped=list(images.skipped), set_key=set_key)


def _from_npz(path: Path) -> WorkSet:
    from explorer.io.interop import load_vectors
    from explorer.io.sources import LoadError, display_name

    shown = display_name(str(path))
    if _is_sharded(path):
        return _from_sharded(path)
    try:
        data = load_vectors(path)
    except (OSError, ValueError) as exc:
        message = display_name(str(exc), max_length=400)
        raise LoadError(message if shown in message else f"{shown}: {message}") from None
    return workset_from_vectors(data, name=path.name)


def _is_sharded(path: Path) -> bool:
    from explorer.cluster import is_sharded_folder

    return is_sharded_folder(path)


def _from_sharded(path: Path) -> WorkSet:
    """A folder from ``embed --workers``: vectors and tags now, pictures per row from its partitions; a map
    that ``map --fit-sample`` wrote adds a column saying which points were fitted and which placed."""
    from explorer.cluster import ClusterError, open_sharded
    from explorer.io.sources import LoadError

    try:
        shard = open_sharded(path)
    except (ClusterError, OSError, ValueError) as exc:
        raise LoadError(str(exc)) from None
    data = shard.data
    data.skipped = list(shard.skipped)
    for method, mapped in shard.maps.items():  # lets the map be coloured by how each point got there
        data.extra_tags[f"{method} map"] = np.where(mapped.fitted, "fitted", "placed").tolist()
    record = workset_from_vectors(data, name=path.name or str(path))
    record.shard = shard
    return record


def workset_from_vectors(data: Any, *, name: str) -> WorkSet:
    """The record of an already-read file of vectors (``explorer.store.EmbeddingFile`` or the same shape);
    its ``skipped`` rows (e.g. non-finite vectors left out at load) are carried over."""
    from explorer.io.sources import LoadError

    if len(data.ids) == 0:
        raise LoadError(f"{name}: the file holds no vectors")
    vectors = np.ascontiguousarray(data.vectors, dtype=np.float32)
    embedder_name = data.embedder or ""
    set_key = vectors_set_key(list(data.ids), embedder_name, vectors)
    return WorkSet(name=name, key=workset_key(set_key, getattr(data, "embedder_key", "") or embedder_name),
                   images=None, ids=list(data.ids), sources=list(data.sources),
                   columns=columns_of(data.tags, data.extra_tags), vectors=vectors, embedder_name=embedder_name,
                   skipped=list(getattr(data, "skipped", []) or []), set_key=set_key)


