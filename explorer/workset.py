"""One record for "a set and its vectors" (``WorkSet``, immutable) and its content keys.

``explorer.io.load.load_workset`` builds every record, from every kind of source; this module holds only
the record and the keys, so everything above it (readers, measures, the UI) can name the record without
pulling in the loaders. The UI, the CLI, the set store and the story pages all build their sets through
``explorer.io.load``, so the same content gets the same ``key`` whichever route loaded it.

Keys: ``set_key`` names the rows alone (image content hashes, tag columns and image size; for an
``.npz`` its ids and vector bytes); ``key`` = ``content_key(set_key, embedder identity)`` names the set
*and* its vectors (the embedder's ``cache_key``, which includes its parameters and version).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from explorer.imageset import ImageSet, SkippedFile


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


@dataclass(frozen=True)
class WorkSet:
    """A loaded set and its vectors; immutable once built (``dataclasses.replace`` makes a changed copy,
    e.g. ``explorer.io.load.embed_workset``).

    name : where it came from ("demo:hands", a folder name, an .npz file name, "your images").
    key : content key of set + embedder (``workset_key``); ``set_key`` the rows alone.
    images : the ImageSet (pixels, thumbnails), or None for an ``.npz`` without pictures.
    ids, sources : one entry per row.
    columns : tag column -> list of str per row; ``"tag"`` (the primary tag) comes first.
    vectors : (n, d) float32, or None when loaded with ``embedder=None`` from images.
    embedder_name : name of the embedder that made the vectors ("" when not embedded).
    embedder : the ``Embedder`` object when this run embedded, else None (an .npz).
    vectors_file : the bare name of the file the vectors came from ("" when this run embedded them).
    skipped : files refused while loading, with the reason.
    shard : for a folder written by ``embed --workers``, its ``explorer.cluster.shards.ShardedSet`` (thumbnails are
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
    shard: Any = None  # explorer.cluster.shards.ShardedSet for a folder from embed --workers: pictures and maps on disk
    vectors_file: str = ""

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
    def vectors_label(self) -> str:
        """Where the vectors came from, for captions: "embedded with NAME" when this run embedded them,
        "vectors from FILE (NAME)" / "vectors from FILE" when a file brought them, "" without vectors."""
        if self.vectors is None:
            return ""
        if self.embedder is not None:
            return f"embedded with {self.embedder_name}"
        source = self.vectors_file or self.name
        return f"vectors from {source} ({self.embedder_name})" if self.embedder_name else f"vectors from {source}"

    def column(self, name: str | None = None) -> list[str]:
        """Any tag column by name (``None`` or "tag" is the primary tag); KeyError listing the columns."""
        name = name or "tag"
        if name not in self.columns:
            raise KeyError(f"unknown tag column {name!r}; available: {list(self.columns)}")
        return self.columns[name]


def columns_of(primary: list[str], extra: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """Tag columns with ``"tag"`` first, then the extra columns in their order."""
    return {"tag": list(primary), **{k: list(v) for k, v in (extra or {}).items() if k != "tag"}}
