"""A disk cache of decoded images, so re-opening a folder, ZIP or upload seen before decodes nothing.

Two tables in the cache folder's pack files (``explorer.cache.BlobCache``: atomic packs, per-row CRC,
damaged rows recomputed):

- decoded images keyed by the SHA-256 of the file's bytes, per (image size, thumbnail size, decoder
  version): the normalised pixels, the thumbnail JPEG, the displayed width/height and the note;
- for files on disk, a cheap index from (real path, size, mtime, inode) to that SHA-256, so an unchanged
  file of a server folder is neither read nor hashed again. A file rewritten in place within the same
  mtime tick with the same size would be missed: the price of not reading it.

Only images that decoded are stored; a refused file is refused again (its reason may depend on limits).
"""

from __future__ import annotations

import json
import os
import struct
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from explorer.io.cache import BlobCache, row_key
from explorer.images import DecodedImage

# Bump when explorer.images changes what decode_image returns for the same bytes.
DECODER_VERSION = 1
_HEAD = struct.Struct("<4sI")  # magic, JSON length
_MAGIC = b"DEC1"
FILES_KIND = "files-v1"


def file_identity(path: str | os.PathLike) -> str | None:
    """``realpath|size|mtime_ns|inode`` of a regular file, or None when it cannot be stat'ed."""
    try:
        real = os.path.realpath(path)
        info = os.stat(real)
    except OSError:
        return None
    return f"{real}|{info.st_size}|{info.st_mtime_ns}|{info.st_ino}|{info.st_dev}"


def encode_decoded(image: DecodedImage) -> bytes:
    """One decoded image as bytes: a small JSON header, the thumbnail, then the raw pixels."""
    pixels = np.ascontiguousarray(image.pixels, dtype=np.uint8)
    meta = json.dumps({"shape": list(pixels.shape), "width": int(image.width), "height": int(image.height),
                       "note": image.note, "thumb": len(image.thumbnail)}).encode()
    return _HEAD.pack(_MAGIC, len(meta)) + meta + bytes(image.thumbnail) + pixels.tobytes()


def decode_entry(blob: bytes | np.ndarray, sha256: str) -> DecodedImage | None:
    """The DecodedImage a stored row holds, or None when the row is not one (a foreign or stale row)."""
    raw = memoryview(blob).cast("B") if not isinstance(blob, bytes) else memoryview(blob)
    try:
        magic, meta_len = _HEAD.unpack_from(raw, 0)
        if magic != _MAGIC:
            return None
        start = _HEAD.size + meta_len
        meta = json.loads(bytes(raw[_HEAD.size:start]))
        shape = tuple(int(v) for v in meta["shape"])
        thumb_end = start + int(meta["thumb"])
        if len(shape) != 3 or shape[2] != 3 or len(raw) != thumb_end + int(np.prod(shape)):
            return None
        pixels = np.frombuffer(raw, dtype=np.uint8, offset=thumb_end).reshape(shape)
        return DecodedImage(pixels=pixels, thumbnail=bytes(raw[start:thumb_end]), width=int(meta["width"]),
                            height=int(meta["height"]), note=str(meta["note"]), sha256=sha256)
    except (struct.error, ValueError, KeyError, TypeError):
        return None


class DecodedCache:
    """Decoded images and the file index under ``root`` (the cache folder); see the module docstring.

    ``decodes_saved`` counts images served from the cache over the object's life.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.store = BlobCache(Path(root))
        self.decodes_saved = 0

    @property
    def root(self) -> Path:
        return self.store.root

    @staticmethod
    def _kind(image_size: int, thumb_size: int) -> str:
        return f"decoded-v{DECODER_VERSION}-{int(image_size)}-{int(thumb_size)}"

    def get_many(self, hashes: Sequence[str], image_size: int, thumb_size: int) -> list[DecodedImage | None]:
        rows = self.store.get_many(list(hashes), self._kind(image_size, thumb_size))
        out = [None if row is None else decode_entry(row, h) for row, h in zip(rows, hashes)]
        self.decodes_saved += sum(d is not None for d in out)
        return out

    def put_many(self, images: Sequence[DecodedImage], image_size: int, thumb_size: int) -> int:
        return self.store.put_many([d.sha256 for d in images], self._kind(image_size, thumb_size),
                                   [encode_decoded(d) for d in images])

    def remember_files(self, identities: Sequence[str], hashes: Sequence[str]) -> int:
        """Record that the files with these identities (``file_identity``) hold these contents."""
        return self.store.put_many(list(identities), FILES_KIND, [bytes.fromhex(h) for h in hashes])

    def lookup(self, image_size: int, thumb_size: int) -> "DecodedLookup":
        """A snapshot for one load: many single lookups (from decoding threads) at dict speed."""
        return DecodedLookup(self, image_size, thumb_size)


class DecodedLookup:
    """Decoded images by content hash or by file identity, as the cache held them when it was made."""

    def __init__(self, cache: DecodedCache, image_size: int, thumb_size: int) -> None:
        self.cache = cache
        self.images = cache.store.index_of(cache._kind(image_size, thumb_size))
        self.files = cache.store.index_of(FILES_KIND) if len(self.images) else None
        self._lock = threading.Lock()
        self.served: set[str] = set()  # content hashes this lookup took from the cache

    def by_hash(self, sha256: str) -> DecodedImage | None:
        row = self.images.get(row_key(sha256)) if len(self.images) else None
        image = None if row is None else decode_entry(row, sha256)
        if image is not None:
            with self._lock:
                self.cache.decodes_saved += 1
                self.served.add(sha256)
        return image

    def by_file(self, identity: str | None) -> DecodedImage | None:
        """The decoded image of an unchanged file, without reading it; None when unknown or changed."""
        if identity is None or self.files is None:
            return None
        row = self.files.get(row_key(identity))
        return None if row is None or len(row) != 32 else self.by_hash(bytes(row).hex())

    def close(self) -> None:
        """Rewrite any pack found damaged (its rows were decoded again)."""
        self.images.close()
        if self.files is not None:
            self.files.close()
