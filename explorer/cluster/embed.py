"""Embed the files of a folder or manifest partition by partition into a sharded folder, on a Dask cluster or here.

Each worker decodes its partition with the single-process code (``explorer.io.sources`` readers and
``build_image_set``: same safety limits, same skip reasons) and embeds with ``explorer.embedders.embed_set``,
so the vectors equal those of ``python -m explorer embed``. Ids equal the single-process ids too: workers
write partition-local ids and the driver renumbers repeated content across partitions (``unique_ids`` over
the whole set) once every partition is written, rewriting only the partitions whose ids changed.

Without a Dask client every step runs in this process, partition by partition (tests, small sets).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from explorer.cluster.client import run_tasks
from explorer.cluster.shards import (DEFAULT_PARTITION_SIZE, FORMAT, META_FILE, PART_PATTERN, SKIPPED_FILE, ClusterError, fix_ids,
                                     plan_partitions, read_meta, read_part_summary, write_part, write_skipped)
from explorer.embedders import embed_set, get_embedder
from explorer.images import DEFAULT_IMAGE_SIZE
from explorer.imageset import SkippedFile
from explorer.io.cache import atomic_write
from explorer.io.sources import LoadError, build_image_set, folder_entries, manifest_entries, skip_summary
from explorer.progress import ProgressCallback, report
from explorer.words import plural

REPORT_EVERY_S = 1.0  # at most one progress line a second (plus the last)


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



def embed_to_folder(source: str, out: str | os.PathLike, embedder_name: str, *, client=None,
                    partition_size: int = DEFAULT_PARTITION_SIZE, tag_column: str | None = None,
                    image_size: int = DEFAULT_IMAGE_SIZE, progress: ProgressCallback | None = None) -> EmbedSummary:
    """Embed the files of ``source`` partition by partition into the sharded folder ``out``.

    Partitions already written by an earlier run of the same plan are kept. Raises ClusterError when
    ``out`` holds a different run, LoadError when the source has no files at all.
    """
    start_time = time.perf_counter()
    embedder = get_embedder(embedder_name)  # a bad name fails here, before any work
    name, entries, walk_skips = list_source(source, tag_column=tag_column)
    if not entries:
        raise LoadError(f"{name}: {skip_summary(walk_skips)}", walk_skips)
    folder = Path(out)
    ranges = plan_partitions(len(entries), partition_size)
    columns = list(dict.fromkeys(c for e in entries for c in e.extra))
    plan = _plan_fingerprint(embedder.cache_key, image_size, ranges, [e.source for e in entries], columns)
    meta = _start_meta(folder, plan, source=source, name=name, embedder=embedder, image_size=image_size,
                       partition_size=partition_size, partitions=len(ranges), files=len(entries))
    results: dict[int, PartitionResult] = {}
    todo = []
    for index, (lo, hi) in enumerate(ranges):
        written = read_part_summary(folder / PART_PATTERN.format(index))
        if written is not None:
            results[index] = PartitionResult(index, written[0], written[1], resumed=True)
        else:
            todo.append((index, entries[lo:hi]))
    images = sum(r.images for r in results.values())
    if results:
        report(progress, len(results), len(ranges),
                f"{plural(len(results), 'partition')} already written ({plural(images, 'image')}), resuming")
    tasks = [(index, part, str(folder), embedder_name, image_size, columns) for index, part in todo]
    last_report = 0.0
    for result in run_tasks(client, embed_partition, tasks):
        results[result.index] = result
        images += result.images
        now = time.perf_counter()
        if now - last_report >= REPORT_EVERY_S or len(results) == len(ranges):  # a line per partition floods logs
            last_report = now
            report(progress, len(results), len(ranges),
                    f"partitions done, {images:,} images embedded ({images / max(now - start_time, 1e-9):,.0f}/s)")
    renumbered = fix_ids(folder, len(ranges))
    if renumbered:
        report(progress, len(ranges), len(ranges), f"ids renumbered in {plural(renumbered, 'partition')} "
                "(the same picture in several partitions)")
    skipped = sorted(walk_skips + [SkippedFile(f, r) for i in sorted(results) for f, r in results[i].skipped],
                     key=lambda s: s.file)
    write_skipped(folder / SKIPPED_FILE, skipped)
    dims = int(embedder.dim)
    meta.update(images=images, skipped=len(skipped), dims=dims, complete=True)
    atomic_write(folder / META_FILE, json.dumps(meta, indent=2).encode())
    return EmbedSummary(folder=folder, images=images, skipped=skipped, partitions=len(ranges),
                        recomputed=len(todo), dims=dims, seconds=time.perf_counter() - start_time, meta=meta,
                        cpu_seconds=sum(r.cpu_seconds for r in results.values()))



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
        old = read_meta(folder)
        if old.get("plan") != plan:
            raise ClusterError(f"{folder}: holds another run (different files, embedder or partition size); "
                               "give a new --out folder or delete this one")
    elif any(folder.glob("part-*.parquet")):
        raise ClusterError(f"{folder}: holds part files but no {META_FILE}; give a new --out folder")
    meta = {"format": FORMAT, "source": str(source), "name": name, "embedder": embedder.name,
            "embedder_version": embedder.version, "embedder_key": embedder.cache_key, "image_size": image_size,
            "partition_size": partition_size, "partitions": partitions, "files": files, "plan": plan,
            "complete": False}
    atomic_write(meta_path, json.dumps(meta, indent=2).encode())
    return meta



_EMBEDDERS: dict[str, Any] = {}



def worker_embedder(name: str):
    """One embedder per worker process (a CNN loads its weights once, not once per partition)."""
    if name not in _EMBEDDERS:
        _EMBEDDERS[name] = get_embedder(name)
    return _EMBEDDERS[name]



def embed_partition(index: int, entries: list, folder: str, embedder_name: str, image_size: int,
                    columns: list[str]) -> PartitionResult:
    """Decode and embed one partition with the single-process code; write ``part-NNNNN.parquet``.

    Runs on a worker. A file that fails is a skip with its reason, never a failed partition.
    """
    start, cpu = time.perf_counter(), time.process_time()
    path = Path(folder) / PART_PATTERN.format(index)
    written = read_part_summary(path)
    if written is not None:  # a retried task, or another run got there first
        return PartitionResult(index, written[0], written[1], resumed=True)
    try:
        image_set = build_image_set(f"part-{index}", list(entries), [], image_size=image_size, progress=None)
        skipped = image_set.skipped
    except LoadError as exc:  # every file of this partition was refused: an empty part, with its skips
        image_set, skipped = None, exc.skipped
    embedder = worker_embedder(embedder_name)
    if image_set is not None:
        vectors = np.asarray(embed_set(image_set, embedder), dtype=np.float32)
    else:
        vectors = np.zeros((0, embedder.dim), dtype=np.float32)
    pairs = [(s.file, s.reason) for s in skipped]
    write_part(path, image_set, vectors, columns, pairs)
    return PartitionResult(index, len(vectors), pairs, seconds=time.perf_counter() - start,
                           cpu_seconds=time.process_time() - cpu)
