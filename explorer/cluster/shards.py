"""The sharded folder format (what ``python -m explorer embed SOURCE --out DIR --workers N`` writes), read and written.

- ``DIR/part-NNNNN.parquet`` — one per partition of the source's files, in walk order: columns ``id``,
  ``sha256``, ``source``, ``tag``, every extra tag column, ``note``, ``vector`` (list<float32>) and
  ``thumbnail`` (JPEG bytes). The files a partition refused are kept in its Parquet metadata, so a
  partition file is complete on its own and is written atomically (temporary name, then rename).
- ``DIR/_skipped.csv`` (``file,reason``) — every refused file, sorted like the single-process skip report.
- ``DIR/_meta.json`` — format, embedder name/version/cache key, counts, and the plan fingerprint that lets
  an interrupted run resume (partitions already written are not recomputed).
- ``DIR/map-<method>.parquet`` (``python -m explorer map DIR --fit-sample M``) — ``id, source, tag, x, y
  [, z], fitted, neighbours_kept``: the map fitted on a stratified sample (``fitted`` true) with every
  other point placed into it (``explorer.cluster.placement``).

``is_sharded_folder`` is the one test of "is this a sharded folder?"; ``explorer.io.load.classify_source`` asks it.
"""

from __future__ import annotations

import csv
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from explorer import limits
from explorer.imageset import SkippedFile, unique_ids
from explorer.io.cache import atomic_write  # temporary file, fsync, rename: never half a file
from explorer.io.store import EmbeddingFile

FORMAT = "explorer-sharded/1"
META_FILE = "_meta.json"
SKIPPED_FILE = "_skipped.csv"
PART_PATTERN = "part-{:05d}.parquet"
MAP_PATTERN = "map-{}.parquet"
DEFAULT_PARTITION_SIZE = 1000
# Columns of a partition file other than tag columns; an extra tag column with one of these names is
# stored as ``tag__<name>``.
RESERVED = ("id", "sha256", "source", "tag", "note", "vector", "thumbnail")
SKIPPED_KEY = b"explorer.skipped"
PLACE_METHODS = ("tsne", "pca")


class ClusterError(ValueError):
    """A sharded folder or a cluster request that cannot be used; the message names the path and reason."""



def plan_partitions(n: int, size: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of at most ``size`` files covering ``n`` files in order."""
    if size < 1:
        raise ClusterError(f"--partition-size must be at least 1, got {size}")
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def column_name(tag_column: str) -> str:
    """The Parquet column of an extra tag column (prefixed only where it would clash)."""
    return f"tag__{tag_column}" if tag_column in RESERVED or tag_column.startswith("tag__") else tag_column



def write_part(path: Path, image_set, vectors: np.ndarray, columns: list[str], skipped) -> None:

    n = len(vectors)
    get = (lambda attr: list(getattr(image_set, attr))) if image_set is not None else (lambda attr: [])
    data = {"id": pa.array(get("ids"), pa.string()), "sha256": pa.array(get("hashes"), pa.string()),
            "source": pa.array(get("sources"), pa.string()), "tag": pa.array(get("tags"), pa.string())}
    for column in columns:
        values = image_set.extra_tags.get(column, [""] * n) if image_set is not None else []
        data[column_name(column)] = pa.array(values, pa.string())
    data["note"] = pa.array(get("notes"), pa.string())
    data["vector"] = _vector_array(vectors)
    data["thumbnail"] = pa.array(get("thumbnails"), pa.binary())
    table = pa.table(data).replace_schema_metadata({SKIPPED_KEY: json.dumps(skipped).encode(),
                                                    b"explorer.tag_columns": json.dumps(columns).encode()})
    write_table(path, table)



def _vector_array(vectors: np.ndarray):

    n, d = vectors.shape
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32) if n else np.zeros(1, np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(vectors, np.float32).ravel()))



def write_table(path: Path, table) -> None:

    buf = io.BytesIO()
    pq.write_table(table, buf)
    atomic_write(path, buf.getvalue())



def read_part_summary(path: Path) -> Optional[tuple[int, list[tuple[str, str]]]]:
    """(rows, skipped pairs) of a written partition file, or None when it is missing or unreadable."""

    if not path.is_file():
        return None
    try:
        info = pq.ParquetFile(path)
        skipped = json.loads((info.schema_arrow.metadata or {}).get(SKIPPED_KEY, b"[]"))
        return info.metadata.num_rows, [(str(f), str(r)) for f, r in skipped]
    except Exception:  # a damaged part is recomputed, like a missing one
        return None



def fix_ids(folder: Path, partitions: int) -> int:
    """Make ids unique across partitions exactly as one process would; returns partitions rewritten."""
    import pyarrow.parquet as pq

    local = [pq.read_table(folder / PART_PATTERN.format(i), columns=["id"]).column("id").to_pylist()
             for i in range(partitions)]
    wanted = unique_ids([x.split("~", 1)[0] for ids in local for x in ids])
    rewritten, offset = 0, 0
    for i, ids in enumerate(local):
        new = wanted[offset:offset + len(ids)]
        offset += len(ids)
        if new != ids:
            path = folder / PART_PATTERN.format(i)
            table = pq.read_table(path)
            table = table.set_column(table.schema.get_field_index("id"), "id", pa.array(new, pa.string()))
            write_table(path, table)
            rewritten += 1
    return rewritten



def write_vectors_folder(folder: str | os.PathLike, data: EmbeddingFile, *,
                         partition_size: int = DEFAULT_PARTITION_SIZE, embedder_version: str = "") -> Path:
    """Write rows that already have vectors (e.g. an ``.npz`` from embed) as a sharded folder without
    pictures, so ``map DIR --fit-sample`` can place them on a cluster. Returns the folder."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise ClusterError(f"{folder}: exists and is not empty")
    folder.mkdir(parents=True, exist_ok=True)
    n, d = data.vectors.shape
    columns = list(data.extra_tags)
    ranges = plan_partitions(n, partition_size)
    for index, (lo, hi) in enumerate(ranges):
        rows = SimpleNamespace(ids=data.ids[lo:hi], hashes=[""] * (hi - lo), sources=data.sources[lo:hi],
                               tags=data.tags[lo:hi], notes=[""] * (hi - lo), thumbnails=[b""] * (hi - lo),
                               extra_tags={c: v[lo:hi] for c, v in data.extra_tags.items()})
        write_part(folder / PART_PATTERN.format(index), rows, data.vectors[lo:hi], columns, [])
    write_skipped(folder / SKIPPED_FILE, [])
    meta = {"format": FORMAT, "source": "", "name": folder.name, "embedder": data.embedder or "",
            "embedder_version": embedder_version, "embedder_key": data.embedder_key or "", "image_size": 0,
            "partition_size": partition_size, "partitions": len(ranges), "files": n, "plan": "",
            "images": n, "skipped": 0, "dims": int(d), "complete": True}
    atomic_write(folder / META_FILE, json.dumps(meta, indent=2).encode())
    return folder



def write_skipped(path: Path, skipped: list[SkippedFile]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["file", "reason"])
    writer.writerows([s.file, s.reason] for s in skipped)
    atomic_write(path, buf.getvalue().encode("utf-8"))



def is_sharded_folder(path: str | os.PathLike) -> bool:
    """True for a folder written by ``embed --workers/--scheduler`` (it has a ``_meta.json`` of our format)."""
    meta = Path(path) / META_FILE
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text("utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False



def read_meta(folder: Path) -> dict:
    try:
        meta = json.loads((folder / META_FILE).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ClusterError(f"{folder}: unreadable {META_FILE} ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ClusterError(f"{folder}: {META_FILE} is not from python -m explorer embed --workers")
    return meta



@dataclass
class MapCoords:
    """A written map: coordinates (n, k) in the folder's row order and which rows were fitted."""

    method: str
    coords: np.ndarray
    fitted: np.ndarray
    path: Path

    def note(self) -> str:
        placed = int((~self.fitted).sum())
        how = "openTSNE's transform" if self.method == "tsne" else "the sample's principal axes"
        return (f"{int(self.fitted.sum()):,} points were fitted ({self.method}, a stratified sample) and "
                f"{placed:,} placed into that map with {how}.")



@dataclass
class ShardedSet:
    """A sharded folder opened for reading: the rows as an ``EmbeddingFile`` plus where each row lives."""

    folder: Path
    data: EmbeddingFile
    parts: list[tuple[Path, int, int]]  # (file, first row, rows)
    skipped: list[SkippedFile]
    meta: dict
    maps: dict[str, MapCoords] = field(default_factory=dict)

    def locate(self, row: int) -> tuple[Path, int]:
        """(partition file, row inside it) of global ``row``."""
        starts = [start for _, start, _ in self.parts]
        i = int(np.searchsorted(starts, row, side="right")) - 1
        path, start, count = self.parts[i]
        if not 0 <= row - start < count:
            raise IndexError(f"row {row} is outside {self.folder} ({len(self.data)} rows)")
        return path, row - start



def part_files(folder: Path, meta: dict) -> list[Path]:
    count = int(meta.get("partitions", 0))
    paths = [folder / PART_PATTERN.format(i) for i in range(count)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing or not meta.get("complete"):
        raise ClusterError(f"{folder}: the embed run is unfinished ({len(missing)} of {count} partition files "
                           "missing); run the same embed command again to resume it")
    return paths



def open_sharded(folder: str | os.PathLike, *, vectors: bool = True,
                 threads: int = limits.SHARD_READ_THREADS) -> ShardedSet:
    """Read a sharded folder: ids, sources, tag columns, vectors (n, d) float32, skips and written maps.

    The partition files are read ``threads`` at a time, each straight into its rows of one matrix sized from
    the footers (no per-row Python work, no second copy of the vectors); rows keep the files' order. Thumbnails
    stay on disk (:func:`read_thumbnail`). ClusterError naming the folder or file when it is not sound.
    """

    folder = Path(folder)
    meta = read_meta(folder)
    paths = part_files(folder, meta)
    dims = int(meta.get("dims", 0))
    pool = ThreadPoolExecutor(max(1, int(threads)), thread_name_prefix="fse-shards")
    try:
        footers = list(pool.map(_footer, paths))
        tag_columns = footers[0][1] if footers else []
        for path, (_, names) in zip(paths, footers):
            if names != tag_columns:
                raise ClusterError(f"{path}: its tag columns {names} differ from {paths[0].name}'s {tag_columns}")
        starts = np.concatenate([[0], np.cumsum([rows for rows, _ in footers], dtype=np.int64)])
        # Zeroed lazily by the OS: without vectors (map placement) these pages are never touched.
        matrix = np.zeros((int(starts[-1]), dims), np.float32)
        wanted = ["id", "source", "tag", *map(column_name, tag_columns)]

        def read(i: int) -> pa.Table:
            table = _read_part(paths[i], wanted + (["vector"] if vectors else []), int(footers[i][0]))
            if vectors:
                matrix[starts[i]:starts[i + 1]] = vectors_of(table.column("vector"), table.num_rows, dims, paths[i])
            # Each part's own metadata (its skips) differs: dropped so the text columns concatenate.
            return table.select(wanted).replace_schema_metadata(None)

        tables = list(pool.map(read, range(len(paths))))
    finally:  # on a bad part, the files not yet read are not read
        pool.shutdown(wait=True, cancel_futures=True)
    table = pa.concat_tables(tables) if tables else pa.table({name: pa.array([], pa.string()) for name in wanted})
    del tables
    data = EmbeddingFile(ids=table.column("id").to_pylist(), sources=table.column("source").to_pylist(), tags=_string_list(table.column("tag")),
                         vectors=matrix, embedder=meta.get("embedder"), embedder_key=meta.get("embedder_key"),
                         extra_tags={name: _string_list(table.column(column_name(name))) for name in tag_columns})
    parts = [(path, int(starts[i]), int(starts[i + 1] - starts[i])) for i, path in enumerate(paths)]
    shard = ShardedSet(folder=folder, data=data, parts=parts, skipped=_read_skipped(folder), meta=meta)
    for method in PLACE_METHODS:
        path = folder / MAP_PATTERN.format(method)
        if path.is_file():
            shard.maps[method] = _read_map(path, method, table.column("id"))
    return shard


def _footer(path: Path) -> tuple[int, list[str]]:
    """(rows, tag columns) of a partition file, from its footer (a few kB)."""
    try:
        footer = pq.read_metadata(path)
        names = json.loads((footer.metadata or {}).get(b"explorer.tag_columns", b"[]"))
    except Exception as exc:
        raise ClusterError(f"{path}: not a readable partition file ({exc})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ClusterError(f"{path}: not a readable partition file (its tag columns are not a list of names)")
    return footer.num_rows, names


def _read_part(path: Path, columns: list[str], rows: int) -> pa.Table:
    """Columns of one partition file, on one thread (the files themselves are read in parallel)."""
    try:  # ParquetFile.read: half the time of read_table, which goes through the dataset machinery
        with pq.ParquetFile(path) as part:
            table = part.read(columns=columns, use_threads=False)
    except Exception as exc:
        raise ClusterError(f"{path}: not a readable partition file ({exc})") from None
    if table.num_rows != rows:
        raise ClusterError(f"{path}: holds {table.num_rows} rows where its footer said {rows}; the folder "
                           "changed while it was read, open it again")
    return table


def _string_list(column: pa.ChunkedArray) -> list:
    """A text column as a list of str; a column of few distinct values (a tag column) shares one str object
    per value (a million tags of 40 values: 8 MB of pointers instead of 60 MB of strings)."""
    if column.null_count or len(column) == 0:
        return column.to_pylist()
    encoded = pc.dictionary_encode(column.combine_chunks())
    if len(encoded.dictionary) * 4 > len(column):  # mostly distinct: nothing to share
        return column.to_pylist()
    values = np.empty(len(encoded.dictionary), dtype=object)
    values[:] = encoded.dictionary.to_pylist()
    return values[encoded.indices.to_numpy(zero_copy_only=False)].tolist()


def vectors_of(column, n: int, dims: int, path: Path) -> np.ndarray:
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
    if n == 0:
        return np.zeros((0, dims), np.float32)
    if flat.size != n * dims:
        raise ClusterError(f"{path}: vectors are not all of length {dims}")
    return flat.astype(np.float32, copy=False).reshape(n, dims)



def _read_skipped(folder: Path) -> list[SkippedFile]:
    try:
        with open(folder / SKIPPED_FILE, newline="", encoding="utf-8") as fh:
            return [SkippedFile(row["file"], row["reason"]) for row in csv.DictReader(fh)]
    except (OSError, KeyError, csv.Error):
        return []



def _read_map(path: Path, method: str, ids: pa.ChunkedArray) -> MapCoords:

    try:
        names = pq.read_schema(path).names
        axes = [a for a in ("x", "y", "z") if a in names]
        table = pq.read_table(path, columns=["id", *axes, "fitted"])
    except Exception as exc:
        raise ClusterError(f"{path}: not a readable map file ({exc})") from None
    if not _same_ids(table.column("id"), ids):
        raise ClusterError(f"{path}: its rows do not match the partition files; run map again")
    coords = np.column_stack([table.column(a).to_numpy(zero_copy_only=False) for a in axes]).astype(np.float32)
    fitted = table.column("fitted").to_numpy(zero_copy_only=False).astype(bool)
    return MapCoords(method=method, coords=coords, fitted=fitted, path=path)


def _same_ids(written: pa.ChunkedArray, ids: pa.ChunkedArray) -> bool:
    """The map's ids are the partitions' ids in their order (compared in Arrow: no million Python strings)."""
    if len(written) != len(ids):
        return False
    if written.type != ids.type:
        try:
            written = written.cast(ids.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
    return written.equals(ids)



def read_thumbnail(shard: ShardedSet, row: int) -> bytes | None:
    """The JPEG thumbnail of global ``row``, read from its partition file alone (None: vectors only)."""

    path, local = shard.locate(row)
    column = pq.read_table(path, columns=["thumbnail"]).column("thumbnail")
    return column[local].as_py() or None
