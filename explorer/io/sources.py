"""Load a tagged image set from a folder, manifest, ZIP, uploads or a demo, reporting every skipped file.

File names are data, not paths: a loader only opens the entries it walked itself (or, for a manifest,
paths it resolved and confirmed inside the manifest's folder); names shown to users are sanitised.
Bad files are skipped and reported with a reason; a load fails (LoadError) only when nothing loaded
or the arguments are wrong.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import threading
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Sequence

import numpy as np

from explorer import limits as L
from explorer.io.bounded import CHUNK, MemberRefused, open_member
from explorer.io.decoded import DecodedCache, file_identity
from explorer.io.demos import load_demo
from explorer.io.interop import read_points_table
from explorer.io.names import FORMULA_PREFIXES, csv_cell, display_name  # noqa: F401 (long-standing names here)
from explorer.images import (DEFAULT_IMAGE_SIZE, DEFAULT_LIMITS, THUMBNAIL_SIZE, DecodedImage, ImageRejected,
                             Limits, decode_many, human_bytes)
from explorer.imageset import UNTAGGED, ImageSet, SkippedFile, unique_ids
from explorer.progress import ProgressCallback, report

# Files operating systems and tools leave behind; they are not the user's images, so they are
# ignored without being reported.
JUNK_FILES = {".ds_store", "thumbs.db", "desktop.ini", ".localized", "icon\r", ".gitkeep", ".gitignore"}
JUNK_DIRS = {"__macosx", ".git", ".ipynb_checkpoints", "@eadir", ".spotlight-v100", ".trashes", ".fseventsd"}
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".jar")
MAX_DEPTH = 32  # folder levels walked; deeper is almost surely a loop or an attack
MANIFEST_PATH_COLUMNS = ("file", "path", "filename", "file_name", "filepath", "image", "image_path")


class LoadError(Exception):
    """Nothing could be loaded, or the arguments were wrong. ``skipped`` lists every file that was refused."""

    def __init__(self, message: str, skipped: Sequence[SkippedFile] = ()):
        super().__init__(message)
        self.skipped = list(skipped)


class AllowanceExceeded(LoadError):
    """Uploads holding more images (or decoded bytes) than the caller allows; raised before decoding."""


@dataclass(frozen=True)
class ZipLimits:
    """Bounds on an archive, checked from its central directory and enforced again while reading.

    max_entries / max_total_bytes refuse the whole archive; max_member_bytes / max_ratio skip one member.
    The ratio bound applies only to members above ``ratio_min_bytes`` (tiny files compress wildly).
    """

    max_entries: int = L.ZIP_MAX_ENTRIES
    max_total_bytes: int = L.ZIP_MAX_TOTAL_BYTES
    max_member_bytes: int = L.ZIP_MAX_MEMBER_BYTES
    max_ratio: float = L.ZIP_MAX_RATIO
    ratio_min_bytes: int = L.ZIP_RATIO_MIN_BYTES


DEFAULT_ZIP_LIMITS = ZipLimits()


@dataclass(frozen=True)
class Upload:
    """One uploaded file as a browser hands it over: its name, its bytes and the tag the user gave."""

    name: str
    data: bytes
    tag: str = ""


@dataclass
class _Entry:
    """A file about to be decoded: its display name, tags and how to get its bytes."""

    source: str
    tag: str
    read: Callable[[], bytes] | bytes
    extra: dict[str, str] = field(default_factory=dict)
    path: str | None = None  # a file on disk: its identity lets the decoded cache skip reading it


# --- names ---------------------------------------------------------------------------------------



def is_junk(part: str) -> bool:
    """A name that is operating-system clutter (.DS_Store, __MACOSX, ._x), never an image: left out silently."""
    low = part.lower()
    return low in JUNK_FILES or low in JUNK_DIRS or part.startswith("._")


# --- shared pipeline -----------------------------------------------------------------------------

def _check_size(image_size: object) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    return int(image_size)


def skip_summary(skipped: Sequence[SkippedFile]) -> str:
    if not skipped:
        return "no image files found"
    counts = Counter(s.reason.split(" (")[0].split(":")[0] for s in skipped)
    parts = [f"{n} {reason}" for reason, n in counts.most_common(3)]
    if len(counts) > 3:
        parts.append(f"{sum(counts.values()) - sum(n for _, n in counts.most_common(3))} other")
    return f"no images could be loaded; {len(skipped)} skipped: " + ", ".join(parts)


def build_image_set(name: str, entries: list[_Entry], skipped: list[SkippedFile], *, image_size: int,
           progress: ProgressCallback | None, limits: Limits = DEFAULT_LIMITS,
           decoded: DecodedCache | None = None) -> ImageSet:
    """Decode ``entries`` in parallel and assemble the ImageSet; LoadError when none loads.

    With a ``decoded`` cache, images seen before are taken from it instead of decoded: an unchanged
    file on disk by its path, size and mtime (not even read), anything else by the SHA-256 of its bytes.
    """
    results = _decode_entries(entries, image_size=image_size, limits=limits, progress=progress, decoded=decoded)
    kept: list[tuple[_Entry, DecodedImage]] = []
    for entry, result in zip(entries, results):
        if isinstance(result, DecodedImage):
            kept.append((entry, result))
        else:
            skipped.append(SkippedFile(entry.source, result.reason))
    skipped.sort(key=lambda s: s.file)  # walk-time and decode-time refusals, read together
    if not kept:
        raise LoadError(f"{name}: {skip_summary(skipped)}", skipped)
    hashes = [d.sha256 for _, d in kept]
    columns = list(dict.fromkeys(c for e, _ in kept for c in e.extra))
    return ImageSet(ids=unique_ids(hashes), hashes=hashes, sources=[e.source for e, _ in kept],
                    tags=[e.tag for e, _ in kept], pixels=np.stack([d.pixels for _, d in kept]),
                    thumbnails=[d.thumbnail for _, d in kept], notes=[d.note for _, d in kept],
                    extra_tags={c: [e.extra.get(c, "") for e, _ in kept] for c in columns},
                    skipped=skipped, name=name)


def _decode_entries(entries: list[_Entry], *, image_size: int, limits: Limits, progress: ProgressCallback | None,
                    decoded: DecodedCache | None) -> list[DecodedImage | ImageRejected]:
    if decoded is None:
        return decode_many([e.read for e in entries], image_size=image_size, thumb_size=THUMBNAIL_SIZE,
                           limits=limits, progress=progress)
    lookup = decoded.lookup(image_size, THUMBNAIL_SIZE)
    try:
        identities = [file_identity(e.path) if e.path else None for e in entries]
        results: list[DecodedImage | ImageRejected | None] = [lookup.by_file(i) for i in identities]
        todo = [i for i, r in enumerate(results) if r is None]
        if len(todo) < len(entries):
            report(progress, len(entries) - len(todo), len(entries), "decoded images from the cache")
        by_hash = lookup.by_hash if len(lookup.images) else None  # an empty cache: no hashing up front
        fresh = decode_many([entries[i].read for i in todo], image_size=image_size, thumb_size=THUMBNAIL_SIZE,
                            limits=limits, progress=progress, lookup=by_hash)
    finally:
        lookup.close()
    for i, result in zip(todo, fresh):
        results[i] = result
    new = {r.sha256: r for r in fresh if isinstance(r, DecodedImage) and r.sha256 not in lookup.served}
    decoded.put_many(list(new.values()), image_size, THUMBNAIL_SIZE)
    seen = [(identities[i], r.sha256) for i, r in zip(todo, fresh) if isinstance(r, DecodedImage) and identities[i]]
    if seen:
        decoded.remember_files([i for i, _ in seen], [h for _, h in seen])
    return results  # type: ignore[return-value]


def _file_reader(path: str, limits: Limits) -> Callable[[], bytes]:
    """Read a walked regular file without following a symlink swapped in since the walk."""
    def read() -> bytes:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            raise ImageRejected(f"could not be read ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ImageRejected("not a regular file")
            if info.st_size > limits.max_file_bytes:
                raise ImageRejected(f"file too big: {human_bytes(info.st_size)} > limit "
                                    f"{human_bytes(limits.max_file_bytes)}")
            return fh.read(limits.max_file_bytes + 1)
    return read


# --- folder --------------------------------------------------------------------------------------

def load_folder(root: str | Path, *, image_size: int = DEFAULT_IMAGE_SIZE,
                progress: ProgressCallback | None = None, limits: Limits = DEFAULT_LIMITS,
                decoded: DecodedCache | None = None) -> ImageSet:
    """Load a folder with one sub-folder per tag (tag = first folder level; files at the root are untagged).

    Symbolic links are never followed out of the folder: links to folders and links leaving the root are
    reported, links to files inside the root load like the file. OS junk is ignored without a report.
    """
    image_size = _check_size(image_size)
    name, entries, skipped = folder_entries(root, limits=limits)
    return build_image_set(name, entries, skipped, image_size=image_size, progress=progress, limits=limits, decoded=decoded)


def folder_entries(root: str | Path, *, limits: Limits = DEFAULT_LIMITS) -> tuple[str, list[_Entry], list[SkippedFile]]:
    """The walk of :func:`load_folder` without decoding: (set name, entries to decode, walk-time skips).

    Entries keep walk order; explorer.cluster splits them into partitions decoded by ``build_partition``.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise LoadError(f"{display_name(str(root))}: folder not found" if not root_path.exists()
                        else f"{display_name(str(root))}: not a folder")
    real_root = os.path.realpath(root_path)
    entries: list[_Entry] = []
    skipped: list[SkippedFile] = []
    _walk(real_root, real_root, (), entries, skipped, limits)
    return display_name(root_path.resolve().name or str(root)), entries, skipped


def _walk(real_root: str, folder: str, rel: tuple[str, ...], entries: list[_Entry],
          skipped: list[SkippedFile], limits: Limits) -> None:
    if len(rel) > MAX_DEPTH:
        skipped.append(SkippedFile(display_name("/".join(rel)),
                                   f"folder nested deeper than {MAX_DEPTH} levels, not opened"))
        return
    try:
        with os.scandir(folder) as it:
            children = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        skipped.append(SkippedFile(display_name("/".join(rel) or "."),
                                   f"folder could not be read ({exc.strerror})"))
        return
    for child in children:
        if is_junk(child.name):
            continue
        parts = rel + (child.name,)
        shown = display_name("/".join(parts))
        if child.is_symlink():
            _symlink(real_root, child, parts, shown, entries, skipped, limits)
        elif child.is_dir(follow_symlinks=False):
            _walk(real_root, child.path, parts, entries, skipped, limits)
        elif child.is_file(follow_symlinks=False):
            entries.append(_Entry(shown, _tag_of(parts), _file_reader(child.path, limits), path=child.path))
        else:
            skipped.append(SkippedFile(shown, "not a regular file"))


def _symlink(real_root: str, child: os.DirEntry, parts: tuple[str, ...], shown: str, entries: list[_Entry],
             skipped: list[SkippedFile], limits: Limits) -> None:
    target = os.path.realpath(child.path)
    if not os.path.exists(target):
        skipped.append(SkippedFile(shown, "broken symbolic link"))
    elif os.path.commonpath([real_root, target]) != real_root:
        skipped.append(SkippedFile(shown, "symbolic link leaving the folder, not followed"))
    elif os.path.isdir(target):
        skipped.append(SkippedFile(shown, "symbolic link to a folder, not followed"))
    elif os.path.isfile(target):
        entries.append(_Entry(shown, _tag_of(parts), _file_reader(target, limits), path=target))
    else:
        skipped.append(SkippedFile(shown, "not a regular file"))


def _tag_of(parts: Sequence[str]) -> str:
    return display_name(parts[0]) if len(parts) > 1 else UNTAGGED


# --- manifest ------------------------------------------------------------------------------------

def load_manifest(csv_path: str | Path, *, tag_column: str | None = None, path_column: str | None = None,
                  image_size: int = DEFAULT_IMAGE_SIZE, progress: ProgressCallback | None = None,
                  limits: Limits = DEFAULT_LIMITS, decoded: DecodedCache | None = None) -> ImageSet:
    """Load the images a CSV lists, paths relative to the CSV's folder.

    ``path_column`` defaults to the first of file/path/filename/image... present, else the first column;
    ``tag_column`` defaults to the first other column. Every other column becomes an ``extra_tags`` column.
    Rows whose file is missing, or whose path leaves the manifest's folder, are reported.
    """
    image_size = _check_size(image_size)
    name, entries, skipped = manifest_entries(csv_path, tag_column=tag_column, path_column=path_column,
                                              limits=limits)
    return build_image_set(name, entries, skipped, image_size=image_size, progress=progress, limits=limits, decoded=decoded)


def manifest_entries(csv_path: str | Path, *, tag_column: str | None = None, path_column: str | None = None,
                     limits: Limits = DEFAULT_LIMITS) -> tuple[str, list[_Entry], list[SkippedFile]]:
    """The rows of :func:`load_manifest` without decoding: (set name, entries, row-time skips)."""
    manifest = Path(csv_path)
    shown = display_name(str(csv_path))
    if not manifest.is_file():
        raise LoadError(f"{shown}: manifest not found")
    header, rows = _read_csv(manifest, shown)
    guess = next((c for c in header if c.strip().lower() in MANIFEST_PATH_COLUMNS), header[0])
    path_column = _choose_column(path_column, header, "path_column", shown, guess)
    others = [c for c in header if c != path_column]
    if not others and tag_column is None:
        raise LoadError(f"{shown}: the manifest has no tag column besides {path_column!r}")
    tag_column = _choose_column(tag_column, others, "tag_column", shown, others[0] if others else "")
    folder = manifest.resolve().parent
    entries, skipped = [], []
    seen: dict[str, int] = {}
    for line, row in rows:
        _manifest_row(folder, row, line, path_column, tag_column, others, entries, skipped, seen, limits)
    return display_name(f"{folder.name}/{manifest.name}"), entries, skipped


def _read_csv(manifest: Path, shown: str) -> tuple[list[str], list[tuple[int, dict]]]:
    if manifest.suffix.lower() == ".parquet":  # a manifest table as Parquet (issue 10); "lines" count the header
        try:
            columns = read_points_table(manifest)
        except ValueError as exc:
            raise LoadError(f"{shown}: {str(exc).split(': ', 1)[-1]}") from None
        header = list(columns)
        n = len(columns[header[0]]) if header else 0
        return header, [(i + 2, {h: columns[h][i] for h in header}) for i in range(n)]
    try:
        text = manifest.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LoadError(f"{shown}: the manifest is not UTF-8 text") from None
    except OSError as exc:
        raise LoadError(f"{shown}: manifest could not be read ({exc.strerror})") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    try:
        header = [h for h in (reader.fieldnames or []) if h is not None]
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise LoadError(f"{shown}: malformed CSV ({exc})") from None
    if not header:
        raise LoadError(f"{shown}: the manifest is empty")
    if len(set(header)) != len(header):
        raise LoadError(f"{shown}: duplicate column names in the header {header}")
    return header, rows


def _choose_column(wanted: str | None, available: list[str], parameter: str, shown: str, default: str) -> str:
    if wanted is None:
        return default
    if wanted not in available:
        raise LoadError(f"{shown}: unknown {parameter} {wanted!r}; available columns: {', '.join(available)}")
    return wanted


def _manifest_row(folder: Path, row: dict, line: int, path_column: str, tag_column: str, others: list[str],
                  entries: list[_Entry], skipped: list[SkippedFile], seen: dict[str, int],
                  limits: Limits) -> None:
    raw = (row.get(path_column) or "").strip()
    if not raw:
        skipped.append(SkippedFile(f"(line {line})", "no file name in this row"))
        return
    shown = display_name(raw)
    target = _inside(folder, raw)
    if target is None:
        skipped.append(SkippedFile(shown, "path leaves the manifest's folder, refused"))
    elif target in seen:
        skipped.append(SkippedFile(shown, f"listed again (line {line}; first on line {seen[target]})"))
    elif not os.path.isfile(target):
        skipped.append(SkippedFile(shown, "file not found" if not os.path.exists(target) else "not a file"))
    else:
        seen[target] = line
        tag = (row.get(tag_column) or "").strip() or UNTAGGED
        extra = {c: display_name((row.get(c) or "").strip()) for c in others if c != tag_column}
        entries.append(_Entry(shown, display_name(tag), _file_reader(target, limits), extra, path=target))


def _inside(folder: Path, raw: str) -> str | None:
    """The real path ``raw`` names inside ``folder``, or None if it is absolute or escapes it."""
    text = raw.replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text) or "\x00" in text:
        return None
    real = os.path.realpath(folder / text)
    base = str(folder)
    return real if os.path.commonpath([base, real]) == base and real != base else None


# --- zip -----------------------------------------------------------------------------------------

def load_zip(source: str | Path | bytes, *, name: str | None = None, image_size: int = DEFAULT_IMAGE_SIZE,
             progress: ProgressCallback | None = None, limits: Limits = DEFAULT_LIMITS,
             zip_limits: ZipLimits = DEFAULT_ZIP_LIMITS, decoded: DecodedCache | None = None) -> ImageSet:
    """Load a ZIP laid out like a tagged folder, in memory, without extracting anything to disk.

    A single folder wrapping everything (``myset/cats/a.jpg``) is not taken as the tag.
    """
    image_size = _check_size(image_size)
    shown = display_name(name or (Path(source).name if isinstance(source, (str, Path)) else "archive.zip"))
    archive = _open_zip(source, shown)
    with archive:
        entries, skipped = _zip_entries(archive, shown, zip_limits, default_tag=UNTAGGED, prefix="")
        return build_image_set(shown, entries, skipped, image_size=image_size, progress=progress, limits=limits,
                      decoded=decoded)


def _open_zip(source: str | Path | bytes, shown: str) -> zipfile.ZipFile:
    if isinstance(source, (bytes, bytearray, memoryview)):
        handle: object = io.BytesIO(bytes(source))
    elif isinstance(source, (str, Path)):
        if not Path(source).is_file():
            raise LoadError(f"{shown}: archive not found")
        handle = source
    else:
        raise ValueError(f"source must be a path or bytes, got {type(source).__name__}")
    try:
        return zipfile.ZipFile(handle)  # type: ignore[arg-type]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise LoadError(f"{shown}: not a readable ZIP archive ({exc})") from None


def _unsafe(name: str) -> bool:
    text = name.replace("\\", "/")
    parts = text.split("/")
    return (text.startswith("/") or bool(re.match(r"^[A-Za-z]:", text)) or ".." in parts
            or "\x00" in text)


def _zip_entries(archive: zipfile.ZipFile, shown: str, zl: ZipLimits, *, default_tag: str,
                 prefix: str) -> tuple[list[_Entry], list[SkippedFile]]:
    infos = archive.infolist()
    if len(infos) > zl.max_entries:
        raise LoadError(f"{shown}: archive has {len(infos)} entries > limit {zl.max_entries}")
    declared = sum(i.file_size for i in infos)
    if declared > zl.max_total_bytes:
        raise LoadError(f"{shown}: archive would expand to {human_bytes(declared)} > limit "
                        f"{human_bytes(zl.max_total_bytes)}")
    budget = _Budget(zl.max_total_bytes)
    candidates, skipped = [], []
    for info in infos:
        parts = [p for p in info.filename.replace("\\", "/").split("/") if p not in ("", ".")]
        label = display_name(prefix + info.filename)
        if info.is_dir() or not parts or any(is_junk(p) for p in parts):
            continue
        reason = _member_problem(info, parts, zl)
        if reason:
            skipped.append(SkippedFile(label, reason))
        else:
            candidates.append((info, parts, label))
    strip = wrapper_depth([parts for _, parts, _ in candidates])
    entries = [_Entry(label, display_name(parts[strip]) if len(parts) - strip > 1 else default_tag,
                      _member_reader(archive, info, zl, budget))
               for info, parts, label in candidates]
    return entries, skipped


def _member_problem(info: zipfile.ZipInfo, parts: list[str], zl: ZipLimits) -> str:
    """Why a member is refused from its central-directory record alone, or ""."""
    if _unsafe(info.filename):
        return "unsafe path in archive"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link in archive, not followed"
    if parts[-1].lower().endswith(ARCHIVE_SUFFIXES):
        return "nested archive, not opened"
    if info.flag_bits & 0x1:
        return "encrypted, not opened"
    if info.file_size > zl.max_member_bytes:
        return f"too big in archive: {human_bytes(info.file_size)} > limit {human_bytes(zl.max_member_bytes)}"
    if info.file_size > zl.ratio_min_bytes and info.file_size > zl.max_ratio * max(1, info.compress_size):
        return f"suspicious compression ratio {info.file_size / max(1, info.compress_size):.0f}:1 (zip bomb?)"
    return ""


def wrapper_depth(paths: list[list[str]]) -> int:
    """1 when every member sits under one common top folder that itself holds tag folders, else 0."""
    tops = {p[0] for p in paths if len(p) > 1}
    if len(tops) == 1 and all(len(p) > 1 for p in paths) and any(len(p) > 2 for p in paths):
        return 1
    return 0


class _Budget:
    """Bytes still allowed to come out of an archive, shared by the reader threads."""

    def __init__(self, total: int):
        self.left = total
        self.lock = threading.Lock()

    def take(self, n: int) -> None:
        with self.lock:
            self.left -= n
            if self.left < 0:
                raise ImageRejected("archive expands beyond its total size limit")


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo, zl: ZipLimits,
                   budget: _Budget) -> Callable[[], bytes]:
    """Read one member through the bounded reader (headers can lie), within the archive's total budget."""
    def read() -> bytes:
        chunks = []
        try:
            with open_member(archive, info, zl.max_member_bytes) as fh:
                while True:
                    chunk = fh.read(CHUNK)
                    if not chunk:
                        break
                    budget.take(len(chunk))
                    chunks.append(chunk)
        except MemberRefused as exc:
            raise ImageRejected(str(exc)) from None
        return b"".join(chunks)
    return read


# --- uploads -------------------------------------------------------------------------------------

def load_uploads(uploads: Iterable[Upload], *, image_size: int = DEFAULT_IMAGE_SIZE,
                 progress: ProgressCallback | None = None, limits: Limits = DEFAULT_LIMITS,
                 zip_limits: ZipLimits = DEFAULT_ZIP_LIMITS, decoded: DecodedCache | None = None,
                 max_images: int | None = None, max_decoded_bytes: int | None = None) -> ImageSet:
    """Load in-memory uploads; a ``.zip`` upload is expanded as a tagged-folder archive.

    An upload's tag applies to a plain image, and to the members at the root of an uploaded archive.
    ``max_images`` / ``max_decoded_bytes`` (a session's remaining allowance) count every archive member,
    from the central directory, before anything is decoded: over either, LoadError naming the largest
    upload and the limit, and nothing is decoded.
    """
    image_size = _check_size(image_size)
    uploads = list(uploads)
    for i, upload in enumerate(uploads):
        if not isinstance(upload, Upload):
            raise ValueError(f"uploads[{i}] must be an Upload, got {type(upload).__name__}")
        if not isinstance(upload.name, str) or not isinstance(upload.data, (bytes, bytearray, memoryview)):
            raise ValueError(f"uploads[{i}] needs a str name and bytes data")
    entries: list[_Entry] = []
    skipped: list[SkippedFile] = []
    archives: list[zipfile.ZipFile] = []
    try:
        counts = []
        for upload in uploads:
            before = len(entries)
            _upload_entries(upload, entries, skipped, archives, zip_limits)
            counts.append((len(entries) - before, display_name(PurePosixPath(upload.name.replace("\\", "/")).name)))
        _check_allowance(counts, image_size, max_images, max_decoded_bytes)
        name = "uploads" if len(uploads) != 1 else display_name(uploads[0].name)
        return build_image_set(name, entries, skipped, image_size=image_size, progress=progress, limits=limits,
                      decoded=decoded)
    finally:
        for archive in archives:
            archive.close()


def _check_allowance(counts: list[tuple[int, str]], image_size: int, max_images: int | None,
                     max_decoded_bytes: int | None) -> None:
    """LoadError before decoding when the uploads would exceed the images or decoded bytes allowed."""
    total = sum(n for n, _ in counts)
    largest, name = max(counts, default=(0, "uploads"))
    what = f"{name} holds {largest:,} images" if largest == total else \
        f"these uploads hold {total:,} images ({name}: {largest:,})"
    if max_images is not None and total > max_images:
        raise AllowanceExceeded(f"{what}, more than the {max(0, max_images):,} images still allowed")
    decoded = total * image_size * image_size * 3
    if max_decoded_bytes is not None and decoded > max_decoded_bytes:
        raise AllowanceExceeded(f"{what}, {human_bytes(decoded)} once decoded, more than the "
                        f"{human_bytes(max(0, max_decoded_bytes))} still allowed")


def _upload_entries(upload: Upload, entries: list[_Entry], skipped: list[SkippedFile],
                    archives: list[zipfile.ZipFile], zl: ZipLimits) -> None:
    base = PurePosixPath(upload.name.replace("\\", "/")).name or upload.name
    shown = display_name(base)
    if is_junk(base):
        return
    tag = display_name(upload.tag.strip()) if upload.tag and upload.tag.strip() else UNTAGGED
    if not base.lower().endswith(".zip"):
        entries.append(_Entry(shown, tag, bytes(upload.data)))
        return
    try:
        archive = _open_zip(upload.data, shown)
        archives.append(archive)
        more, refused = _zip_entries(archive, shown, zl, default_tag=tag, prefix=f"{base}/")
    except LoadError as exc:
        skipped.append(SkippedFile(shown, str(exc).split(": ", 1)[-1]))
        return
    entries.extend(more)
    skipped.extend(refused)


# --- dispatch ------------------------------------------------------------------------------------

def load_source(spec: str | Path, *, tag_column: str | None = None, image_size: int = DEFAULT_IMAGE_SIZE,
                progress: ProgressCallback | None = None, decoded: DecodedCache | None = None) -> ImageSet:
    """Load ``demo:NAME``, a ``.zip``, a manifest ``.csv`` (with ``tag_column``) or a folder.

    ``decoded``: a ``explorer.decoded.DecodedCache`` reused for files seen before (demos are drawn, not decoded).
    """
    image_size = _check_size(image_size)
    text = str(spec)
    if text.startswith("demo:"):
        return _load_demo(text, tag_column, image_size)
    path = Path(text)
    suffix = path.suffix.lower()
    if tag_column is not None and suffix not in (".csv", ".tsv", ".parquet"):
        raise LoadError(f"{display_name(text)}: tag_column applies only to a manifest .csv")
    if path.is_dir():
        return load_folder(path, image_size=image_size, progress=progress, decoded=decoded)
    if not path.exists():
        raise LoadError(f"{display_name(text)}: not found (expected a folder, a .zip, a .csv or demo:NAME)")
    if suffix == ".zip":
        return load_zip(path, image_size=image_size, progress=progress, decoded=decoded)
    if suffix in (".csv", ".tsv", ".parquet"):
        return load_manifest(path, tag_column=tag_column, image_size=image_size, progress=progress, decoded=decoded)
    raise LoadError(f"{display_name(text)}: unsupported source "
                    "(expected a folder, a .zip, a .csv or demo:NAME)")


def _load_demo(spec: str, tag_column: str | None, image_size: int) -> ImageSet:
    name = spec[len("demo:"):]
    if tag_column is not None:
        raise LoadError(f"{spec}: tag_column applies only to a manifest .csv")
    try:
        return load_demo(name, seed=0, image_size=image_size)
    except (KeyError, ValueError) as exc:
        raise LoadError(f"{spec}: {exc.args[0] if exc.args else exc}") from None
