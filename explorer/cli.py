"""The command line: ``python -m explorer info|embed|map|separation`` for scripting and precomputing talks.

The flags, JSON keys and CSV columns here are promises to users who script the tool; keep them exact.
Every failure ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, TextIO

import numpy as np

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report to the user as one line."""


@dataclass
class LoadedVectors:
    """What every command works on: rows of an image set, or of a precomputed ``.npz``."""

    ids: list[str]
    sources: list[str]
    tags: list[str]
    vectors: Optional[np.ndarray] = None
    image_set: object = None  # explorer.imageset.ImageSet when loaded from images
    embedder: object = None  # explorer.embedders.Embedder when this run embedded
    embedder_name: str = ""
    skipped: list = field(default_factory=list)


class StderrProgress:
    """A progress callback that writes sparse lines (or one rewritten line on a terminal) to stderr."""

    def __init__(self, stream: TextIO = sys.stderr, quiet: bool = False) -> None:
        self.stream = stream
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


def is_npz(source: str) -> bool:
    """Whether SOURCE already holds vectors: an .npz, or a folder written by ``embed --workers/--scheduler``."""
    from explorer.cluster import is_sharded_folder

    return source.lower().endswith(".npz") or is_sharded_folder(source)


def load_images(source: str, args: argparse.Namespace, progress) -> LoadedVectors:
    from explorer.sources import LoadError, load_source

    try:
        image_set = load_source(source, tag_column=getattr(args, "tag_column", None), progress=progress)
    except LoadError as exc:
        raise CliError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise CliError(f"{source}: {exc}") from None
    return LoadedVectors(ids=list(image_set.ids), sources=list(image_set.sources), tags=list(image_set.tags),
                         image_set=image_set, skipped=list(image_set.skipped))


def load_npz(source: str) -> LoadedVectors:
    from explorer.cluster import is_sharded_folder, open_sharded
    from explorer.store import load_embeddings

    skipped = []
    try:
        if is_sharded_folder(source):
            shard = open_sharded(source)
            data, skipped = shard.data, shard.skipped
        else:
            data = load_embeddings(source)
    except (OSError, ValueError) as exc:
        message = str(exc)
        raise CliError(message if source in message else f"{source}: {message}") from None
    if len(data.ids) == 0:
        raise CliError(f"{source}: the file holds no vectors")
    return LoadedVectors(ids=list(data.ids), sources=list(data.sources), tags=list(data.tags),
                         vectors=np.asarray(data.vectors, dtype=np.float32), embedder_name=data.embedder or "",
                         skipped=skipped)


def make_embedder(name: str):
    from explorer.embedders import get_embedder

    try:
        return get_embedder(name)
    except ValueError as exc:  # includes EmbedderUnavailable
        raise CliError(str(exc)) from None


def make_cache(args: argparse.Namespace):
    if getattr(args, "no_cache", False):
        return None
    from explorer.cache import EmbeddingCache, default_cache_dir

    root = Path(args.cache_dir) if getattr(args, "cache_dir", None) else default_cache_dir()
    return EmbeddingCache(root)


def load_with_vectors(args: argparse.Namespace, progress) -> LoadedVectors:
    """Load SOURCE and make sure it has vectors: embed images, or take an ``.npz`` as it is."""
    if is_npz(args.source):
        loaded = load_npz(args.source)
        if args.embedder and loaded.embedder_name and args.embedder != loaded.embedder_name:
            say(f"note: {args.source} holds {loaded.embedder_name} vectors; --embedder {args.embedder} is ignored")
        return loaded
    from explorer.embedders import embed_set

    loaded = load_images(args.source, args, progress)
    embedder = make_embedder(args.embedder or "pixels")
    report_skips(loaded.skipped)
    vectors = embed_set(loaded.image_set, embedder, cache=make_cache(args), progress=progress)
    loaded.vectors = np.asarray(vectors, dtype=np.float32)
    loaded.embedder = embedder
    loaded.embedder_name = embedder.name
    return loaded


def report_skips(skipped: Sequence) -> None:
    if skipped:
        say(f"skipped {len(skipped)} file(s):")
        for item in skipped:
            say(f"  {item.file}: {item.reason}")


# ---------------------------------------------------------------------------------------------------------
# Commands


def run_info(args: argparse.Namespace) -> int:
    progress = StderrProgress(quiet=args.json)
    loaded = load_npz(args.source) if is_npz(args.source) else load_images(args.source, args, progress)
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
        print(f"skipped {len(skipped)} file(s):")
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
    if is_npz(args.source):
        raise CliError(f"{args.source}: already holds embeddings; give a folder, .zip, .csv or demo:NAME")
    from explorer.store import save_embeddings

    progress = StderrProgress()
    embedder = make_embedder(args.embedder)  # fail on a bad name before decoding anything
    loaded = load_images(args.source, args, progress)
    report_skips(loaded.skipped)
    from explorer.embedders import embed_set

    start = time.perf_counter()
    vectors = embed_set(loaded.image_set, embedder, cache=make_cache(args), progress=progress)
    out = Path(args.out or default_npz_name(args.source, embedder.name))
    try:
        save_embeddings(out, loaded.image_set, vectors, embedder)
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
    say(f"wrote {out}: {vectors.shape[0]} vectors of {vectors.shape[1]} dims ({embedder.name}) "
        f"in {time.perf_counter() - start:.1f} s")
    return EXIT_OK


def run_map(args: argparse.Namespace) -> int:
    from explorer.cluster import is_sharded_folder

    if is_sharded_folder(args.source):
        return run_map_sharded(args)
    if args.fit_sample is not None or args.workers is not None or args.scheduler is not None:
        raise CliError(f"{args.source}: --fit-sample, --workers and --scheduler apply to a folder written by "
                       "embed --workers/--scheduler")
    from explorer.measures import knn_tag_agreement, neighbours_kept, trustworthiness
    from explorer.projection import project

    progress = StderrProgress()
    loaded = load_with_vectors(args, progress)
    callback = None
    if args.method == "tsne":
        def callback(iteration, _coords):
            say(f"t-SNE iteration {iteration}")
    try:
        projection = project(loaded.vectors, method=args.method, n_components=args.dims, random_state=args.seed,
                             perplexity=args.perplexity, callback=callback)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    for note in projection.notes:
        say(f"note: {note}")
    for index, reason in sorted(projection.excluded.items()):
        say(f"excluded {loaded.sources[index]}: {reason}")
    coords = projection.coords
    valid = ~np.isnan(coords).any(axis=1)
    kept = np.full(len(loaded.ids), np.nan)
    summary = {}
    if valid.sum() >= 3:
        k = int(min(10, valid.sum() - 1))
        kept[valid] = neighbours_kept(loaded.vectors[valid], coords[valid], k=k)
        summary["trustworthiness"] = trustworthiness(loaded.vectors[valid], coords[valid], k=min(k, (int(valid.sum()) - 1) // 2) or 1)
        tags = [t for t, ok in zip(loaded.tags, valid) if ok]
        summary["knn_agreement_embedding"] = knn_tag_agreement(loaded.vectors[valid], tags, k=k).overall
        summary["knn_agreement_map"] = knn_tag_agreement(coords[valid], tags, k=k, metric="euclidean").overall
    write_map_csv(args.out, loaded, coords, kept, args.dims)
    for key, value in summary.items():
        say(f"{key}: {format_number(value)}")
    return EXIT_OK


def format_number(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def write_map_csv(out: Optional[str], loaded: LoadedVectors, coords: np.ndarray, kept: np.ndarray, dims: int) -> None:
    header = ["id", "source", "tag", "x", "y"] + (["z"] if dims == 3 else []) + ["neighbours_kept"]

    def cell(value: float) -> str:
        return "" if np.isnan(value) else f"{value:.6g}"

    def write(stream: TextIO) -> None:
        writer = csv.writer(stream)
        writer.writerow(header)
        for i, row_id in enumerate(loaded.ids):
            writer.writerow([row_id, loaded.sources[i], loaded.tags[i], *map(cell, coords[i]), cell(kept[i])])

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
    from explorer.cluster import open_client

    if args.workers is not None and args.scheduler is not None:
        raise CliError("give --workers N (a cluster on this machine) or --scheduler ADDRESS, not both")
    return open_client(workers=args.workers, scheduler=args.scheduler, say=say)


def run_embed_cluster(args: argparse.Namespace) -> int:
    from explorer.cluster import ClusterError, embed_to_folder
    from explorer.sources import LoadError

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
        f"{summary.partitions} partition(s)" + (f", {resumed} kept from an earlier run" if resumed else "")
        + f" in {summary.seconds:.1f} s")
    return EXIT_OK


def run_map_sharded(args: argparse.Namespace) -> int:
    from explorer.cluster import DEFAULT_FIT_SAMPLE, ClusterError, map_folder

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
    from explorer.story import separation_report

    progress = StderrProgress()
    loaded = load_with_vectors(args, progress)
    report = separation_report(loaded.image_set, loaded.vectors, loaded.embedder, tags=loaded.tags,
                               train_contrastive=args.train_contrastive, seed=args.seed, progress=progress)
    if args.json:
        print(json.dumps(report, ensure_ascii=False, allow_nan=False))
    else:
        for key, value in report.items():
            if not isinstance(value, (dict, list)):
                print(f"{key}: {value}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------------
# Parser


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line plus the usage, with exit code 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.print_usage(sys.stderr)
        raise SystemExit(f"error: {message}") from None


def add_source_args(parser: argparse.ArgumentParser, *, npz: bool) -> None:
    kinds = "a folder (one sub-folder per tag), a .zip, a manifest .csv, demo:NAME" + (", or an .npz from embed" if npz else "")
    parser.add_argument("source", metavar="SOURCE", help=kinds)
    parser.add_argument("--tag-column", metavar="NAME", help="the manifest column that holds the tag (for .csv sources)")


def add_cache_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", metavar="DIR", help="embedding cache folder (default: $EXPLORER_CACHE_DIR or ~/.cache)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")


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
    mapping.add_argument("--method", choices=["pca", "tsne", "umap"], default="tsne")
    mapping.add_argument("--dims", type=int, choices=[2, 3], default=2)
    mapping.add_argument("--perplexity", metavar="P", type=float, default=30.0)
    mapping.add_argument("--seed", metavar="S", type=int, default=0)
    mapping.add_argument("--out", metavar="FILE.csv", help="output CSV (default: standard output); for a folder "
                         "from embed --workers, FILE.parquet (default: DIR/map-<method>.parquet)")
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
    sep.add_argument("--seed", metavar="S", type=int, default=0)
    sep.add_argument("--json", action="store_true", help="print one JSON object")
    add_cache_args(sep)
    sep.set_defaults(run=run_separation)
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
