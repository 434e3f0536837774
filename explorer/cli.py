"""The command line: ``python -m explorer info|embed|map|separation`` for scripting and precomputing talks.

The flags, JSON keys and CSV columns here are promises to users who script the tool; keep them exact.
Every failure ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Optional, Sequence, TextIO

import numpy as np

from explorer.cluster.client import open_client
from explorer.cluster.embed import embed_to_folder
from explorer.cluster.placement import DEFAULT_FIT_SAMPLE, map_folder
from explorer.cluster.shards import ClusterError
from explorer.embedders import get_embedder
from explorer.io import export
from explorer.io.cache import EmbeddingCache, atomic_write, default_cache_dir
from explorer.io.export import ExportRows, map_frame, write_map_table
from explorer.io.interop import (COORDINATE_COLUMNS, bundle_thumbnails, coordinate_columns, given_projection,
                                 read_points_table)
from explorer.io.load import SourceKind, classify_source, embed_workset, load_workset, workset_from_table
from explorer.io.names import csv_cell
from explorer.io.sources import MANIFEST_PATH_COLUMNS, LoadError
from explorer.io.store import save_embeddings
from explorer.measures import map_measures, sample_note
from explorer.projection import project
from explorer.story.conse import CLASS_NAMES_HINT, missing_class_names
from explorer.story.smear import default_zero_shot_holdout, separation_report
from explorer.story.text_encoders import get_text_encoder
from explorer.story.zeroshot import separation_entry
from explorer.workset import WorkSet, columns_of
from explorer.words import plural

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report to the user as one line."""


class StderrProgress:
    """A progress callback that writes sparse lines (or one rewritten line on a terminal) to stderr."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr  # at call time: tests swap sys.stderr
        self.quiet = quiet
        self.is_tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last: tuple[str, int] = ("", -1)

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if self.quiet:
            return
        percent = int(100 * done / total) if total else 100
        bucket = percent if self.is_tty else percent // 10
        if (message, bucket) == self._last and done != total:
            return
        self._last = (message, bucket)
        line = f"{message or 'working'}: {done}/{total} ({percent}%)"
        if self.is_tty:
            end = "\n" if done >= total else ""
            self.stream.write("\r" + line.ljust(60) + end)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------
# Loading


def load_set(args: argparse.Namespace, progress) -> WorkSet:
    """``args.source`` as a WorkSet (``explorer.io.load.load_workset``), not yet embedded (an .npz has its vectors)."""
    try:
        return load_workset(args.source, embedder=None, tag_column=getattr(args, "tag_column", None),
                            cache=make_cache(args), progress=progress)
    except LoadError as exc:
        raise CliError(str(exc)) from None
    except (OSError, ValueError) as exc:  # includes EmbedderUnavailable
        message = str(exc)
        raise CliError(message if args.source in message else f"{args.source}: {message}") from None


def load_images(source: str, args: argparse.Namespace, progress) -> WorkSet:
    """The rows of ``source`` without vectors (an ``.npz`` keeps its vectors)."""
    return load_set(argparse.Namespace(**{**vars(args), "source": source}), progress)


def make_embedder(name: str):
    try:
        return get_embedder(name)
    except ValueError as exc:  # includes EmbedderUnavailable
        raise CliError(str(exc)) from None


def make_text_encoder(name: Optional[str]):
    try:
        return get_text_encoder(name or "hashed")
    except ValueError as exc:  # includes TextEncoderUnavailable with the install command
        raise CliError(str(exc)) from None


def make_cache(args: argparse.Namespace):
    if getattr(args, "no_cache", False):
        return None
    root = Path(args.cache_dir) if getattr(args, "cache_dir", None) else default_cache_dir()
    return EmbeddingCache(root)


def source_kind(source: str) -> SourceKind | None:
    """``classify_source`` of SOURCE, or None when it cannot be classified (loading then says why)."""
    try:
        return classify_source(source)
    except LoadError:
        return None


def brings_vectors(source: str) -> bool:
    kind = source_kind(source)
    return kind is not None and kind.brings_vectors


def load_with_vectors(args: argparse.Namespace, progress) -> WorkSet:
    """Load SOURCE and make sure it has vectors: embed images, or take an ``.npz`` as it is."""
    if brings_vectors(args.source):
        loaded = load_set(args, progress)
        if args.embedder and loaded.embedder_name and args.embedder != loaded.embedder_name:
            say(f"note: {args.source} holds {loaded.embedder_name} vectors; --embedder {args.embedder} is ignored")
        return loaded
    embedder = make_embedder(args.embedder or "pixels")  # fail on a bad name before decoding anything
    loaded = load_set(args, progress)
    report_skips(loaded.skipped)
    return embed_workset(loaded, embedder, cache=make_cache(args), progress=progress)


def report_skips(skipped: Sequence) -> None:
    if skipped:
        say(f"skipped {plural(len(skipped), 'file')}:")
        for item in skipped:
            say(f"  {item.file}: {item.reason}")


# ---------------------------------------------------------------------------------------------------------
# Commands


def run_info(args: argparse.Namespace) -> int:
    progress = StderrProgress(quiet=args.json)
    loaded = load_set(args, progress)
    counts: dict[str, int] = {}
    for tag in loaded.tags:
        counts[tag] = counts.get(tag, 0) + 1
    skipped = [{"file": s.file, "reason": s.reason} for s in loaded.skipped]
    if args.json:
        print(json.dumps({"images": len(loaded.ids), "tags": counts, "skipped": skipped}, ensure_ascii=False))
        return EXIT_OK
    print(f"{args.source}: {len(loaded.ids)} images, {len(counts)} tags")
    width = max(len(t) for t in counts)
    for tag, count in counts.items():
        print(f"  {tag.ljust(width)}  {count}")
    if skipped:
        print(f"skipped {plural(len(skipped), 'file')}:")
        for item in skipped:
            print(f"  {item['file']}: {item['reason']}")
    return EXIT_OK


def default_npz_name(source: str, embedder: str) -> str:
    stem = source.split(":", 1)[1] if source.startswith("demo:") else Path(source.rstrip("/\\")).stem
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem) or "images"
    return f"{safe}-{embedder}.npz"


def run_embed(args: argparse.Namespace) -> int:
    if args.workers is not None or args.scheduler is not None:
        return run_embed_cluster(args)
    if brings_vectors(args.source):
        raise CliError(f"{args.source}: already holds embeddings; give a folder, .zip, .csv or demo:NAME")
    progress = StderrProgress()
    embedder = make_embedder(args.embedder)  # fail on a bad name before decoding anything
    loaded = load_set(args, progress)
    report_skips(loaded.skipped)
    start = time.perf_counter()
    loaded = embed_workset(loaded, embedder, cache=make_cache(args), progress=progress)
    vectors = loaded.vectors
    out = Path(args.out or default_npz_name(args.source, embedder.name))
    try:
        save_embeddings(out, loaded.images, vectors, embedder)
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
    say(f"wrote {out}: {vectors.shape[0]} vectors of {vectors.shape[1]} dims ({embedder.name}) "
        f"in {time.perf_counter() - start:.1f} s")
    return EXIT_OK


def run_map(args: argparse.Namespace) -> int:
    if source_kind(args.source) is SourceKind.SHARD_FOLDER:
        return run_map_sharded(args)
    if args.fit_sample is not None or args.workers is not None or args.scheduler is not None:
        raise CliError(f"{args.source}: --fit-sample, --workers and --scheduler apply to a folder written by "
                       "embed --workers/--scheduler")
    progress = StderrProgress()
    loaded = load_for_map(args, progress)
    callback = None
    if args.method == "tsne":
        def callback(iteration, _coords):
            say(f"t-SNE iteration {iteration}")
    try:
        if args.method == "given":
            projection, loaded = given_map_projection(args, loaded)
        else:
            projection = project(loaded.vectors, method=args.method, n_components=args.dims, random_state=args.seed,
                                 perplexity=args.perplexity, callback=callback)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    for note in projection.notes:
        say(f"note: {note}")
    for index, reason in sorted(projection.excluded.items()):
        say(f"excluded {loaded.sources[index]}: {reason}")
    coords = projection.coords
    # Above SAMPLE_ABOVE points the measures are estimated on a seeded random sample (stated below);
    # --exact-measures computes them on every point (quadratic in the number of points).
    if loaded.vectors is None:  # coordinates as given without vectors: nothing to measure the map against
        kept, measures = np.full(len(loaded.ids), np.nan), None
    else:
        measures = map_measures(loaded.vectors, coords, loaded.tags, k=10,
                                sample=None if args.exact_measures else "auto", seed=args.seed)
        kept = measures.neighbours_kept
    if args.out and args.out.lower().endswith(".parquet"):
        write_map_parquet(args.out, loaded, coords, kept)
    else:
        write_map_csv(args.out, loaded, coords, kept, args.dims)
    if measures is not None and measures.population >= 3:
        summary = {"trustworthiness": measures.trustworthiness,
                   "knn_agreement_embedding": measures.knn_agreement_embedding,
                   "knn_agreement_map": measures.knn_agreement_map}
        for key, value in summary.items():
            say(f"{key}: {format_number(value)}")
        if not measures.exact:
            say(f"measures {sample_note(measures.sample_size, measures.population)} "
                "(neighbours_kept is empty outside it; --exact-measures for all points)")
    return EXIT_OK


def format_number(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def write_map_csv(out: Optional[str], loaded: WorkSet, coords: np.ndarray, kept: np.ndarray, dims: int) -> None:
    header = ["id", "source", "tag", "x", "y"] + (["z"] if dims == 3 else []) + ["neighbours_kept"]

    def cell(value: float) -> str:
        return "" if np.isnan(value) else f"{value:.6g}"

    def write(stream: TextIO) -> None:
        writer = csv.writer(stream)
        writer.writerow(header)
        for i, row_id in enumerate(loaded.ids):
            writer.writerow([csv_cell(row_id), csv_cell(loaded.sources[i]), csv_cell(loaded.tags[i]),
                             *map(cell, coords[i]), cell(kept[i])])

    if out is None:
        write(sys.stdout)
        return
    try:
        with open(out, "w", newline="", encoding="utf-8") as stream:
            write(stream)
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
    say(f"wrote {out}: {len(loaded.ids)} rows")


def cluster_client(args: argparse.Namespace):
    if args.workers is not None and args.scheduler is not None:
        raise CliError("give --workers N (a cluster on this machine) or --scheduler ADDRESS, not both")
    return open_client(workers=args.workers, scheduler=args.scheduler, say=say)


def run_embed_cluster(args: argparse.Namespace) -> int:
    make_embedder(args.embedder)  # a bad name fails before a cluster starts
    out = args.out or default_npz_name(args.source, args.embedder)[: -len(".npz")]
    if out.lower().endswith(".npz"):
        raise CliError(f"{out}: with --workers/--scheduler, --out is a folder, not an .npz")
    try:
        with cluster_client(args) as client:
            summary = embed_to_folder(args.source, out, args.embedder, client=client,
                                      partition_size=args.partition_size, tag_column=args.tag_column,
                                      progress=StderrProgress())
    except LoadError as exc:
        report_skips(exc.skipped)
        raise CliError(str(exc)) from None
    except (ClusterError, OSError) as exc:
        raise CliError(str(exc)) from None
    report_skips(summary.skipped)
    resumed = summary.partitions - summary.recomputed
    say(f"wrote {summary.folder}: {summary.images} vectors of {summary.dims} dims ({args.embedder}) in "
        + plural(summary.partitions, "partition") + (f", {resumed} kept from an earlier run" if resumed else "")
        + f" in {summary.seconds:.1f} s")
    return EXIT_OK


def run_map_sharded(args: argparse.Namespace) -> int:
    if args.method == "umap":
        raise CliError(f"{args.source}: a folder written by embed maps with --method tsne or pca (fit on a "
                       "sample, the rest placed), not umap")
    if args.out is not None and not args.out.lower().endswith(".parquet"):
        raise CliError(f"{args.out}: the map of a sharded folder is written as Parquet (give FILE.parquet)")
    try:
        with cluster_client(args) as client:
            summary = map_folder(args.source, method=args.method, fit_sample=args.fit_sample or DEFAULT_FIT_SAMPLE,
                                 dims=args.dims, perplexity=args.perplexity, seed=args.seed, client=client,
                                 out=args.out, all_neighbours=args.all_neighbours, progress=StderrProgress())
    except (ClusterError, OSError) as exc:
        raise CliError(str(exc)) from None
    for note in summary.notes:
        say(f"note: {note}")
    say(f"wrote {summary.out}: {summary.rows} rows, {summary.fitted} fitted on one machine in "
        f"{summary.seconds_fit:.1f} s, {summary.rows - summary.fitted} placed in {summary.seconds_place:.1f} s")
    say(f"trustworthiness (fitted sample): {format_number(summary.trustworthiness_sample)}")
    return EXIT_OK


def add_cluster_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", metavar="N", type=int, help="run on a Dask cluster of N worker processes here")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster (tcp://host:8786)")


def run_separation(args: argparse.Namespace) -> int:
    progress = StderrProgress()
    method = args.zero_shot_method
    check_zero_shot_args(args)
    text_encoder = make_text_encoder(args.text_model) if args.text_model or args.zero_shot_holdout or method else None
    loaded = load_with_vectors(args, progress)
    n_tags = len(set(loaded.tags))
    if args.zero_shot_holdout is not None and args.zero_shot_holdout > n_tags - 2:
        raise CliError(f"{args.source}: --zero-shot-holdout {args.zero_shot_holdout} leaves fewer than 2 of its "
                       f"{n_tags} tags to train on")
    legacy = method is None  # without --zero-shot-method: exactly the report of before it existed
    try:
        report = separation_report(loaded.images, loaded.vectors, loaded.embedder, tags=loaded.tags,
                                   train_contrastive=args.train_contrastive, seed=args.seed, progress=progress,
                                   text_encoder=text_encoder if legacy else None,
                                   zero_shot_holdout=args.zero_shot_holdout if legacy else None).to_json()
        if not legacy:
            report["zero_shot"], note = zero_shot_entry(args, loaded, text_encoder, n_tags, progress)
            report["notes"].append(note)
    except ValueError as exc:
        raise CliError(f"{args.source}: {exc}") from None
    if args.json:
        print(json.dumps(report, ensure_ascii=False, allow_nan=False))
    else:
        for key, value in report.items():
            if not isinstance(value, (dict, list)):
                print(f"{key}: {value}")
    return EXIT_OK


def check_zero_shot_args(args: argparse.Namespace) -> None:
    """K = 0 (pure zero-shot: nothing trained) only with ConSE; otherwise at least 1 tag is held out."""
    k, method = args.zero_shot_holdout, args.zero_shot_method
    if k is not None and k == 0 and method == "conse":
        return
    if k is not None and k < 1:
        raise CliError(f"--zero-shot-holdout must be at least 1, got {k}"
                       + (" (0, pure zero-shot, is for --zero-shot-method conse)" if k == 0 else ""))


def zero_shot_entry(args: argparse.Namespace, loaded: WorkSet, text_encoder, n_tags: int, progress) -> tuple[dict, str]:
    """The ``zero_shot`` entry and note of ``--zero-shot-method`` (explorer.story.zeroshot.separation_entry)."""
    if args.zero_shot_method != "projections" and missing_class_names():
        raise CliError(f"--zero-shot-method {args.zero_shot_method} needs the ImageNet class names: {CLASS_NAMES_HINT}")
    k = default_zero_shot_holdout(n_tags) if args.zero_shot_holdout is None else args.zero_shot_holdout
    return separation_entry(args.zero_shot_method, loaded, held_out=k, encoder=text_encoder, seed=args.seed,
                            cache=make_cache(args), progress=progress)


# ---------------------------------------------------------------------------------------------------------
# Exports and coordinates as given (issue 10)

EXPORT_FORMATS = {"projector": "DIR", "parquet": "FILE.parquet", "html": "FILE.html"}


def tag_columns(loaded: WorkSet) -> dict[str, list[str]]:
    """Every tag column of the loaded rows, ``"tag"`` first."""
    return {name: list(values) for name, values in loaded.columns.items()}


def export_rows(loaded: WorkSet, source: str):
    if loaded.images is not None:
        thumbs = list(loaded.images.thumbnails)
    else:  # a Projector bundle brings its pictures in its sprite
        try:
            thumbs = bundle_thumbnails(source, len(loaded.ids)) if Path(source).exists() else None
        except ValueError as exc:
            say(f"note: {exc}; exporting without pictures")
            thumbs = None
    return ExportRows(ids=loaded.ids, sources=loaded.sources, columns=tag_columns(loaded), vectors=loaded.vectors,
                      thumbnails=thumbs, embedder_name=loaded.embedder_name, name=source)


def is_points_table(source: str) -> bool:
    """A .csv/.parquet of coordinates without image paths or vectors: drawn as given, nothing to embed."""
    if source_kind(source) is SourceKind.MANIFEST:  # a table, not a vector file
        try:
            header = list(read_points_table(source))
        except ValueError:
            return False
        return not any(h.strip().lower() in MANIFEST_PATH_COLUMNS for h in header)
    return False


def load_points_table(source: str, tag_column: Optional[str]) -> WorkSet:
    try:
        columns = read_points_table(source)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    n = len(next(iter(columns.values()), []))
    if n == 0:
        raise CliError(f"{source}: the table has no rows")
    if tag_column is not None and tag_column not in columns:
        raise CliError(f"{source}: unknown --tag-column {tag_column!r}; available columns: {', '.join(columns)}")
    drop = set(coordinate_columns(columns)) | {"neighbours_kept"}
    ids = columns.get("id") or [str(i) for i in range(n)]
    if len(set(ids)) != n:
        raise CliError(f"{source}: the id column repeats values")
    rest = [c for c in columns if c not in drop and c not in ("id", "source")]
    tag_name = tag_column or ("tag" if "tag" in columns else (rest[0] if rest else None))
    tags = [t or "untagged" for t in columns[tag_name]] if tag_name else ["untagged"] * n
    extra = {c: columns[c] for c in rest if c not in (tag_name, "tag")}
    extra.update({c: columns[c] for c in columns if c in drop})  # kept for given_map_projection
    return workset_from_table(source, list(ids), list(columns.get("source") or ids), columns_of(tags, extra))


def load_for_map(args: argparse.Namespace, progress) -> WorkSet:
    """``load_with_vectors``, except that ``--method given`` draws a coordinates-only table without embedding."""
    if args.method == "given" and is_points_table(args.source):
        return load_points_table(args.source, getattr(args, "tag_column", None))
    return load_with_vectors(args, progress)


def given_map_projection(args: argparse.Namespace, loaded: WorkSet):
    """(the source's own coordinates as a Projection, the record without them among its tag columns)."""
    projection = given_projection(tag_columns(loaded), dims=args.dims, name=args.source)
    # the coordinates are the map now, not tags: keep them out of the extra tag columns written beside x, y
    columns = {k: v for k, v in loaded.columns.items()
               if k == "tag" or k.strip().lower() not in COORDINATE_COLUMNS + ("neighbours_kept",)}
    return projection, dataclasses.replace(loaded, columns=columns)


def write_map_parquet(out: str, loaded: WorkSet, coords: np.ndarray, kept: np.ndarray) -> None:
    try:
        write_map_table(out, map_frame(export_rows(loaded, out), coords, kept))
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
    say(f"wrote {out}: {len(loaded.ids)} rows")


def run_export(args: argparse.Namespace) -> int:
    progress = StderrProgress()
    out = Path(args.out)
    if args.format == "projector" and out.exists() and not out.is_dir():
        raise CliError(f"{out}: exists and is not a folder (--format projector writes a folder)")
    if args.format != "projector" and out.is_dir():
        raise CliError(f"{out}: is a folder; --format {args.format} writes one {EXPORT_FORMATS[args.format]}")
    loaded = load_with_vectors(args, progress)
    rows = export_rows(loaded, args.source)
    start = time.perf_counter()
    try:
        if args.format == "projector":
            written = export.write_projector(out, rows, tensor_name=f"{Path(args.source).name} ({loaded.embedder_name})")
            say(f"wrote {out}: {', '.join(written)} ({len(rows)} points of {loaded.vectors.shape[1]} dims)")
        elif args.format == "parquet":
            export.write_embeddings_parquet(out, rows)
            say(f"wrote {out}: {len(rows)} vectors of {loaded.vectors.shape[1]} dims")
        else:
            projection = export_projection(args, loaded)
            page = export.html_map(rows, projection.coords, title=f"{Path(args.source).name} · {loaded.embedder_name}",
                                   method_note=f"{projection.method} map")
            atomic_write(out, page.encode("utf-8"))
            say(f"wrote {out}: a {projection.coords.shape[1]}D {projection.method} map of {len(rows)} images "
                f"({len(page) / 2**20:.1f} MB, opens offline)")
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CliError(f"{out}: {exc}") from None
    say(f"export took {time.perf_counter() - start:.1f} s")
    return EXIT_OK


def export_projection(args: argparse.Namespace, loaded: WorkSet):
    try:
        if args.method == "given":
            return given_map_projection(args, loaded)[0]
        projection = project(loaded.vectors, method=args.method, n_components=args.dims, random_state=args.seed,
                             perplexity=args.perplexity)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    for note in projection.notes:
        say(f"note: {note}")
    return projection


# ---------------------------------------------------------------------------------------------------------
# Parser


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line plus the usage, with exit code 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.print_usage(sys.stderr)
        raise SystemExit(f"error: {message}") from None


def add_source_args(parser: argparse.ArgumentParser, *, npz: bool) -> None:
    kinds = "a folder (one sub-folder per tag), a .zip, a manifest .csv, demo:NAME" + (
        ", an .npz from embed, a .parquet from export, or a Projector bundle (folder or tensors.tsv)" if npz else "")
    parser.add_argument("source", metavar="SOURCE", help=kinds)
    parser.add_argument("--tag-column", metavar="NAME", help="the manifest column that holds the tag (for .csv sources)")


def add_cache_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", metavar="DIR", help="cache folder for embeddings and decoded images (default: $EXPLORER_CACHE_DIR or ~/.cache)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the caches (embeddings, decoded images)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m explorer", description="Explore the feature space of a tagged image set.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser, required=True)

    info = commands.add_parser("info", help="count images per tag and list skipped files")
    add_source_args(info, npz=True)
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(run=run_info)

    embed = commands.add_parser("embed", help="embed a set and write ids, sources, tags and vectors to an .npz")
    add_source_args(embed, npz=False)
    embed.add_argument("--embedder", metavar="NAME", required=True, help="pixels, color-histogram, hog, efficientnet-lite0")
    embed.add_argument("--out", metavar="FILE.npz", help="output file (default: <source>-<embedder>.npz); "
                       "with --workers/--scheduler a folder of Parquet partitions (default: <source>-<embedder>)")
    add_cache_args(embed)
    add_cluster_args(embed)
    embed.add_argument("--partition-size", metavar="N", type=int, default=1000,
                       help="files per partition with --workers/--scheduler (default: 1000)")
    embed.set_defaults(run=run_embed)

    mapping = commands.add_parser("map", help="project a set to 2-D/3-D and write one CSV row per image")
    add_source_args(mapping, npz=True)
    mapping.add_argument("--embedder", metavar="NAME", default=None, help="embedder (default: pixels)")
    mapping.add_argument("--method", choices=["pca", "tsne", "umap", "given"], default="tsne",
                         help="given: draw the source's own x, y (, z) columns")
    mapping.add_argument("--dims", type=int, choices=[2, 3], default=2)
    mapping.add_argument("--perplexity", metavar="P", type=float, default=30.0)
    mapping.add_argument("--seed", metavar="S", type=int, default=0)
    mapping.add_argument("--out", metavar="FILE.csv", help="output CSV, or Parquet for FILE.parquet (default: CSV on "
                         "standard output); for a folder from embed --workers, FILE.parquet (default: "
                         "DIR/map-<method>.parquet)")
    mapping.add_argument("--exact-measures", action="store_true",
                         help="compute the map's measures on every point (default: above 20,000 points they "
                              "are estimated on a seeded random sample, and the output says so)")
    add_cache_args(mapping)
    mapping.add_argument("--fit-sample", metavar="M", type=int, default=None,
                         help="for a folder from embed --workers: fit on a stratified sample of M points "
                              "(default 10000) and place the rest into that map")
    add_cluster_args(mapping)
    mapping.add_argument("--all-neighbours", action="store_true",
                         help="with --fit-sample: neighbours kept for every point, not only the sample")
    mapping.set_defaults(run=run_map)

    sep = commands.add_parser("separation", help="how well tags separate in feature space, as JSON")
    add_source_args(sep, npz=True)
    sep.add_argument("--embedder", metavar="NAME", default=None, help="embedder (default: pixels)")
    sep.add_argument("--train-contrastive", action="store_true", help="also train a contrastive head and report held-out gains")
    sep.add_argument("--text-model", choices=["hashed", "minilm"], default=None,
                     help="train the image-text model with this text encoder and report zero-shot top-1 (default hashed)")
    sep.add_argument("--zero-shot-holdout", metavar="K", type=int, default=None,
                     help="tags held out of the image-text model's training (default: a fifth of the tags; "
                          "0 with --zero-shot-method conse: pure zero-shot, no tag trained)")
    sep.add_argument("--zero-shot-method", choices=["conse", "projections", "combined"], default=None,
                     help="how held-out tags are found by name: the trained projections (today's default), ConSE "
                          "(the efficientnet-lite0 ImageNet head, nothing trained) or combined (projections for "
                          "seen tags, ConSE for unseen); adds method and harmonic_mean to zero_shot")
    sep.add_argument("--seed", metavar="S", type=int, default=0)
    sep.add_argument("--json", action="store_true", help="print one JSON object")
    add_cache_args(sep)
    sep.set_defaults(run=run_separation)

    export = commands.add_parser("export", help="write a Projector bundle, a Parquet of vectors or a standalone HTML map")
    add_source_args(export, npz=True)
    export.add_argument("--embedder", metavar="NAME", default=None, help="embedder (default: pixels)")
    export.add_argument("--format", choices=list(EXPORT_FORMATS), required=True,
                        help="projector: DIR with tensors.tsv, metadata.tsv, sprite.png, projector_config.json; "
                             "parquet: FILE.parquet (id, source, tags, vector); html: one offline FILE.html map")
    export.add_argument("--out", metavar="PATH", required=True, help="output folder (projector) or file")
    export.add_argument("--method", choices=["pca", "tsne", "umap", "given"], default="tsne", help="map projection (html)")
    export.add_argument("--dims", type=int, choices=[2, 3], default=2, help="map dimensions (html)")
    export.add_argument("--perplexity", metavar="P", type=float, default=30.0)
    export.add_argument("--seed", metavar="S", type=int, default=0)
    add_cache_args(export)
    export.set_defaults(run=run_export)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return EXIT_USAGE
        return int(exc.code or 0)
    try:
        return args.run(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("error: out of memory; try a smaller set or the pca method", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # the promise is one line, never a traceback; EXPLORER_DEBUG=1 shows it
        if os.environ.get("EXPLORER_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (set EXPLORER_DEBUG=1 for details)", file=sys.stderr)
        return EXIT_FAILED
