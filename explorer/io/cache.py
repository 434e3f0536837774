"""A disk cache of embedding vectors keyed by (image content hash, embedder cache key, image size).

Layout: ``root/v1/<embedder>-<digest of cache key and image size>/`` holds immutable *pack* files, each
with many vectors. A pack is written to a temporary file in the same folder, fsynced and renamed into
place, so readers only ever see whole packs, and each writer creates its own uniquely named packs, so
concurrent processes never overwrite each other. Every row carries a CRC-32 of its key and vector: a
damaged row (or a truncated pack) is reported as a miss, recomputed by the caller, and the pack is
rewritten without it. Many small packs are merged now and then so lookups stay a handful of reads.

Pack file format (little endian)::

    8 bytes   magic  b"FSXCACH1"
    4 bytes   uint32 header length H
    H bytes   JSON {"rows": m, "dim": d}
    padding   to a multiple of 64 bytes
    m * 32    row keys (SHA-256 of the image content hash string)
    m * 4     uint32 CRC-32 of (row key + vector bytes)
    m * d * 4 float32 vectors, row-major

The same machinery (``PackStore``: atomic packs, per-row CRC, healing, merging) also keeps rows of
variable-length bytes for other caches (``BlobCache``, e.g. decoded images in ``explorer.io.decoded``).
A blob pack starts with ``b"FSXBLOB1"`` and its header says ``{"rows": m, "bytes": b}``; after the keys
and CRCs (of key + row bytes) come ``m + 1`` uint64 offsets and then the ``b`` bytes of all rows.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import re
import struct
import threading
import time
import uuid
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Sequence

import numpy as np

MAGIC = b"FSXCACH1"
BLOB_MAGIC = b"FSXBLOB1"
BLOB_DIM = 0  # the "dim" of a pack of byte rows
FORMAT_DIR = "v1"
PACK_SUFFIX = ".pack"
KEY_BYTES = 32
ALIGN = 64
# Merge packs once a key folder holds this many; only packs below SMALL_PACK_BYTES are merged, at most
# MERGE_MAX of them at a time, so a merge never needs more than ~MERGE_MAX * SMALL_PACK_BYTES of memory.
MERGE_THRESHOLD = 16
SMALL_PACK_BYTES = 8 << 20
MERGE_MAX = 32


def default_cache_dir() -> Path:
    """``$EXPLORER_CACHE_DIR`` when set (and not empty), else ``~/.cache/feature-space-explorer``."""
    env = os.environ.get("EXPLORER_CACHE_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "feature-space-explorer"


def row_key(content_hash: str) -> bytes:
    """The 32-byte key of one image: the SHA-256 hex digest itself, or the SHA-256 of any other string."""
    if len(content_hash) == 64:
        try:
            return bytes.fromhex(content_hash)
        except ValueError:
            pass
    return hashlib.sha256(content_hash.encode("utf-8", "surrogatepass")).digest()


@dataclass
class _Pack:
    """One opened, header-checked pack: its keys, CRCs and zero-copy views of its rows.

    A vector pack has ``vectors`` (m, d) float32; a blob pack (``dim == BLOB_DIM``) has ``data`` (uint8)
    and ``offsets`` (m + 1,): row i is ``data[offsets[i]:offsets[i + 1]]``.
    """

    path: Path
    keys: list[bytes]
    crcs: np.ndarray  # (m,) uint32
    vectors: np.ndarray | None  # (m, d) float32, backed by an mmap
    dim: int
    data: np.ndarray | None = None
    offsets: np.ndarray | None = None

    def row(self, row: int) -> np.ndarray:
        if self.vectors is not None:
            return self.vectors[row]
        return self.data[int(self.offsets[row]):int(self.offsets[row + 1])]

    def row_ok(self, row: int) -> bool:
        return _crc(self.keys[row], self.row(row)) == int(self.crcs[row])


class PackStore:
    """Rows keyed by 32-byte keys in immutable pack files, one folder per kind of row.

    Holds what every cache on disk shares: lookups that survive concurrent merges, CRC-checked rows
    (a damaged row is a miss and its pack is rewritten without it), merging of small packs, and an
    unwritable folder degrading to one warning and no caching. Counters ``hits``, ``misses`` and
    ``corrupt`` accumulate over the object's life (for reporting and tests).
    """

    what = "cache"

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.writable = True
        self.hits = 0
        self.misses = 0
        self.corrupt = 0
        self._warned = False

    def _get_rows(self, folder: Path, keys: list[bytes], dim: int | None) -> list:
        wanted = {k: i for i, k in enumerate(keys)}
        found = self._lookup(folder, wanted, dim) if keys else {}
        # Repeated content (the same key twice) gets the same row at every position.
        out = [found.get(k) for k in keys]
        hits = sum(v is not None for v in out)
        self.hits += hits
        self.misses += len(out) - hits
        return out

    def _put_rows(self, folder: Path, keys: list[bytes], rows: Sequence, label: dict) -> int:
        """Write one pack of distinct ``keys``; ``rows`` an (n, d) float32 array or a list of bytes."""
        if not self.writable or not keys:
            return 0
        first: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            first.setdefault(k, i)
        picked = list(first.values())
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if isinstance(rows, np.ndarray):
                _write_pack(folder, list(first), rows[picked])
            else:
                _write_blob_pack(folder, list(first), [rows[i] for i in picked])
            label_path = folder / "key.json"  # human-readable, so people can tell the folders apart
            if not label_path.exists():
                atomic_write(label_path, json.dumps(label).encode())
        except OSError as exc:
            self._disable(exc)
            return 0
        self._maybe_merge(folder)
        return len(first)

    def index(self, folder: Path, dim: int | None = None) -> "PackIndex":
        """A snapshot of every row in ``folder``'s packs for many one-at-a-time lookups (thread-safe)."""
        entries: dict[bytes, tuple[_Pack, int]] = {}
        damaged: list[Path] = []
        for path in reversed(self._pack_paths(folder)):  # oldest first: newer packs overwrite
            try:
                pack = _open_pack(path)
            except FileNotFoundError:
                continue  # merged away meanwhile: its rows are in a newer pack
            except (OSError, ValueError):
                self.corrupt += 1
                damaged.append(path)
                continue
            if dim is None or pack.dim == dim:
                entries.update((key, (pack, row)) for row, key in enumerate(pack.keys))
        return PackIndex(self, entries, damaged)

    # ----- reading ----------------------------------------------------------------------------------

    def _lookup(self, folder: Path, wanted: dict[bytes, int], dim: int | None) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        damaged: list[Path] = []
        for attempt in range(2):  # a pack may vanish while another process merges: rescan once
            vanished = False
            for path in self._pack_paths(folder):
                if len(found) == len(wanted):
                    break
                try:
                    pack = _open_pack(path)
                except FileNotFoundError:
                    vanished = True
                    continue
                except (OSError, ValueError):
                    self.corrupt += 1
                    damaged.append(path)
                    continue
                if dim is not None and pack.dim != dim:
                    continue
                if not self._take_rows(pack, wanted, found):
                    damaged.append(path)
            if not vanished:
                break
        for path in dict.fromkeys(damaged):
            self._heal(path)
        return found

    def _take_rows(self, pack: _Pack, wanted: dict[bytes, int], found: dict[bytes, np.ndarray]) -> bool:
        """Copy wanted, CRC-valid rows of ``pack`` into ``found``; False when a wanted row was damaged."""
        rows = [row for row, key in enumerate(pack.keys) if key in wanted and key not in found]
        if not rows:
            return True
        # one gather out of the mapping for vectors; byte rows are views
        vectors = pack.vectors[rows] if pack.vectors is not None else [pack.row(r) for r in rows]
        intact = True
        for row, vector, crc in zip(rows, vectors, pack.crcs[rows].tolist()):
            key = pack.keys[row]
            if _crc(key, vector) == crc:
                found[key] = vector
            else:
                self.corrupt += 1
                intact = False
        return intact

    def _pack_paths(self, folder: Path) -> list[Path]:
        """Packs newest first, so a re-written (healed) entry is preferred over an older copy."""
        try:
            names = [e.name for e in os.scandir(folder) if e.name.endswith(PACK_SUFFIX) and e.is_file()]
        except OSError:
            return []
        return [folder / n for n in sorted(names, reverse=True)]

    # ----- maintenance ------------------------------------------------------------------------------

    def _heal(self, path: Path) -> None:
        """Rewrite a damaged pack without its bad rows (or drop it when unreadable)."""
        if not self.writable:
            return
        try:
            _merge(path.parent, [path])
        except OSError as exc:
            self._disable(exc)

    def _maybe_merge(self, folder: Path) -> None:
        paths = self._pack_paths(folder)
        if len(paths) < MERGE_THRESHOLD:
            return
        small = []
        for p in paths:
            try:
                if p.stat().st_size < SMALL_PACK_BYTES:
                    small.append(p)
            except OSError:
                continue
        if len(small) >= 2:
            try:
                _merge(folder, small[:MERGE_MAX])
            except OSError as exc:
                self._disable(exc)

    def _disable(self, exc: OSError) -> None:
        self.writable = False
        if not self._warned:
            self._warned = True
            warnings.warn(f"{self.what} at {self.root} is not writable ({exc}); continuing without caching",
                          RuntimeWarning, stacklevel=3)


class PackIndex:
    """Rows of one folder as they were when ``PackStore.index`` ran; ``close()`` heals damaged packs."""

    def __init__(self, store: PackStore, entries: dict, damaged: list[Path]) -> None:
        self.store = store
        self.entries = entries
        self.damaged = damaged
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: bytes) -> np.ndarray | None:
        """The CRC-checked row for ``key`` (a view), or None when absent or damaged."""
        found = self.entries.get(key)
        if found is None:
            with self._lock:
                self.store.misses += 1
            return None
        pack, row = found
        ok = pack.row_ok(row)
        with self._lock:
            if ok:
                self.store.hits += 1
            else:
                self.store.corrupt += 1
                self.store.misses += 1
                self.damaged.append(pack.path)
        return pack.row(row) if ok else None

    def close(self) -> None:
        for path in dict.fromkeys(self.damaged):
            self.store._heal(path)
        self.damaged = []


class EmbeddingCache(PackStore):
    """Vectors on disk under ``root``; unusable folders degrade to a warning and no caching.

    ``get_many`` / ``put_many`` take the image content hashes (``ImageSet.hashes``), the embedder's
    ``cache_key`` and the image size the pixels were normalised to.
    """

    what = "embedding cache"

    def key_dir(self, cache_key: str, image_size: int) -> Path:
        """The folder holding the packs of one (embedder cache key, image size)."""
        digest = hashlib.sha256(f"{cache_key}\x00{int(image_size)}".encode()).hexdigest()[:24]
        slug = re.sub(r"[^a-z0-9]+", "-", cache_key.split(":", 1)[0].lower()).strip("-")[:40] or "embedder"
        return self.root / FORMAT_DIR / f"{slug}-{digest}"

    def get_many(self, hashes: Sequence[str], cache_key: str, image_size: int,
                 *, dim: int | None = None) -> list[np.ndarray | None]:
        """Cached vectors for ``hashes`` (float32, shape (d,)), ``None`` for each miss or damaged entry.

        ``dim``, when given, rejects vectors of any other length (a stale or foreign entry).
        """
        return self._get_rows(self.key_dir(cache_key, image_size), [row_key(h) for h in hashes], dim)

    def put_many(self, hashes: Sequence[str], cache_key: str, image_size: int, vectors: np.ndarray) -> int:
        """Store ``vectors`` ((n, d), made float32) for ``hashes``; returns rows written (0 when disabled)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(hashes):
            raise ValueError(f"vectors must have shape (len(hashes), d) = ({len(hashes)}, d), got {vectors.shape}")
        return self._put_rows(self.key_dir(cache_key, image_size), [row_key(h) for h in hashes], vectors,
                              {"cache_key": cache_key, "image_size": int(image_size)})

    def get(self, content_hash: str, cache_key: str, image_size: int) -> np.ndarray | None:
        """One cached vector or ``None``."""
        return self.get_many([content_hash], cache_key, image_size)[0]

    def put(self, content_hash: str, cache_key: str, image_size: int, vector: np.ndarray) -> int:
        """Store one vector of shape (d,)."""
        return self.put_many([content_hash], cache_key, image_size, np.asarray(vector)[None, :])


class BlobCache(PackStore):
    """Rows of bytes on disk under ``root/<FORMAT_DIR>/<kind>/``, keyed by any string (see ``row_key``).

    ``get_many(keys, kind)`` returns read-only uint8 views (``bytes(view)`` to keep one) or None per
    miss or damaged row; ``put_many(keys, kind, blobs)`` stores them. ``kind`` names one folder
    (letters, digits, ``-`` and ``.``), e.g. ``decoded-v1-128-96``.
    """

    def kind_dir(self, kind: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9.-]{1,80}", kind):
            raise ValueError(f"kind must be 1-80 letters, digits, '-' or '.', got {kind!r}")
        return self.root / FORMAT_DIR / kind

    def get_many(self, keys: Sequence[str], kind: str) -> list[np.ndarray | None]:
        return self._get_rows(self.kind_dir(kind), [row_key(k) for k in keys], BLOB_DIM)

    def index_of(self, kind: str) -> PackIndex:
        """A snapshot of ``kind``'s rows for many single lookups: ``.get(row_key(key))``."""
        return self.index(self.kind_dir(kind), BLOB_DIM)

    def put_many(self, keys: Sequence[str], kind: str, blobs: Sequence[bytes]) -> int:
        if len(blobs) != len(keys):
            raise ValueError(f"{len(keys)} keys but {len(blobs)} blobs")
        return self._put_rows(self.kind_dir(kind), [row_key(k) for k in keys], [bytes(b) for b in blobs],
                              {"kind": kind})


# ----- pack files -----------------------------------------------------------------------------------


def _header(rows: int, dim: int) -> bytes:
    """The magic, length-prefixed JSON header and padding that start a pack of ``rows`` x ``dim``."""
    meta = json.dumps({"rows": rows, "dim": dim}).encode()
    head = MAGIC + struct.pack("<I", len(meta)) + meta
    return head + b"\x00" * (-len(head) % ALIGN)


def _crc(key: bytes, vector: np.ndarray) -> int:
    """CRC-32 of a row's key followed by its (contiguous) vector bytes."""
    return zlib.crc32(vector, zlib.crc32(key))


def _crc_rows(keys: list[bytes], vectors: np.ndarray) -> np.ndarray:
    return np.array([_crc(k, v) for k, v in zip(keys, vectors)], dtype="<u4")


def _write_pack(folder: Path, keys: list[bytes], vectors: np.ndarray) -> Path:
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    head = _header(len(keys), vectors.shape[1])
    body = b"".join(keys) + _crc_rows(keys, vectors).tobytes() + vectors.tobytes()
    name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:12]}{PACK_SUFFIX}"
    path = folder / name
    atomic_write(path, head + body)
    return path


def _write_blob_pack(folder: Path, keys: list[bytes], blobs: list[bytes]) -> Path:
    offsets = np.zeros(len(blobs) + 1, dtype="<u8")
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    meta = json.dumps({"rows": len(keys), "bytes": int(offsets[-1])}).encode()
    head = BLOB_MAGIC + struct.pack("<I", len(meta)) + meta
    head += b"\x00" * (-len(head) % ALIGN)
    crcs = np.array([zlib.crc32(b, zlib.crc32(k)) for k, b in zip(keys, blobs)], dtype="<u4")
    body = b"".join(keys) + crcs.tobytes() + offsets.tobytes() + b"".join(blobs)
    path = folder / f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:12]}{PACK_SUFFIX}"
    atomic_write(path, head + body)
    return path


def atomic_write(path: str | os.PathLike, data: bytes | Callable[[BinaryIO], object]) -> Path:
    """Write ``data`` (bytes, or a function writing into the open file) to a temporary file in the same
    folder, fsync, then rename over ``path``: a reader sees the old file or the whole new one, never half
    (the one atomic writer of the package: caches, stores, exports). Returns ``path``."""
    path = Path(path)
    tmp = path.parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex}"
    try:
        with open(tmp, "wb") as fh:
            data(fh) if callable(data) else fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass
    return path


def _open_pack(path: Path) -> _Pack:
    """Map a pack read-only and check its header and size; ValueError when it is not a whole pack."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < len(MAGIC) + 4:
            raise ValueError(f"{path.name}: truncated")
        # The mapping stays valid after the file is closed or even deleted by another process.
        buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    magic = bytes(buf[:len(MAGIC)])
    if magic not in (MAGIC, BLOB_MAGIC):
        raise ValueError(f"{path.name}: not a cache pack")
    (meta_len,) = struct.unpack_from("<I", buf, len(MAGIC))
    try:
        meta = json.loads(bytes(buf[len(MAGIC) + 4:len(MAGIC) + 4 + meta_len]))
        rows = int(meta["rows"])
        dim = int(meta["dim"]) if magic == MAGIC else BLOB_DIM
        blob_bytes = int(meta["bytes"]) if magic == BLOB_MAGIC else 0
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path.name}: bad header ({exc})") from None
    off = len(MAGIC) + 4 + meta_len
    off += -off % ALIGN
    if magic == MAGIC:
        total = off + rows * (KEY_BYTES + 4 + dim * 4)
        bad = dim < 1
    else:
        total = off + rows * (KEY_BYTES + 4) + (rows + 1) * 8 + blob_bytes
        bad = blob_bytes < 0
    if rows < 0 or bad or size != total:
        raise ValueError(f"{path.name}: size {size} does not match its header ({total})")
    raw_keys = bytes(buf[off:off + rows * KEY_BYTES])
    keys = [raw_keys[i:i + KEY_BYTES] for i in range(0, len(raw_keys), KEY_BYTES)]
    off += rows * KEY_BYTES
    crcs = np.frombuffer(buf, dtype="<u4", count=rows, offset=off)
    off += rows * 4
    if magic == MAGIC:
        vectors = np.frombuffer(buf, dtype="<f4", count=rows * dim, offset=off).reshape(rows, dim)
        return _Pack(path=path, keys=keys, crcs=crcs, vectors=vectors, dim=dim)
    offsets = np.frombuffer(buf, dtype="<u8", count=rows + 1, offset=off)
    if offsets[0] != 0 or offsets[-1] != blob_bytes or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise ValueError(f"{path.name}: bad row offsets")
    data = np.frombuffer(buf, dtype=np.uint8, count=blob_bytes, offset=off + (rows + 1) * 8)
    return _Pack(path=path, keys=keys, crcs=crcs, vectors=None, dim=BLOB_DIM, data=data, offsets=offsets)


def _merge(folder: Path, paths: list[Path]) -> None:
    """Replace ``paths`` by one pack of their intact, distinct rows (per vector length).

    The new pack is in place before the old ones are removed, so a concurrent reader finds every
    entry in one or the other; two processes merging the same packs only leave harmless duplicates.
    """
    keys_by_dim: dict[int, list[bytes]] = {}
    rows_by_dim: dict[int, list[np.ndarray]] = {}
    seen: set[bytes] = set()
    merged: list[Path] = []
    for path in paths:
        try:
            pack = _open_pack(path)
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            merged.append(path)  # unreadable as a whole: nothing to keep
            continue
        for row, key in enumerate(pack.keys):
            if key not in seen and pack.row_ok(row):
                seen.add(key)
                keys_by_dim.setdefault(pack.dim, []).append(key)
                rows_by_dim.setdefault(pack.dim, []).append(pack.row(row))
        merged.append(path)
    for dim, keys in keys_by_dim.items():
        if dim == BLOB_DIM:
            _write_blob_pack(folder, keys, [bytes(r) for r in rows_by_dim[dim]])
        else:
            _write_pack(folder, keys, np.stack(rows_by_dim[dim]))
    for path in merged:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
