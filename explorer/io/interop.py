"""Reading other tools' files into the shape the ``.npz`` loader gives, and coordinates brought as given.

- A TensorFlow Embedding Projector bundle: a folder holding ``tensors.tsv`` (+ ``metadata.tsv``), the
  ``tensors.tsv`` path itself, or a ``.zip`` of such a folder (what the app's download gives).
- A Parquet file written by ``python -m explorer export --format parquet`` (``vector`` list<float> column).
- Any table whose tag columns include numeric ``x``, ``y`` (optionally ``z``): :func:`given_projection`.

Every reader returns :class:`explorer.store.EmbeddingFile` and raises ``ValueError`` with one line naming
the file and, where there is one, the line or row ("tensors.tsv line 7: ..."); nothing is silently dropped.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile
from pathlib import Path, PurePosixPath
from typing import Sequence

import numpy as np

from explorer.io.bounded import LineTooLong, MemberRefused, chunks_of, iter_lines, open_member
from explorer.io.names import display_name
from explorer.io.store import EmbeddingFile, load_embeddings
from explorer.limits import CLI_VECTORS, VectorLimits
from explorer.projection import Projection
from explorer.words import plural

TENSORS = "tensors.tsv"
METADATA = "metadata.tsv"
CONFIG = "projector_config.json"
KNOWN_COLUMNS = ("id", "source", "tag")
COORDINATE_COLUMNS = ("x", "y", "z")
# A bundle is text, read as a stream of lines: one line of numbers may be at most this many bytes per
# dimension (a float32 written with every digit takes 16), a line of metadata at most METADATA_LINE_BYTES.
LINE_BYTES_PER_DIM = 64
METADATA_LINE_BYTES = 1 << 20
# Text of metadata (ids, tags: Python strings, ~60 bytes each in memory) a reader holds, as a share of the
# limits' matrix bytes: cells at most max_bytes / 128 (4M cells in the app), bytes at most max_bytes / 8.
METADATA_CELL_SHARE = 128
METADATA_BYTE_SHARE = 8


# ----------------------------------------------------------------------------------------- detection

def projector_tensors(spec: str | os.PathLike) -> Path | None:
    """The bundle file a spec names, else None: ``tensors.tsv`` (the file, or in the folder given), the
    folder's ``projector_config.json`` when it names other files, or any ``.tsv`` whose first line is numbers."""
    path = Path(spec)
    if path.is_dir():
        for name in (TENSORS, CONFIG):
            if (path / name).is_file():
                return path / name
        return None
    name = path.name.lower()
    if name.endswith(TENSORS) or name == CONFIG:
        return path
    return path if name.endswith(".tsv") and _first_line_is_numbers(path) else None


def _first_line_is_numbers(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            line = fh.readline(1 << 20).decode("utf-8-sig", "replace").strip()
    except OSError:
        return False
    return bool(line) and all(_is_float(c) for c in line.split("\t"))


def _from_config(config: Path) -> tuple[Path, Path | None]:
    """(tensors, metadata or None) named by the first embedding of a ``projector_config.json``."""
    try:
        embeddings = json.loads(_read_text(config)).get("embeddings") or []
        first = embeddings[0]
        tensor_path, metadata_path = first["tensorPath"], first.get("metadataPath")
    except (ValueError, AttributeError, IndexError, KeyError, TypeError):
        raise ValueError(f"{config}: not a Projector config (expected embeddings[0].tensorPath)") from None

    def beside(value: str, key: str) -> Path:
        text = str(value)
        if "://" in text or text.startswith(("/", "\\")) or ".." in Path(text).parts:
            raise ValueError(f"{config}: {key} {_quote(text)} must name a file beside the config")
        return config.parent / text

    return beside(tensor_path, "tensorPath"), beside(metadata_path, "metadataPath") if metadata_path else None


def zipped_bundle_member(spec: str | os.PathLike) -> str | None:
    """The ``tensors.tsv`` member of a ``.zip`` holding a Projector bundle (at the top or one folder down)."""
    path = Path(spec)
    if path.suffix.lower() != ".zip" or not path.is_file():
        return None
    return _bundle_member_of(path)


def _bundle_member_of(source) -> str | None:
    try:
        with zipfile.ZipFile(source) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return None
    hits = [n for n in names if PurePosixPath(n).name == TENSORS and len(PurePosixPath(n).parts) <= 2]
    return min(hits, key=len) if hits else None


def parquet_has_vectors(path: str | os.PathLike) -> bool:
    """True for a Parquet with a ``vector`` column (an export), or one that cannot be read (its loader says why);
    False for a table without vectors (a manifest or a map), which loads as images or coordinates."""
    import pyarrow.parquet as pq

    try:
        return "vector" in pq.read_schema(path).names
    except Exception:  # missing or unreadable: load_parquet reports it in one line
        return True


def load_vectors(spec: str | os.PathLike | bytes, *, name: str | None = None,
                 limits: VectorLimits | None = CLI_VECTORS, drop_non_finite: bool = False) -> EmbeddingFile:
    """Load an ``.npz`` from ``embed``, a Parquet from ``export`` or a Projector bundle (folder, tsv, zip).

    spec : a path, or an upload's bytes (then ``name`` says what it is: ``x.npz``, ``x.parquet``,
        ``tensors.tsv``, ``bundle.zip``; nothing is written to disk).
    name : how the file is named in messages (default: the path; give a bare name to keep server paths
        out of what visitors see).
    limits : rows, dimensions and matrix bytes, checked from headers, metadata or a counting pass before
        any matrix is allocated (``explorer.limits.APP_VECTORS`` for visitors).
    drop_non_finite : for an ``.npz``, leave out rows with NaN/inf (reported in ``skipped``).
    """
    limits = CLI_VECTORS if limits is None else limits
    if isinstance(spec, (bytes, bytearray, memoryview)):
        return _load_vector_bytes(bytes(spec), name or "upload.npz", limits, drop_non_finite)
    text = str(spec)
    lower = text.lower()
    if lower.endswith(".parquet"):
        return load_parquet(text, name=name, limits=limits)
    tensors = projector_tensors(text)
    if tensors is not None:
        return load_projector(tensors, name=name, limits=limits)
    member = zipped_bundle_member(text)
    if member is not None:
        return load_projector_zip(text, member, name=name, limits=limits)
    return load_embeddings(text, name=name, limits=limits, drop_non_finite=drop_non_finite)


def _load_vector_bytes(data: bytes, name: str, limits: VectorLimits, drop_non_finite: bool) -> EmbeddingFile:
    lower = name.lower()
    if lower.endswith(".parquet"):
        return load_parquet(data, name=name, limits=limits)
    if lower.endswith(".tsv"):
        return _projector_from(lambda: io.BytesIO(data), None, name, METADATA, limits)
    if lower.endswith(".zip"):
        member = _bundle_member_of(io.BytesIO(data))
        if member is None:
            raise ValueError(f"{name}: no {TENSORS} in the archive (expected a Projector bundle)")
        return load_projector_zip(data, member, name=name, limits=limits)
    return load_embeddings(data, name=name, limits=limits, drop_non_finite=drop_non_finite)


# ----------------------------------------------------------------------------------------- projector

def load_projector(tensors: str | os.PathLike, metadata: str | os.PathLike | None = None, *,
                   name: str | None = None, limits: VectorLimits = CLI_VECTORS) -> EmbeddingFile:
    """Read ``tensors.tsv`` and, if present beside it (or given), ``metadata.tsv``, as streams: rows and
    columns are counted against ``limits`` before the matrix is allocated. ``name`` replaces the folder in
    messages (``name/tensors.tsv``)."""
    tensors = Path(tensors)
    if tensors.name.lower() == CONFIG and metadata is None:
        tensors, metadata = _from_config(tensors)
        if metadata is None:  # the config names no metadata: do not pick up an unrelated metadata.tsv
            return _projector_from(_opener(tensors), None, _shown(tensors, name), METADATA, limits)
    if not tensors.is_file():
        shown = _shown(tensors, name)
        raise ValueError(f"{shown}: no such file" if not tensors.exists() else f"{shown}: not a file")
    meta_path = Path(metadata) if metadata is not None else tensors.parent / METADATA
    if metadata is not None and not meta_path.is_file():
        raise ValueError(f"{_shown(meta_path, name)}: no such file")
    meta_open = _opener(meta_path) if meta_path.is_file() else None
    return _projector_from(_opener(tensors), meta_open, _shown(tensors, name), _shown(meta_path, name), limits)


def _shown(path: Path, name: str | None) -> str:
    return str(path) if name is None else f"{name}/{path.name}" if not name.endswith(path.name) else name


def _opener(path: Path):
    def open_file():
        try:
            return open(path, "rb")
        except OSError as exc:
            raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return open_file


def bundle_thumbnails(spec: str | os.PathLike, n: int) -> list[bytes] | None:
    """JPEG thumbnails cut from a bundle's sprite (named with its ``singleImageDim`` in the config), or None.

    None when the spec is no bundle folder/config or names no sprite; ValueError naming the file when the
    sprite is unreadable or holds fewer than ``n`` cells.
    """
    from PIL import Image

    found = projector_tensors(spec)
    config = found.parent / CONFIG if found is not None else None
    if config is None or not config.is_file():
        return None
    try:
        sprite = json.loads(_read_text(config))["embeddings"][0]["sprite"]
        image_path, (width, height) = sprite["imagePath"], (int(v) for v in sprite["singleImageDim"])
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None  # no sprite named: a bundle of vectors only
    text = str(image_path)
    if "://" in text or text.startswith(("/", "\\")) or ".." in Path(text).parts or width < 1 or height < 1:
        raise ValueError(f"{config}: sprite {_quote(text)} must be a file beside the config with a positive singleImageDim")
    path = config.parent / text
    try:
        with Image.open(path) as sheet:
            sheet = sheet.convert("RGB")
    except (OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{path}: not a readable sprite ({exc})") from None
    columns, rows = sheet.width // width, sheet.height // height
    if columns * rows < n:
        raise ValueError(f"{path}: {columns * rows} cells of {width}x{height} px for {n} points")
    out = []
    for i in range(n):
        row, col = divmod(i, columns)
        buffer = io.BytesIO()
        sheet.crop((col * width, row * height, (col + 1) * width, (row + 1) * height)).save(buffer, "JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


def load_projector_zip(path: str | os.PathLike | bytes, member: str, *, name: str | None = None,
                       limits: VectorLimits = CLI_VECTORS) -> EmbeddingFile:
    """Read a bundle from inside a ``.zip`` (``member`` is its ``tensors.tsv``), every member through the
    bounded reader: it stops at the member's declared size and at the limits, whatever the header says."""
    shown = name or (str(path) if not isinstance(path, (bytes, bytearray)) else "bundle.zip")
    meta_member = str(PurePosixPath(member).with_name(METADATA))
    cap = _text_cap(limits)
    try:
        with zipfile.ZipFile(io.BytesIO(path) if isinstance(path, (bytes, bytearray)) else path) as archive:
            names = set(archive.namelist())
            if member not in names:
                raise ValueError(f"{shown}: no member {member!r}")
            meta_open = (lambda: open_member(archive, meta_member, cap)) if meta_member in names else None
            return _projector_from(lambda: open_member(archive, member, cap), meta_open, f"{shown}!{member}",
                                   f"{shown}!{meta_member}", limits)
    except MemberRefused as exc:
        raise ValueError(f"{shown}: {exc}") from None
    except (OSError, zipfile.BadZipFile, KeyError, EOFError) as exc:
        raise ValueError(f"{shown}: not a readable bundle archive ({exc})") from None


def parse_projector(tensors_text: str, metadata_text: str | None, *, tensors_name: str = TENSORS,
                    metadata_name: str = METADATA, limits: VectorLimits = CLI_VECTORS) -> EmbeddingFile:
    """Parse the Projector's two TSV texts; ValueError "FILE line N: reason" on the first bad line."""
    tensors = tensors_text.encode("utf-8")
    meta = metadata_text.encode("utf-8") if metadata_text is not None else None
    return _projector_from(lambda: io.BytesIO(tensors), (lambda: io.BytesIO(meta)) if meta is not None else None,
                           tensors_name, metadata_name, limits)


def _text_cap(limits: VectorLimits) -> int:
    """Bytes of text a bundle member may inflate to: enough for the largest matrix the limits allow."""
    return limits.max_bytes // 4 * LINE_BYTES_PER_DIM


def _projector_from(tensors_open, meta_open, tensors_name: str, metadata_name: str,
                    limits: VectorLimits) -> EmbeddingFile:
    """The bundle from two stream openers: tensors counted, then parsed into a matrix of the counted shape."""
    tensors_name, metadata_name = display_name(tensors_name, max_length=400), display_name(metadata_name, max_length=400)
    rows, width = _count_tensors(tensors_open, tensors_name, limits)
    vectors = _parse_tensors(tensors_open, tensors_name, rows, width)
    if meta_open is None:
        ids = [str(i) for i in range(rows)]
        return EmbeddingFile(ids=ids, sources=list(ids), tags=["untagged"] * rows, vectors=vectors)
    header, columns = _parse_metadata(meta_open, metadata_name, rows, limits)
    return _file_from_columns(dict(zip(header, columns)), vectors, metadata_name)


def _tensor_lines(opener, name: str, width_hint: int | None):
    max_dims = width_hint or 1 << 16
    try:
        first = True
        for number, line in iter_lines(chunks_of(opener), max_line=max_dims * LINE_BYTES_PER_DIM):
            if first and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            first = False
            yield number, line
    except LineTooLong as exc:
        raise ValueError(f"{name} {exc}") from None
    except MemberRefused as exc:
        raise ValueError(f"{name}: {exc}") from None


def _count_tensors(opener, name: str, limits: VectorLimits) -> tuple[int, int]:
    """(rows, columns) of ``tensors.tsv`` from a streaming pass; ValueError at the first ragged row or as
    soon as the count passes a limit, before any matrix exists."""
    width = None
    rows = 0
    cap_rows = limits.max_rows
    for number, line in _tensor_lines(opener, name, limits.max_dims and limits.max_dims + 1):
        cells = line.count(b"\t") + 1
        if width is None:
            width = cells
            if limits.max_dims is not None and width > limits.max_dims:
                raise ValueError(f"{name} line 1: {width:,} values, over the limit of {limits.max_dims:,} dimensions")
            by_bytes = limits.max_bytes // (4 * width)
            cap_rows = by_bytes if cap_rows is None else min(cap_rows, by_bytes)
        elif cells != width:
            raise ValueError(f"{name} line {number}: {cells} values, but line 1 has {width} (ragged rows)")
        rows = number
        if rows > cap_rows:
            if limits.max_rows is not None and rows > limits.max_rows:
                raise ValueError(f"{name}: more than {limits.max_rows:,} rows, over the limit of "
                                 f"{limits.max_rows:,} rows")
            raise ValueError(f"{name}: more than {cap_rows:,} rows of {width:,} values, over the limit of "
                             f"{_size(limits.max_bytes)} of vectors")
    if width is None:
        raise ValueError(f"{name}: empty file (expected one tab-separated row of numbers per point)")
    return rows, width


def _parse_tensors(opener, name: str, rows: int, width: int) -> np.ndarray:
    """The (rows, width) float32 matrix, filled block by block from a second pass over the stream."""
    out = np.empty((rows, width), dtype=np.float32)
    block: list[bytes] = []
    at = 0
    step = max(1, (4 << 20) // (8 * width))
    for number, line in _tensor_lines(opener, name, width):
        if number > rows:
            raise ValueError(f"{name}: changed while it was read (more than {rows:,} rows)")
        block.append(line)
        if len(block) == step:
            _fill(out, at, block, name)
            at += len(block)
            block = []
    if block:
        _fill(out, at, block, name)
        at += len(block)
    if at != rows:
        raise ValueError(f"{name}: changed while it was read ({at:,} rows, then {rows:,})")
    finite = np.isfinite(out).all(axis=1)
    if not finite.all():
        raise ValueError(f"{name} line {int(np.flatnonzero(~finite)[0]) + 1}: holds an infinite or NaN value")
    return out


def _fill(out: np.ndarray, at: int, block: list[bytes], name: str) -> None:
    width = out.shape[1]
    try:
        texts = [line.decode("utf-8") for line in block]
    except UnicodeDecodeError:
        bad = next(i for i, line in enumerate(block) if not _utf8(line))
        raise ValueError(f"{name} line {at + bad + 1}: not UTF-8 text") from None
    try:
        out[at:at + len(block)] = np.loadtxt(texts, delimiter="\t", dtype=np.float32, ndmin=2, comments=None,
                                             quotechar=None).reshape(len(block), width)
        return
    except ValueError:
        pass
    for offset, text in enumerate(texts):  # the slow path finds the cell (and takes what float() takes)
        cells = text.split("\t")
        if len(cells) != width:
            raise ValueError(f"{name} line {at + offset + 1}: {len(cells)} values, but line 1 has {width} (ragged rows)")
        try:
            out[at + offset] = [float(c) for c in cells]
        except ValueError:
            column, cell = next((i, c) for i, c in enumerate(cells) if not _is_float(c))
            what = "an empty value is not a number" if cell == "" else f"{_quote(cell)} is not a number"
            raise ValueError(f"{name} line {at + offset + 1}, column {column + 1}: {what}") from None


def _utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


CONFIG_MAX_BYTES = 1 << 20  # a projector_config.json is a few lines


def _read_text(path: Path) -> str:
    """A small text file (a config), at most CONFIG_MAX_BYTES read."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(CONFIG_MAX_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > CONFIG_MAX_BYTES:
        raise ValueError(f"{path}: larger than {CONFIG_MAX_BYTES >> 20} MiB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(f"{path} line {line}: not UTF-8 text") from None


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _quote(text: str, limit: int = 40) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(text)


def _parse_metadata(opener, name: str, n: int, limits: VectorLimits) -> tuple[list[str], list[list[str]]]:
    """(header, columns) — a one-column file has no header (the Projector's rule): its values are the tags.
    Streamed: stops at row n + 1 and at the limits' share of text, every cell made inert (display_name)."""
    max_cells = max(1, limits.max_bytes // METADATA_CELL_SHARE)
    max_text = max(1, limits.max_bytes // METADATA_BYTE_SHARE)
    header: list[str] = []
    columns: list[list[str]] = []
    width = first = 0
    taken = 0
    try:
        for number, raw in iter_lines(chunks_of(opener), max_line=METADATA_LINE_BYTES):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            taken += len(raw) + 1
            if taken > max_text:
                raise ValueError(f"{name}: more than {_size(max_text)} of text, over this server's limit")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{name} line {number}: not UTF-8 text") from None
            cells = line.split("\t")
            if number == 1:
                width = len(cells)
                if width * n > max_cells:
                    raise ValueError(f"{name} line 1: {width:,} columns x {n:,} rows, over the limit of "
                                     f"{max_cells:,} cells")
                if width == 1:
                    header, first = ["tag"], 1
                else:
                    header, first = [display_name(h.strip()) for h in cells], 2
                    if len(set(header)) != len(header) or "" in header:
                        raise ValueError(f"{name} line 1: the header has empty or repeated column names")
                columns = [[] for _ in header]
                if first == 2:
                    continue
            if len(cells) != width:
                raise ValueError(f"{name} line {number}: {len(cells)} columns, but the header has {width}")
            if number - first + 1 > n:
                raise ValueError(f"{name} line {number}: {number - first + 1} rows of metadata but {TENSORS} has {n} rows")
            for column, cell in zip(columns, cells):
                column.append(display_name(cell, max_length=10_000))
    except LineTooLong as exc:
        raise ValueError(f"{name} {exc}") from None
    except MemberRefused as exc:
        raise ValueError(f"{name}: {exc}") from None
    if not width:
        raise ValueError(f"{name}: empty file but {TENSORS} has {n} rows")
    found = len(columns[0])
    if found != n:
        raise ValueError(f"{name} line {first + found}: {found} rows of metadata but {TENSORS} has {n} rows")
    return header, columns


def _file_from_columns(columns: dict[str, list[str]], vectors: np.ndarray, name: str,
                       embedder: str | None = None) -> EmbeddingFile:
    """ids/sources/tags from the ``id``/``source``/``tag`` columns (or stand-ins); the rest are extra tags."""
    n = vectors.shape[0]
    extra = {k: v for k, v in columns.items() if k not in KNOWN_COLUMNS}
    if "tag" in columns:
        tags = columns["tag"]
    elif extra:  # a Projector label column ("label", "class") is the natural tag
        tags = next(iter(extra.values()))
    else:
        tags = ["untagged"] * n
    ids = columns.get("id") or [str(i) for i in range(n)]
    seen: dict[str, int] = {}
    for i, value in enumerate(ids):
        if value in seen:
            raise ValueError(f"{name} row {i + 1}: id {_quote(value)} repeats row {seen[value] + 1}")
        seen[value] = i
    sources = columns.get("source") or list(ids)
    return EmbeddingFile(ids=list(ids), sources=list(sources), tags=[t or "untagged" for t in tags],
                         vectors=vectors, embedder=embedder, extra_tags=extra)


# ----------------------------------------------------------------------------------------- parquet

def load_parquet(path: str | os.PathLike | bytes, *, name: str | None = None,
                 limits: VectorLimits = CLI_VECTORS) -> EmbeddingFile:
    """Read a Parquet from ``export --format parquet``: ``vector`` (list of floats) + id/source/tag columns.

    Rows, column types and the number of vector values come from the file's metadata and are checked
    against ``limits`` before any column is read; columns are then read a batch of rows at a time into
    a matrix of the checked shape (a row group can be as large as the file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    shown = name or ("upload.parquet" if isinstance(path, (bytes, bytearray)) else str(path))
    if not isinstance(path, (bytes, bytearray)):
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{shown}: no such file" if not path.exists() else f"{shown}: not a file")
    source = pa.BufferReader(bytes(path)) if isinstance(path, (bytes, bytearray)) else str(path)
    try:
        parquet = pq.ParquetFile(source, buffer_size=1 << 20, pre_buffer=False)
        schema = parquet.schema_arrow
        n, d = _checked_shape(parquet, shown, limits)
        vectors = _read_vectors(parquet, shown, n, d)
        columns = _read_text_columns(parquet, shown, n, limits)
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"{shown}: not a readable Parquet file ({(str(exc).splitlines() or [type(exc).__name__])[0]})") from None
    meta = schema.metadata or {}
    embedder = display_name(meta.get(b"embedder", b"")) or None
    return _file_from_columns(columns, vectors, shown, embedder=embedder)


def _checked_shape(parquet, shown: str, limits: VectorLimits) -> tuple[int, int]:
    """(rows, dims) of the ``vector`` column from the file's metadata alone, within ``limits``."""
    import pyarrow as pa

    schema = parquet.schema_arrow
    names = [display_name(c) for c in schema.names]
    if "vector" not in schema.names:
        raise ValueError(f"{shown}: no 'vector' column (columns: {', '.join(names)}); "
                         "write one with: python -m explorer export SOURCE --format parquet")
    kind = schema.field("vector").type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        raise ValueError(f"{shown}: 'vector' must be a list of numbers, got {kind}")
    if not (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)):
        raise ValueError(f"{shown}: 'vector' must hold numbers, got lists of {kind.value_type}")
    meta = parquet.metadata
    n = meta.num_rows
    itemsize = max(1, kind.value_type.bit_width // 8)
    if n == 0:
        raise ValueError(f"{shown}: the file holds no vectors")
    if limits.max_rows is not None and n > limits.max_rows:
        raise ValueError(f"{shown}: {n:,} rows, over the limit of {limits.max_rows:,} rows")
    if pa.types.is_fixed_size_list(kind):
        d, values = kind.list_size, n * kind.list_size
    else:
        leaf = [j for j in range(meta.num_columns) if meta.schema.column(j).path.split(".")[0] == "vector"]
        values = sum(meta.row_group(i).column(j).num_values for i in range(meta.num_row_groups) for j in leaf)
        if values * itemsize > limits.max_bytes:  # before reading even the first row's length
            raise ValueError(f"{shown}: {values:,} vector values ({_size(values * itemsize)}), over the limit of "
                             f"{_size(limits.max_bytes)} of vectors")
        d = _first_length(parquet, shown)
        if n * d != values:  # some row is shorter or longer than the first: name it (reading lengths only)
            _raise_ragged(parquet, shown, d)
    if limits.max_dims is not None and d > limits.max_dims:
        raise ValueError(f"{shown}: {d:,} values per vector, over the limit of {limits.max_dims:,} dimensions")
    if n * d * max(4, itemsize) > limits.max_bytes:
        raise ValueError(f"{shown}: {n:,} x {d:,} vectors ({_size(n * d * itemsize)} as stored), over the limit "
                         f"of {_size(limits.max_bytes)} of vectors")
    others = [j for j in range(meta.num_columns) if meta.schema.column(j).path.split(".")[0] != "vector"]
    text = sum(meta.row_group(i).column(j).total_uncompressed_size for i in range(meta.num_row_groups) for j in others)
    cells = n * (len(schema.names) - 1)
    if text > limits.max_bytes // METADATA_BYTE_SHARE or cells > limits.max_bytes // METADATA_CELL_SHARE:
        raise ValueError(f"{shown}: {len(schema.names) - 1} text columns of {n:,} rows ({_size(text)}), over the "
                         f"limit of {limits.max_bytes // METADATA_CELL_SHARE:,} cells or "
                         f"{_size(limits.max_bytes // METADATA_BYTE_SHARE)}")
    return n, d


def _first_length(parquet, shown: str) -> int:
    for batch in parquet.iter_batches(batch_size=1, columns=["vector"]):
        column = batch.column(0)
        if column.is_null()[0].as_py():
            raise ValueError(f"{shown} row 1: 'vector' is empty (null)")
        return int(column.value_lengths()[0].as_py())
    raise ValueError(f"{shown}: the file holds no vectors")


def _raise_ragged(parquet, shown: str, d: int) -> None:
    at = 0
    for batch in parquet.iter_batches(batch_size=_batch_rows(d), columns=["vector"]):
        column = batch.column(0)
        lengths = np.asarray(column.value_lengths().fill_null(d))
        bad = np.flatnonzero(lengths != d)
        if bad.size:
            row = int(bad[0])
            raise ValueError(f"{shown} row {at + row + 1}: 'vector' has {lengths[row]} values, but row 1 has {d}")
        at += len(column)
    raise ValueError(f"{shown}: 'vector' lengths disagree with the file's metadata")


def _batch_rows(d: int) -> int:
    return max(16, (4 << 20) // (8 * max(1, d)))


def _read_vectors(parquet, shown: str, n: int, d: int) -> np.ndarray:
    """The (n, d) float32 matrix, read a batch of rows at a time; ValueError at a ragged, null, non-finite
    row, or when the rows disagree with the metadata."""
    import pyarrow as pa

    out = np.empty((n, d), dtype=np.float32)
    at = 0
    for batch in parquet.iter_batches(batch_size=_batch_rows(d), columns=["vector"]):
        column = batch.column(0)
        rows = len(column)
        if at + rows > n:
            raise ValueError(f"{shown}: more rows than its metadata declares ({n:,})")
        nulls = np.flatnonzero(np.asarray(column.is_null()))
        if nulls.size:
            raise ValueError(f"{shown} row {at + int(nulls[0]) + 1}: 'vector' is empty (null)")
        if not pa.types.is_fixed_size_list(column.type):
            lengths = np.asarray(column.value_lengths())
            bad = np.flatnonzero(lengths != d)
            if bad.size:
                row = int(bad[0])
                raise ValueError(f"{shown} row {at + row + 1}: 'vector' has {lengths[row]} values, but row 1 has {d}")
        flat = column.flatten()
        if flat.null_count:
            raise ValueError(f"{shown}: 'vector' holds null values")
        block = np.asarray(flat.to_numpy(zero_copy_only=False)).reshape(rows, d)
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            raise ValueError(f"{shown} row {at + int(np.flatnonzero(~finite)[0]) + 1}: 'vector' holds an infinite or NaN value")
        out[at:at + rows] = block
        at += rows
    if at != n:
        raise ValueError(f"{shown}: {at:,} rows, but its metadata declares {n:,}")
    return out


def _read_text_columns(parquet, shown: str, n: int, limits: VectorLimits) -> dict[str, list[str]]:
    """Every other column as text made inert (display_name), read a batch at a time."""
    names = [c for c in parquet.schema_arrow.names if c != "vector"]
    columns: dict[str, list[str]] = {display_name(c): [] for c in names}
    if len(columns) != len(names):
        raise ValueError(f"{shown}: column names repeat once made printable")
    if not names:
        return columns
    keys = list(columns)
    budget = limits.max_bytes // METADATA_BYTE_SHARE
    for batch in parquet.iter_batches(batch_size=8192, columns=names):
        for key, column in zip(keys, batch.columns):
            values = ["" if v is None else display_name(str(v), max_length=10_000) for v in column.to_pylist()]
            budget -= sum(len(v) for v in values)
            if budget < 0:
                raise ValueError(f"{shown}: more than {_size(limits.max_bytes // METADATA_BYTE_SHARE)} of text, "
                                 "over this server's limit")
            columns[key].extend(values)
    return columns


# ----------------------------------------------------------------------------------------- coordinates

def coordinate_columns(columns: dict[str, Sequence[str]]) -> list[str]:
    """``["x", "y"]`` or ``["x", "y", "z"]`` when the table carries them (names compared case-blind), else []."""
    lower = {k.strip().lower(): k for k in columns}
    if "x" not in lower or "y" not in lower:
        return []
    return [lower[c] for c in COORDINATE_COLUMNS if c in lower]


def has_given_coordinates(columns: dict[str, Sequence[str]], *, dims: int = 2) -> bool:
    """True when the table's x, y (, z) columns are all numbers (blank cells allowed) and some row has them."""
    try:
        return bool(np.isfinite(given_coordinates(columns, dims=dims)).all(axis=1).any())
    except ValueError:
        return False


def given_coordinates(columns: dict[str, Sequence[str]], *, dims: int = 2, name: str = "the table") -> np.ndarray:
    """(n, dims) float32 from the ``x``, ``y`` (, ``z``) columns; blank cells become NaN (left off the map).

    ValueError naming the column and row for a non-numeric value, or when the columns are missing.
    """
    found = coordinate_columns(columns)
    if not found:
        raise ValueError(f"{name}: no numeric x and y columns to draw as given (columns: {', '.join(columns)})")
    if dims == 3 and len(found) < 3:
        raise ValueError(f"{name}: a 3D map as given needs a z column besides x and y")
    out = []
    for column in found[:dims]:
        values = []
        for row, cell in enumerate(columns[column]):
            text = str(cell).strip()
            try:
                value = float(text) if text else math.nan
            except ValueError:
                raise ValueError(f"{name} row {row + 1}, column {column!r}: {_quote(text)} is not a number") from None
            values.append(value if math.isfinite(value) else math.nan)
        out.append(values)
    return np.asarray(out, dtype=np.float32).T.copy()


def given_projection(columns: dict[str, Sequence[str]], *, dims: int = 2, name: str = "the table"):
    """An ``explorer.projection.Projection`` (method ``"given"``) of the table's own coordinates."""
    coords = given_coordinates(columns, dims=dims, name=name)
    missing = np.flatnonzero(~np.isfinite(coords).all(axis=1))
    coords[missing] = np.nan  # a Projection's excluded rows are NaN in every coordinate
    excluded = {int(i): "no coordinates given" for i in missing}
    notes = [f"{plural(len(missing), 'row')} without coordinates, left off the map"] if len(missing) else []
    return Projection(coords=coords, method="given", params={"columns": coordinate_columns(columns)[:dims]},
                      explained_variance_ratio=None, notes=notes, excluded=excluded)


def read_points_table(path: str | os.PathLike) -> dict[str, list[str]]:
    """All columns of a CSV or Parquet table as text (for coordinates drawn as given without images)."""
    import pandas as pd

    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=None, engine="python")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except Exception as exc:  # pandas raises many kinds; the promise is one line naming the file
        raise ValueError(f"{path}: not a readable table ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    return {str(c): ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in frame[c].tolist()]
            for c in frame.columns}
