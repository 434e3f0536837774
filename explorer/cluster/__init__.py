"""Embed and map image sets too big for one machine on a Dask cluster, and read back what that wrote.

A *sharded folder* (what ``python -m explorer embed SOURCE --out DIR --workers N`` writes):

- ``DIR/part-NNNNN.parquet`` — one per partition of the source's files, in walk order: columns ``id``,
  ``sha256``, ``source``, ``tag``, every extra tag column, ``note``, ``vector`` (list<float32>) and
  ``thumbnail`` (JPEG bytes). The files a partition refused are kept in its Parquet metadata, so a
  partition file is complete on its own and is written atomically (temporary name, then rename).
- ``DIR/_skipped.csv`` (``file,reason``) — every refused file, sorted like the single-process skip report.
- ``DIR/_meta.json`` — format, embedder name/version/cache key, counts, and the plan fingerprint that lets
  an interrupted run resume (partitions already written are not recomputed).
- ``DIR/map-<method>.parquet`` (``python -m explorer map DIR --fit-sample M``) — ``id, source, tag, x, y
  [, z], fitted, neighbours_kept``: the map fitted on a stratified sample (``fitted`` true) with every
  other point placed into it (t-SNE: openTSNE's ``TSNEEmbedding.transform``; PCA: the sample's axes).

Each worker decodes its partition with the single-process code (``explorer.io.sources`` readers and
``_build``: same safety limits, same skip reasons) and embeds with ``explorer.embedders.embed_set``, so the
vectors equal those of ``python -m explorer embed``. Ids equal the single-process ids too: workers write
partition-local ids and the driver renumbers repeated content across partitions (``unique_ids`` over the
whole set) once every partition is written, rewriting only the partitions whose ids changed.

Without a Dask client every step runs in this process, partition by partition (tests, small sets).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from explorer.io.cache import _atomic_write  # temporary file, fsync, rename: never half a file
from explorer.images import DEFAULT_IMAGE_SIZE
from explorer.imageset import SkippedFile, unique_ids
from explorer.progress import ProgressCallback
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
DEFAULT_FIT_SAMPLE = 10_000
PLACE_METHODS = ("tsne", "pca")
REPORT_EVERY_S = 1.0  # at most one progress line a second (plus the last)


class ClusterError(ValueError):
    """A sharded folder or a cluster request that cannot be used; the message names the path and reason."""


# --------------------------------------------------------------------------------------------- cluster


@contextmanager
def open_client(workers: Optional[int] = None, scheduler: Optional[str] = None,
                say: Callable[[str], None] = lambda _m: None, memory_limit: str | None = None) -> Iterator[Any]:
    """A Dask client: a LocalCluster of ``workers`` processes, the scheduler at ``scheduler``, or None.

    None (neither given) means "run in this process". Prints the dashboard address when there is one.
    """
    if workers is None and scheduler is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError("the cluster options need Dask: pip install -r requirements-cluster.txt") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        cluster = None
    else:
        if workers < 1:
            raise ClusterError(f"--workers must be at least 1, got {workers}")
        # ":0": a free port (several clusters may run on one machine); without bokeh only the health routes
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                               scheduler_kwargs={"dashboard": _has_dashboard()},
                               memory_limit=memory_limit or "auto")
        client = Client(cluster)
    try:
        count = len(client.scheduler_info().get("workers", {}))
        say(f"Dask: {count} worker(s) at {client.scheduler.address}")
        if client.scheduler_info().get("services", {}).get("dashboard"):
            say(f"Dask dashboard: {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _has_dashboard() -> bool:
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


def _run(client, fn: Callable, tasks: Sequence[tuple], *, broadcast: Optional[dict] = None) -> Iterator[Any]:
    """Results of ``fn(*task, **broadcast)`` for every task, in completion order (here or on the cluster)."""
    broadcast = dict(broadcast or {})
    if client is None:
        for task in tasks:
            yield fn(*task, **broadcast)
        return
    from distributed import as_completed

    shared = {k: client.scatter(v, broadcast=True) for k, v in broadcast.items()}
    futures = [client.submit(fn, *task, **shared, pure=False) for task in tasks]
    for future in as_completed(futures):
        yield future.result()
        future.release()


# --------------------------------------------------------------------------------------------- embed


@dataclass
class PartitionResult:
    """What one partition holds: its index, images written, files refused (as (file, reason) pairs)."""

    index: int
    images: int
    skipped: list[tuple[str, str]]
    resumed: bool = False
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of the worker process on this partition (all its threads)


@dataclass
class EmbedSummary:
    """The outcome of :func:`embed_to_folder`."""

    folder: Path
    images: int
    skipped: list[SkippedFile]
    partitions: int
    recomputed: int
    dims: int
    seconds: float
    meta: dict = field(default_factory=dict)
    cpu_seconds: float = 0.0  # summed over the partitions computed in this run: images/cpu_seconds per core


def list_source(source: str, *, tag_column: str | None = None):
    """(set name, entries, walk-time skips) of a folder or manifest, without decoding anything."""
    from explorer.io.sources import LoadError, folder_entries, manifest_entries

    path = Path(source)
    if path.is_dir():
        if (path / META_FILE).exists():
            raise ClusterError(f"{source}: is a folder written by embed, not a folder of images")
        if tag_column is not None:
            raise ClusterError(f"{source}: --tag-column applies only to a manifest .csv")
        return folder_entries(path)
    if path.suffix.lower() in (".csv", ".tsv") and path.is_file():
        return manifest_entries(path, tag_column=tag_column)
    if not path.exists() and not source.startswith("demo:"):
        raise LoadError(f"{source}: not found (the cluster path takes a folder or a manifest .csv)")
    raise ClusterError(f"{source}: the cluster path takes a folder or a manifest .csv that every worker "
                       "can read (not a .zip or a demo)")


def plan_partitions(n: int, size: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of at most ``size`` files covering ``n`` files in order."""
    if size < 1:
        raise ClusterError(f"--partition-size must be at least 1, got {size}")
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def embed_to_folder(source: str, out: str | os.PathLike, embedder_name: str, *, client=None,
                    partition_size: int = DEFAULT_PARTITION_SIZE, tag_column: str | None = None,
                    image_size: int = DEFAULT_IMAGE_SIZE, progress: ProgressCallback | None = None) -> EmbedSummary:
    """Embed the files of ``source`` partition by partition into the sharded folder ``out``.

    Partitions already written by an earlier run of the same plan are kept. Raises ClusterError when
    ``out`` holds a different run, LoadError when the source has no files at all.
    """
    from explorer.embedders import get_embedder
    from explorer.io.sources import LoadError

    start_time = time.perf_counter()
    embedder = get_embedder(embedder_name)  # a bad name fails here, before any work
    name, entries, walk_skips = list_source(source, tag_column=tag_column)
    if not entries:
        from explorer.io.sources import _summary

        raise LoadError(f"{name}: {_summary(walk_skips)}", walk_skips)
    folder = Path(out)
    ranges = plan_partitions(len(entries), partition_size)
    columns = list(dict.fromkeys(c for e in entries for c in e.extra))
    plan = _plan_fingerprint(embedder.cache_key, image_size, ranges, [e.source for e in entries], columns)
    meta = _start_meta(folder, plan, source=source, name=name, embedder=embedder, image_size=image_size,
                       partition_size=partition_size, partitions=len(ranges), files=len(entries))
    results: dict[int, PartitionResult] = {}
    todo = []
    for index, (lo, hi) in enumerate(ranges):
        written = _read_part_summary(folder / PART_PATTERN.format(index))
        if written is not None:
            results[index] = PartitionResult(index, written[0], written[1], resumed=True)
        else:
            todo.append((index, entries[lo:hi]))
    images = sum(r.images for r in results.values())
    if results:
        _report(progress, len(results), len(ranges),
                f"{len(results)} partition(s) already written ({images:,} images), resuming")
    tasks = [(index, part, str(folder), embedder_name, image_size, columns) for index, part in todo]
    last_report = 0.0
    for result in _run(client, embed_partition, tasks):
        results[result.index] = result
        images += result.images
        now = time.perf_counter()
        if now - last_report >= REPORT_EVERY_S or len(results) == len(ranges):  # a line per partition floods logs
            last_report = now
            _report(progress, len(results), len(ranges),
                    f"partitions done, {images:,} images embedded ({images / max(now - start_time, 1e-9):,.0f}/s)")
    renumbered = fix_ids(folder, len(ranges))
    if renumbered:
        _report(progress, len(ranges), len(ranges), f"ids renumbered in {renumbered} partition(s) "
                "(the same picture in several partitions)")
    skipped = sorted(walk_skips + [SkippedFile(f, r) for i in sorted(results) for f, r in results[i].skipped],
                     key=lambda s: s.file)
    _write_skipped(folder / SKIPPED_FILE, skipped)
    dims = int(embedder.dim)
    meta.update(images=images, skipped=len(skipped), dims=dims, complete=True)
    _atomic_write(folder / META_FILE, json.dumps(meta, indent=2).encode())
    return EmbedSummary(folder=folder, images=images, skipped=skipped, partitions=len(ranges),
                        recomputed=len(todo), dims=dims, seconds=time.perf_counter() - start_time, meta=meta,
                        cpu_seconds=sum(r.cpu_seconds for r in results.values()))


def _report(progress, done, total, message) -> None:
    if progress is not None:
        progress(done, total, message)


def _plan_fingerprint(cache_key: str, image_size: int, ranges, sources: list[str], columns) -> str:
    h = hashlib.sha256()
    for part in (cache_key, str(image_size), json.dumps(ranges), json.dumps(columns), *sources):
        h.update(part.encode("utf-8", "surrogateescape") + b"\x1f")
    return h.hexdigest()[:32]


def _start_meta(folder: Path, plan: str, *, source, name, embedder, image_size, partition_size, partitions,
                files) -> dict:
    """Create ``folder`` (or check that it holds this same plan) and write the run's meta as incomplete."""
    if folder.exists() and not folder.is_dir():
        raise ClusterError(f"{folder}: exists and is not a folder (with --workers/--scheduler, --out is a DIR)")
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / META_FILE
    if meta_path.exists():
        old = _read_meta(folder)
        if old.get("plan") != plan:
            raise ClusterError(f"{folder}: holds another run (different files, embedder or partition size); "
                               "give a new --out folder or delete this one")
    elif any(folder.glob("part-*.parquet")):
        raise ClusterError(f"{folder}: holds part files but no {META_FILE}; give a new --out folder")
    meta = {"format": FORMAT, "source": str(source), "name": name, "embedder": embedder.name,
            "embedder_version": embedder.version, "embedder_key": embedder.cache_key, "image_size": image_size,
            "partition_size": partition_size, "partitions": partitions, "files": files, "plan": plan,
            "complete": False}
    _atomic_write(meta_path, json.dumps(meta, indent=2).encode())
    return meta


_EMBEDDERS: dict[str, Any] = {}


def _worker_embedder(name: str):
    """One embedder per worker process (a CNN loads its weights once, not once per partition)."""
    if name not in _EMBEDDERS:
        from explorer.embedders import get_embedder

        _EMBEDDERS[name] = get_embedder(name)
    return _EMBEDDERS[name]


def embed_partition(index: int, entries: list, folder: str, embedder_name: str, image_size: int,
                    columns: list[str]) -> PartitionResult:
    """Decode and embed one partition with the single-process code; write ``part-NNNNN.parquet``.

    Runs on a worker. A file that fails is a skip with its reason, never a failed partition.
    """
    from explorer.embedders import embed_set
    from explorer.io.sources import LoadError, _build

    start, cpu = time.perf_counter(), time.process_time()
    path = Path(folder) / PART_PATTERN.format(index)
    written = _read_part_summary(path)
    if written is not None:  # a retried task, or another run got there first
        return PartitionResult(index, written[0], written[1], resumed=True)
    try:
        image_set = _build(f"part-{index}", list(entries), [], image_size=image_size, progress=None)
        skipped = image_set.skipped
    except LoadError as exc:  # every file of this partition was refused: an empty part, with its skips
        image_set, skipped = None, exc.skipped
    embedder = _worker_embedder(embedder_name)
    if image_set is not None:
        vectors = np.asarray(embed_set(image_set, embedder), dtype=np.float32)
    else:
        vectors = np.zeros((0, embedder.dim), dtype=np.float32)
    pairs = [(s.file, s.reason) for s in skipped]
    _write_part(path, image_set, vectors, columns, pairs)
    return PartitionResult(index, len(vectors), pairs, seconds=time.perf_counter() - start,
                           cpu_seconds=time.process_time() - cpu)


def column_name(tag_column: str) -> str:
    """The Parquet column of an extra tag column (prefixed only where it would clash)."""
    return f"tag__{tag_column}" if tag_column in RESERVED or tag_column.startswith("tag__") else tag_column


def _write_part(path: Path, image_set, vectors: np.ndarray, columns: list[str], skipped) -> None:
    import pyarrow as pa

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
    _write_table(path, table)


def _vector_array(vectors: np.ndarray):
    import pyarrow as pa

    n, d = vectors.shape
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32) if n else np.zeros(1, np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(np.ascontiguousarray(vectors, np.float32).ravel()))


def _write_table(path: Path, table) -> None:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf)
    _atomic_write(path, buf.getvalue())


def _read_part_summary(path: Path) -> Optional[tuple[int, list[tuple[str, str]]]]:
    """(rows, skipped pairs) of a written partition file, or None when it is missing or unreadable."""
    import pyarrow.parquet as pq

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
    import pyarrow as pa
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
            _write_table(path, table)
            rewritten += 1
    return rewritten


def write_vectors_folder(folder: str | os.PathLike, data: EmbeddingFile, *,
                         partition_size: int = DEFAULT_PARTITION_SIZE, embedder_version: str = "") -> Path:
    """Write rows that already have vectors (e.g. an ``.npz`` from embed) as a sharded folder without
    pictures, so ``map DIR --fit-sample`` can place them on a cluster. Returns the folder."""
    from types import SimpleNamespace

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
        _write_part(folder / PART_PATTERN.format(index), rows, data.vectors[lo:hi], columns, [])
    _write_skipped(folder / SKIPPED_FILE, [])
    meta = {"format": FORMAT, "source": "", "name": folder.name, "embedder": data.embedder or "",
            "embedder_version": embedder_version, "embedder_key": data.embedder_key or "", "image_size": 0,
            "partition_size": partition_size, "partitions": len(ranges), "files": n, "plan": "",
            "images": n, "skipped": 0, "dims": int(d), "complete": True}
    _atomic_write(folder / META_FILE, json.dumps(meta, indent=2).encode())
    return folder


def _write_skipped(path: Path, skipped: list[SkippedFile]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["file", "reason"])
    writer.writerows([s.file, s.reason] for s in skipped)
    _atomic_write(path, buf.getvalue().encode("utf-8"))


# --------------------------------------------------------------------------------------------- read


def is_sharded_folder(path: str | os.PathLike) -> bool:
    """True for a folder written by ``embed --workers/--scheduler`` (it has a ``_meta.json`` of our format)."""
    meta = Path(path) / META_FILE
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text("utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _read_meta(folder: Path) -> dict:
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


def open_sharded(folder: str | os.PathLike, *, vectors: bool = True) -> ShardedSet:
    """Read a sharded folder: ids, sources, tag columns, vectors (n, d) float32, skips and written maps.

    Thumbnails stay on disk (:func:`read_thumbnail`). ClusterError naming the folder when it is not sound.
    """
    import pyarrow.parquet as pq

    folder = Path(folder)
    meta = _read_meta(folder)
    paths = part_files(folder, meta)
    ids, sources, tags, blocks, parts = [], [], [], [], []
    extra: dict[str, list[str]] = {}
    tag_columns: Optional[list[str]] = None
    dims = int(meta.get("dims", 0))
    for path in paths:
        try:
            info = pq.ParquetFile(path)
            names = json.loads((info.schema_arrow.metadata or {}).get(b"explorer.tag_columns", b"[]"))
            wanted = ["id", "source", "tag", *map(column_name, names)] + (["vector"] if vectors else [])
            table = info.read(columns=wanted)
        except Exception as exc:
            raise ClusterError(f"{path}: not a readable partition file ({exc})") from None
        if tag_columns is None:
            tag_columns = names
        n = table.num_rows
        parts.append((path, len(ids), n))
        ids += table.column("id").to_pylist()
        sources += table.column("source").to_pylist()
        tags += table.column("tag").to_pylist()
        for name in names:
            extra.setdefault(name, []).extend(table.column(column_name(name)).to_pylist())
        if vectors:
            blocks.append(_vectors_of(table.column("vector"), n, dims, path))
    matrix = np.concatenate(blocks) if blocks else np.zeros((len(ids), dims), np.float32)
    data = EmbeddingFile(ids=ids, sources=sources, tags=tags, vectors=matrix, embedder=meta.get("embedder"),
                         extra_tags=extra, embedder_key=meta.get("embedder_key"))
    shard = ShardedSet(folder=folder, data=data, parts=parts, skipped=_read_skipped(folder), meta=meta)
    for method in PLACE_METHODS:
        path = folder / MAP_PATTERN.format(method)
        if path.is_file():
            shard.maps[method] = _read_map(path, method, ids)
    return shard


def load_sharded(folder: str | os.PathLike) -> EmbeddingFile:
    """What ``explorer.store.load_embeddings`` returns, for a sharded folder."""
    return open_sharded(folder).data


def _vectors_of(column, n: int, dims: int, path: Path) -> np.ndarray:
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


def _read_map(path: Path, method: str, ids: list[str]) -> MapCoords:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise ClusterError(f"{path}: not a readable map file ({exc})") from None
    axes = [a for a in ("x", "y", "z") if a in table.column_names]
    if table.column("id").to_pylist() != ids:
        raise ClusterError(f"{path}: its rows do not match the partition files; run map again")
    coords = np.column_stack([table.column(a).to_numpy(zero_copy_only=False) for a in axes]).astype(np.float32)
    fitted = table.column("fitted").to_numpy(zero_copy_only=False).astype(bool)
    return MapCoords(method=method, coords=coords, fitted=fitted, path=path)


def read_thumbnail(shard: ShardedSet, row: int) -> bytes | None:
    """The JPEG thumbnail of global ``row``, read from its partition file alone (None: vectors only)."""
    import pyarrow.parquet as pq

    path, local = shard.locate(row)
    column = pq.read_table(path, columns=["thumbnail"]).column("thumbnail")
    return column[local].as_py() or None


# --------------------------------------------------------------------------------------------- map


def stratified_sample(tags: Sequence[str], size: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``size`` rows drawn at random within each tag, in proportion to the tag's share.

    Every tag gets at least one row when ``size`` allows (largest remainders decide the rest).
    """
    n = len(tags)
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    codes, inverse = np.unique(np.asarray(tags, dtype=object).astype(str), return_inverse=True)
    counts = np.bincount(inverse, minlength=len(codes))
    exact = size * counts / n
    quota = np.floor(exact).astype(int)
    if size >= len(codes):
        quota = np.maximum(quota, 1)
    order = np.argsort(-(exact - np.floor(exact)))
    i = 0
    while quota.sum() < size:
        t = order[i % len(order)]
        if quota[t] < counts[t]:
            quota[t] += 1
        i += 1
    while quota.sum() > size:  # minimum-one quotas overshot: take back from the largest tags
        quota[np.argmax(quota)] -= 1
    picked = [rng.choice(np.flatnonzero(inverse == t), size=q, replace=False) for t, q in enumerate(quota) if q]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def _usable(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit rows, mask of usable rows): the cosine geometry and row checks of ``projection.project``."""
    from explorer.projection import _clean_rows

    X = np.asarray(X, dtype=np.float64)
    rows, kept, _ = _clean_rows(X, metric="cosine")
    ok = np.zeros(len(X), dtype=bool)
    ok[kept] = True
    return rows, ok


@dataclass
class Placer:
    """A map fitted on a sample that places any further rows: (rows - mean) @ axes.T, then t-SNE transform."""

    method: str
    mean: np.ndarray
    axes: np.ndarray  # (m, d) PCA axes: the map itself for PCA, the 50-d reduction before t-SNE
    embedding: Any = None  # openTSNE.TSNEEmbedding for t-SNE
    dims: int = 2

    def reduce(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Z, ok = _usable(X)
        return (Z - self.mean) @ self.axes.T, ok

    def place(self, X: np.ndarray) -> np.ndarray:
        """Coordinates (n, dims) float32 of the rows of X; NaN for rows with no direction or non-finite values."""
        R, ok = self.reduce(X)
        out = np.full((len(ok), self.dims), np.nan, dtype=np.float32)
        if not ok.any():
            return out
        if self.method == "pca":
            out[ok] = R[:, : self.dims]
        else:
            params = self.embedding.gradient_descent_params
            # A Dask worker is one process with one thread: parallelism comes from the workers. Measured
            # here (2,500 points into a 2,000-point map, 50 iterations, busy machine): BH on 2 threads
            # 11.0 s, BH on 1 thread 2.0 s, FFT on 1 thread 0.9 s.
            self.embedding.gradient_descent_params = {**params, "n_jobs": 1,
                                                      "negative_gradient_method": "fft" if self.dims == 2 else "bh"}
            try:
                out[ok] = np.asarray(self.embedding.transform(np.ascontiguousarray(R)), dtype=np.float32)
            finally:
                self.embedding.gradient_descent_params = params
        return out


def fit_placer(X: np.ndarray, *, method: str = "tsne", dims: int = 2, perplexity: float = 30.0,
               seed: int = 0, n_jobs: int = 2) -> tuple[Placer, np.ndarray, list[str]]:
    """Fit a map on the sample X (m, d): (placer, sample coordinates (m, dims) NaN for unusable, notes)."""
    from sklearn.decomposition import PCA

    from explorer import projection as P

    if method not in PLACE_METHODS:
        raise ClusterError(f"--fit-sample supports --method tsne or pca, not {method!r}")
    Z, ok = _usable(X)
    unique, inverse = P._unique_rows(Z)
    m, d = unique.shape
    notes: list[str] = []
    if m < max(3, dims + 1):
        raise ClusterError(f"the sample holds only {m} distinct usable vectors; a map needs more")
    k_axes = dims if method == "pca" else min(P.TSNE_PCA_DIMS, d, m)
    model = PCA(n_components=k_axes, svd_solver=P.choose_pca_solver(m, d), random_state=seed).fit(unique)
    placer = Placer(method=method, mean=model.mean_, axes=model.components_, dims=dims)
    reduced = (unique - model.mean_) @ model.components_.T
    if method == "tsne":
        import openTSNE

        used = min(float(perplexity), (m - 1) / 3)
        if used < perplexity:
            notes.append(f"Perplexity lowered from {perplexity:g} to {used:.3g} for a sample of {m} points.")
        gradient = P._gradient_method("auto", m, dims, notes)
        tsne = openTSNE.TSNE(n_components=dims, perplexity=used, metric="euclidean", initialization="pca",
                             neighbors="exact" if m < P.EXACT_NEIGHBOURS_BELOW else "annoy",
                             negative_gradient_method=gradient, ints_in_interval=P.FFT_INTS_IN_INTERVAL,
                             n_jobs=n_jobs if m >= P.PARALLEL_MIN_POINTS else 1, random_state=seed, verbose=False)
        embedding = tsne.prepare_initial(np.ascontiguousarray(reduced))
        embedding.optimize(n_iter=250, exaggeration=P.EARLY_EXAGGERATION, momentum=P.MOMENTUM, inplace=True)
        embedding.optimize(n_iter=500, momentum=P.MOMENTUM, inplace=True)
        placer.embedding = embedding
        sample_coords = np.asarray(embedding, dtype=np.float32)
    else:
        sample_coords = reduced.astype(np.float32)
    coords = np.full((len(X), dims), np.nan, dtype=np.float32)
    coords[ok] = sample_coords[inverse]
    return placer, coords, notes


def sample_vectors(index: int, path: str, rows: np.ndarray, dims: int) -> tuple[int, np.ndarray]:
    """(index, the vectors at local ``rows`` of one partition file) — runs on a worker."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["vector"]).take(np.asarray(rows, dtype=np.int64))
    return index, _vectors_of(table.column("vector"), len(rows), dims, Path(path))


def place_partition(index: int, path: str, skip_rows: np.ndarray, dims: int, placer: Placer):
    """(index, coordinates of this partition's rows not in ``skip_rows``) — runs on a worker."""
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["vector"])
    X = _vectors_of(table.column("vector"), table.num_rows, dims, Path(path))
    keep = np.setdiff1d(np.arange(len(X)), skip_rows)
    return index, keep, placer.place(X[keep]) if len(keep) else np.zeros((0, placer.dims), np.float32)


@dataclass
class MapSummary:
    out: Path
    rows: int
    fitted: int
    seconds_fit: float
    seconds_place: float
    trustworthiness_sample: Optional[float]
    notes: list[str]


def map_folder(folder: str | os.PathLike, *, method: str = "tsne", fit_sample: int = DEFAULT_FIT_SAMPLE,
               dims: int = 2, perplexity: float = 30.0, seed: int = 0, client=None, out=None,
               all_neighbours: bool = False, k: int = 10,
               progress: ProgressCallback | None = None) -> MapSummary:
    """Fit ``method`` on a stratified sample of ``fit_sample`` rows here, place the rest partition by
    partition (on the cluster when ``client`` is given) and write ``map-<method>.parquet``."""
    import pyarrow as pa

    from explorer.measures import neighbours_kept, trustworthiness

    if fit_sample < 3:
        raise ClusterError(f"--fit-sample must be at least 3, got {fit_sample}")
    folder = Path(folder)
    shard = open_sharded(folder, vectors=False)
    data = shard.data
    n, d = len(data.ids), int(shard.meta.get("dims", 0))
    if n < 3:
        raise ClusterError(f"{folder}: holds {n} vectors; a map needs at least 3")
    sample = stratified_sample(data.tags, fit_sample, seed)
    by_part = _split_rows(sample, shard.parts)
    t0 = time.perf_counter()
    blocks = dict(_run(client, sample_vectors, [(i, str(p), rows, d) for i, (p, _, _) in
                                                          enumerate(shard.parts) if len(rows := by_part[i])]))
    X_sample = np.concatenate([blocks[i] for i in sorted(blocks)])
    _report(progress, 0, len(shard.parts), f"fitting {method} on a sample of {len(sample):,} of {n:,} points")
    placer, sample_coords, notes = fit_placer(X_sample, method=method, dims=dims, perplexity=perplexity, seed=seed)
    t1 = time.perf_counter()
    coords = np.full((n, dims), np.nan, dtype=np.float32)
    coords[sample] = sample_coords
    tasks = [(i, str(p), by_part[i], d) for i, (p, _, count) in enumerate(shard.parts)
             if count > len(by_part[i])]
    done = 0
    for index, keep, placed in _run(client, place_partition, tasks, broadcast={"placer": placer}):
        coords[shard.parts[index][1] + keep] = placed
        done += 1
        _report(progress, done, len(tasks), f"partitions placed into the {method} map")
    t2 = time.perf_counter()
    fitted = np.zeros(n, dtype=bool)
    fitted[sample] = True
    kept = np.full(n, np.nan)
    valid = np.isfinite(sample_coords).all(axis=1)
    trust = None
    if valid.sum() > 3:
        kk = int(min(k, valid.sum() - 1))
        kept[sample[valid]] = neighbours_kept(X_sample[valid], sample_coords[valid], k=kk)
        trust = trustworthiness(X_sample[valid], sample_coords[valid], k=min(kk, (int(valid.sum()) - 1) // 2) or 1)
    if all_neighbours:
        full = open_sharded(folder).data.vectors
        on_map = np.isfinite(coords).all(axis=1)
        kept[on_map] = neighbours_kept(full[on_map], coords[on_map], k=int(min(k, on_map.sum() - 1)))
    table = {"id": pa.array(data.ids, pa.string()), "source": pa.array(data.sources, pa.string()),
             "tag": pa.array(data.tags, pa.string())}
    for axis, name in zip(range(dims), "xyz"):
        table[name] = pa.array(coords[:, axis], pa.float32())
    table["fitted"] = pa.array(fitted)
    table["neighbours_kept"] = pa.array(kept, pa.float64())
    path = Path(out) if out else folder / MAP_PATTERN.format(method)
    _write_table(path, pa.table(table))
    return MapSummary(out=path, rows=n, fitted=int(len(sample)), seconds_fit=t1 - t0, seconds_place=t2 - t1,
                      trustworthiness_sample=trust, notes=notes)


def _split_rows(rows: np.ndarray, parts: list[tuple[Path, int, int]]) -> list[np.ndarray]:
    """Global sorted ``rows`` split into each partition's local row numbers."""
    out = []
    for _, start, count in parts:
        lo, hi = np.searchsorted(rows, [start, start + count])
        out.append(rows[lo:hi] - start)
    return out
