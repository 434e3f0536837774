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

from explorer.limits import VectorLimits
from explorer.io.store import EmbeddingFile, load_embeddings
from explorer.projection import Projection

TENSORS = "tensors.tsv"
METADATA = "metadata.tsv"
CONFIG = "projector_config.json"
KNOWN_COLUMNS = ("id", "source", "tag")
COORDINATE_COLUMNS = ("x", "y", "z")
# A bundle is text; refuse absurd files before reading them into memory (a 100k x 1280 float set is ~1.5 GB).
MAX_TEXT_BYTES = 4 << 30


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
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
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


def load_vectors(spec: str | os.PathLike, *, limits: VectorLimits | None = None) -> EmbeddingFile:
    """Load an ``.npz`` from ``embed``, a Parquet from ``export`` or a Projector bundle (folder, tsv, zip).

    ``limits`` (``explorer.limits.VectorLimits``) are checked from the ``.npz`` headers; Parquet and Projector
    text are checked by the caller after reading (``explorer.io.load``) until their readers check first.
    """
    text = str(spec)
    lower = text.lower()
    if lower.endswith(".parquet"):
        return load_parquet(text)
    tensors = projector_tensors(text)
    if tensors is not None:
        return load_projector(tensors)
    member = zipped_bundle_member(text)
    if member is not None:
        return load_projector_zip(text, member)
    return load_embeddings(text, limits=limits)


# ----------------------------------------------------------------------------------------- projector

def load_projector(tensors: str | os.PathLike, metadata: str | os.PathLike | None = None) -> EmbeddingFile:
    """Read ``tensors.tsv`` and, if present beside it (or given), ``metadata.tsv``."""
    tensors = Path(tensors)
    if tensors.name.lower() == CONFIG and metadata is None:
        tensors, metadata = _from_config(tensors)
        if metadata is None:  # the config names no metadata: do not pick up an unrelated metadata.tsv
            return parse_projector(_read_text(tensors), None, tensors_name=str(tensors))
    if not tensors.is_file():
        raise ValueError(f"{tensors}: no such file" if not tensors.exists() else f"{tensors}: not a file")
    meta_path = Path(metadata) if metadata is not None else tensors.parent / METADATA
    if metadata is not None and not meta_path.is_file():
        raise ValueError(f"{meta_path}: no such file")
    meta_text = _read_text(meta_path) if meta_path.is_file() else None
    return parse_projector(_read_text(tensors), meta_text, tensors_name=str(tensors), metadata_name=str(meta_path))


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


def load_projector_zip(path: str | os.PathLike, member: str) -> EmbeddingFile:
    """Read a bundle from inside a ``.zip`` (``member`` is its ``tensors.tsv``)."""
    meta_member = str(PurePosixPath(member).with_name(METADATA))
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {i.filename: i for i in archive.infolist()}
            for name in (member, meta_member):
                if name in infos and infos[name].file_size > MAX_TEXT_BYTES:
                    raise ValueError(f"{path}!{name}: larger than {MAX_TEXT_BYTES >> 30} GiB")
            tensors = _decode(archive.read(member), f"{path}!{member}")
            meta = _decode(archive.read(meta_member), f"{path}!{meta_member}") if meta_member in infos else None
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"{path}: not a readable bundle archive ({exc})") from None
    return parse_projector(tensors, meta, tensors_name=f"{path}!{member}", metadata_name=f"{path}!{meta_member}")


def parse_projector(tensors_text: str, metadata_text: str | None, *, tensors_name: str = TENSORS,
                    metadata_name: str = METADATA) -> EmbeddingFile:
    """Parse the Projector's two TSV texts; ValueError "FILE line N: reason" on the first bad line."""
    vectors = _parse_tensors(tensors_text, tensors_name)
    n = vectors.shape[0]
    if metadata_text is None:
        ids = [str(i) for i in range(n)]
        return EmbeddingFile(ids=ids, sources=list(ids), tags=["untagged"] * n, vectors=vectors)
    header, rows = _parse_metadata(metadata_text, metadata_name, n)
    return _from_columns(header, rows, vectors, metadata_name)


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise ValueError(f"{path}: larger than {MAX_TEXT_BYTES >> 30} GiB")
        return _decode(path.read_bytes(), str(path))
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValueError(f"{name} line {line}: not UTF-8 text") from None


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last row; it does not start an empty one
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _parse_tensors(text: str, name: str) -> np.ndarray:
    lines = _lines(text)
    if not lines:
        raise ValueError(f"{name}: empty file (expected one tab-separated row of numbers per point)")
    width = None
    out: np.ndarray | None = None
    for number, line in enumerate(lines, start=1):
        cells = line.split("\t")
        if width is None:
            width = len(cells)
            # Every value takes at least two characters (a digit and a separator), so a file of well-formed
            # rows holds at most len(text) / 2 values: a matrix larger than that cannot be right, and
            # allocating it first would let a 10 MB file ask for tens of GB. Find the ragged row instead.
            if len(lines) * width > len(text) // 2 + width:
                for at, other in enumerate(lines, start=1):
                    found = other.split("\t")
                    if len(found) != width:
                        raise ValueError(f"{name} line {at}: {len(found)} values, but line 1 has {width} (ragged rows)")
                    if "" in found:
                        raise ValueError(f"{name} line {at}, column {found.index('') + 1}: an empty value is not a number")
            out = np.empty((len(lines), width), dtype=np.float32)
        elif len(cells) != width:
            raise ValueError(f"{name} line {number}: {len(cells)} values, but line 1 has {width} (ragged rows)")
        try:
            out[number - 1] = [float(c) for c in cells]
        except ValueError:
            bad = next((i, c) for i, c in enumerate(cells) if not _is_float(c))
            raise ValueError(f"{name} line {number}, column {bad[0] + 1}: {_quote(bad[1])} is not a number") from None
    if not np.isfinite(out).all():
        row = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
        raise ValueError(f"{name} line {row + 1}: holds an infinite or NaN value")
    return out


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _quote(text: str, limit: int = 40) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(text)


def _parse_metadata(text: str, name: str, n: int) -> tuple[list[str], list[list[str]]]:
    """(header, rows) — a one-column file has no header (the Projector's rule): its values are the tags."""
    lines = _lines(text)
    if not lines:
        raise ValueError(f"{name}: empty file but {TENSORS} has {n} rows")
    width = len(lines[0].split("\t"))
    if width == 1:
        header, body, first = ["tag"], lines, 1
    else:
        header, body, first = [h.strip() for h in lines[0].split("\t")], lines[1:], 2
        if len(set(header)) != len(header) or "" in header:
            raise ValueError(f"{name} line 1: the header has empty or repeated column names")
    rows = []
    for offset, line in enumerate(body):
        cells = line.split("\t")
        if len(cells) != width:
            raise ValueError(f"{name} line {first + offset}: {len(cells)} columns, but the header has {width}")
        rows.append(cells)
    if len(rows) != n:
        where = first + min(len(rows), n)
        raise ValueError(f"{name} line {where}: {len(rows)} rows of metadata but {TENSORS} has {n} rows")
    return header, rows


def _from_columns(header: Sequence[str], rows: Sequence[Sequence[str]], vectors: np.ndarray, name: str) -> EmbeddingFile:
    columns = {h: [r[i] for r in rows] for i, h in enumerate(header)}
    return _file_from_columns(columns, vectors, name)


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

def load_parquet(path: str | os.PathLike) -> EmbeddingFile:
    """Read a Parquet from ``export --format parquet``: ``vector`` (list of floats) + id/source/tag columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ValueError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    if "vector" not in table.column_names:
        raise ValueError(f"{path}: no 'vector' column (columns: {', '.join(table.column_names)}); "
                         "write one with: python -m explorer export SOURCE --format parquet")
    vectors = _vector_column(table.column("vector"), path)
    columns = {}
    for name in table.column_names:
        if name == "vector":
            continue
        values = table.column(name).to_pylist()
        columns[name] = ["" if v is None else str(v) for v in values]
    meta = table.schema.metadata or {}
    embedder = meta.get(b"embedder", b"").decode("utf-8", "replace") or None
    return _file_from_columns(columns, vectors, str(path), embedder=embedder)


def _vector_column(column, path: Path) -> np.ndarray:
    import pyarrow as pa

    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)):
        raise ValueError(f"{path}: 'vector' must be a list of numbers, got {kind}")
    if not (pa.types.is_floating(kind.value_type) or pa.types.is_integer(kind.value_type)):
        raise ValueError(f"{path}: 'vector' must hold numbers, got lists of {kind.value_type}")
    chunks = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    nulls = np.flatnonzero(np.asarray(chunks.is_null()))
    if nulls.size:
        raise ValueError(f"{path} row {int(nulls[0]) + 1}: 'vector' is empty (null)")
    lengths = np.asarray(chunks.value_lengths()) if not pa.types.is_fixed_size_list(kind) else None
    n = len(chunks)
    if n == 0:
        raise ValueError(f"{path}: the file holds no vectors")
    if lengths is not None:
        bad = np.flatnonzero(lengths != lengths[0])
        if bad.size:
            row = int(bad[0])
            raise ValueError(f"{path} row {row + 1}: 'vector' has {lengths[row]} values, but row 1 has {lengths[0]}")
        d = int(lengths[0])
    else:
        d = kind.list_size
    flat = np.asarray(chunks.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
    if flat.size != n * d:
        raise ValueError(f"{path}: 'vector' holds null values")
    vectors = flat.reshape(n, d).astype(np.float32)
    if not np.isfinite(vectors).all():
        row = int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])
        raise ValueError(f"{path} row {row + 1}: 'vector' holds an infinite or NaN value")
    return vectors


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
    notes = [f"{len(missing):,} row(s) have no coordinates and are left off the map"] if len(missing) else []
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
