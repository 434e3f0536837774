"""Sets users built (uploads, ZIPs, server folders, .npz), kept on disk so a link can bring them back.

The record is the core's ``explorer.workset.WorkSet``, rebuilt on reading through ``explorer.io.load``; ``info`` is JSON the caller keeps beside it.

A saved set is one ``.npz`` *object* named by the SHA-256 of its content (saving the same set twice
stores it once) and any number of *tokens* pointing at it. A token is ``secrets.token_urlsafe`` text:
it is the only way to reach a set (there is deliberately no listing), so nobody can enumerate or guess
another visitor's sets. The store is shared fairly: one object may take at most ``max_object_bytes``, one
owner (a browser session, named by the caller) at most ``max_owner_bytes``, all objects at most
``max_bytes``; a set that does not fit is refused with :class:`SetTooLarge` (nothing is written and no
other set is removed to make room). Objects not opened for ``keep_days`` go at the next save. A token
whose object is gone (forgotten, expired, damaged) raises :class:`SetNotFound` with a sentence saying so.
Vectors are written at the precision they came in: float16 when every value is a float16 (a float16
source), else float32, never inflated. Every file is written to a temporary name in the same folder, fsynced and renamed into place.

Layout: ``root/v1/objects/<sha256>.npz`` and ``root/v1/tokens/<token>.json`` (``{"object": sha256,
"owner": a hash of the owner}``).
Object arrays: ``meta`` (UTF-8 JSON as uint8: name, ids, sources, columns, notes, hashes, skipped, extra
``info``), and when the set has pictures ``pixels`` (n, S, S, 3) uint8, ``thumbs`` (all JPEG thumbnails
concatenated) with ``thumb_ends`` (n,) int64; a set without pictures (an .npz) keeps ``vectors`` (n, d)
float16 or float32.
Sets with pictures are stored without vectors: embedding them again is a hit in the embedding cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from explorer import limits as L
from explorer.io.cache import atomic_write  # the one atomic writer (temp file, fsync, rename)
from explorer.imageset import ImageSet, SkippedFile
from explorer.io.load import workset_from_images, workset_from_vectors
from explorer.io.store import EmbeddingFile
from explorer.workset import WorkSet

FORMAT_DIR = "v1"
# A shared server must not fill its disk with visitors' sets (explorer.limits: SETSTORE_*).
DEFAULT_MAX_BYTES = L.SETSTORE_MAX_BYTES
TOKEN_BYTES = 24  # 32 URL-safe characters, 192 random bits
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_OBJECT_RE = re.compile(r"^[0-9a-f]{64}$")


class SetStoreError(Exception):
    """A saved set could not be stored or read; the message is one plain sentence."""


class SetNotFound(SetStoreError):
    """No set behind this token (never existed, forgotten, expired, or damaged)."""


class SetTooLarge(SetStoreError):
    """The set does not fit (one set's cap, the owner's quota or the whole store): it was not written."""


def content_digest(record: WorkSet, info: dict[str, Any] | None = None) -> str:
    """SHA-256 of everything that defines a saved set (pixels are named by their files' hashes)."""
    h = hashlib.sha256()
    h.update(json.dumps(_meta(record, info or {}), sort_keys=True).encode())
    if record.images is None and record.vectors is not None:
        v = np.ascontiguousarray(record.vectors, dtype=np.float32)
        h.update(repr(v.shape).encode())
        h.update(v.tobytes())
    return h.hexdigest()


def _meta(record: WorkSet, info: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": record.name, "key": record.key, "set_key": record.set_key,
                            "ids": list(record.ids), "sources": list(record.sources),
                            "columns": {k: list(v) for k, v in record.columns.items()},
                            "embedder_name": record.embedder_name, "info": info,
                            "skipped": [[s.file, s.reason] for s in record.skipped]}
    if record.images is not None:
        im = record.images
        meta["images"] = {"ids": im.ids, "hashes": im.hashes, "sources": im.sources, "tags": im.tags,
                          "notes": im.notes, "extra_tags": im.extra_tags, "name": im.name,
                          "image_size": im.image_size, "skipped": [[s.file, s.reason] for s in im.skipped]}
    return meta


def new_token() -> str:
    """An unguessable URL-safe token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_token(text: object) -> bool:
    """True when ``text`` has the shape of a token (so it can name a file without any path trick)."""
    return isinstance(text, str) and bool(_TOKEN_RE.match(text))


_LOCK = threading.Lock()  # saves of this process, one at a time (a file lock covers other processes)


class SetStore:
    """Saved sets under ``root`` (e.g. ``default_cache_dir() / "sets"``), at most ``max_bytes`` of objects,
    ``max_object_bytes`` per set and ``max_owner_bytes`` per owner (defaults: ``explorer.limits``; the
    per-set and per-owner caps never exceed the store's)."""

    def __init__(self, root: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_object_bytes: int = L.SETSTORE_MAX_OBJECT_BYTES,
                 max_owner_bytes: int = L.SETSTORE_MAX_SESSION_BYTES, keep_days: float = L.SETSTORE_KEEP_DAYS) -> None:
        for label, value in (("max_bytes", max_bytes), ("max_object_bytes", max_object_bytes),
                             ("max_owner_bytes", max_owner_bytes), ("keep_days", keep_days)):
            if not value > 0:
                raise ValueError(f"{label} must be positive, got {value!r}")
        self.root = Path(root) / FORMAT_DIR
        self.max_bytes = int(max_bytes)
        # a small store still shares: one owner at most half of it, one set at most half of that
        self.max_owner_bytes = min(int(max_owner_bytes), self.max_bytes // 2)
        self.max_object_bytes = min(int(max_object_bytes), self.max_owner_bytes // 2)
        self.keep_seconds = float(keep_days) * 86400

    # ----- public API -------------------------------------------------------------------------------

    def save(self, record: WorkSet, *, info: dict[str, Any] | None = None, owner: str | None = None) -> str:
        """Keep ``record`` (its pictures when it has any, else its vectors) with ``info`` (free JSON the
        caller wants back, e.g. upload batches) and return a new token (content is stored once).

        owner : who saves it (the app passes its session id); the owner's quota counts every object its
            tokens point at. SetTooLarge, with a sentence naming the limit, when the set does not fit."""
        info = dict(info or {})
        _check(record)
        digest = content_digest(record, info)
        arrays = _arrays(record, info)
        size = _written_size(arrays)
        if size > self.max_object_bytes:
            raise SetTooLarge(f"this set takes {_mb(size)} on disk, over the limit of {_mb(self.max_object_bytes)} "
                              "for one saved set; it stays open in this tab but gets no link")
        owner_tag = _owner_tag(owner)
        objects, tokens = self._dirs()
        path = objects / f"{digest}.npz"
        try:
            with self._locked():
                self._expire(keep=path)
                if path.exists():
                    os.utime(path)
                else:
                    self._make_room_check(size, owner_tag)
                    atomic_write(path, lambda fh: np.savez(fh, **arrays))
                    if self.size_bytes() > self.max_bytes:  # a miscount must not leave the store over its cap
                        self._remove(path)
                        raise SetTooLarge(f"the server's set store is full ({_mb(self.max_bytes)}); this set was "
                                          "not kept")
                token = new_token()
                record_json = {"object": digest, **({"owner": owner_tag} if owner_tag else {})}
                atomic_write(tokens / f"{token}.json", json.dumps(record_json).encode())
        except OSError as exc:
            raise SetStoreError(f"could not save the set: {exc.strerror or type(exc).__name__}") from exc
        return token

    def owner_bytes(self, owner: str | None) -> int:
        """Bytes of the objects ``owner``'s tokens point at (each counted once)."""
        tag = _owner_tag(owner)
        if not tag:
            return 0
        digests = {d for d, o in self._token_records() if o == tag}
        return sum(_size_of(self.root / "objects" / f"{d}.npz") for d in digests)

    def load(self, token: str) -> tuple[WorkSet, dict[str, Any]]:
        """(the set, its ``info``) behind ``token``; SetNotFound when there is none or it is unreadable.

        A set saved with pictures comes back without vectors (embed it again: the embedding cache has
        them); a set of vectors alone comes back with them."""
        path = self._object_path(token)
        try:
            saved = _read(path)  # (record, info)
        except FileNotFoundError:
            self._drop_token(token)
            raise SetNotFound("this set is no longer kept on the server (it was forgotten or removed to make "
                              "room)") from None
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            self._remove(path)
            self._drop_token(token)
            raise SetNotFound(f"this saved set was damaged on disk and has been removed ({exc})") from exc
        try:
            os.utime(path)  # most recently used: evicted last
        except OSError:
            pass
        return saved

    def forget(self, token: str) -> bool:
        """Remove ``token``, and its object unless another token still points at it. False if unknown."""
        try:
            path = self._object_path(token)
        except SetNotFound:
            return False
        self._drop_token(token)
        digest = path.stem
        still_used = any(_token_object(p) == digest for p in self._dirs()[1].glob("*.json"))
        if not still_used:
            self._remove(path)
        return True

    def note_newer(self, token: str, newer: str, images: int) -> None:
        """Record that ``newer`` (``images`` images) is a later version of the set behind ``token`` (more
        images added in the same browser session), so ``token``'s link can say so. Best effort: a token that
        is gone, or a disk error, leaves nothing to say."""
        path = self.root / "tokens" / f"{token}.json"
        if not (is_token(token) and is_token(newer)):
            return
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            entry.update(newer=newer, newer_images=int(images))
            atomic_write(path, json.dumps(entry).encode())
        except (OSError, ValueError, AttributeError):
            pass

    def newer(self, token: str) -> tuple[str, int] | None:
        """(token, images) of the latest version noted for ``token`` that is still kept, else None."""
        try:
            entry = json.loads((self.root / "tokens" / f"{token}.json").read_text(encoding="utf-8"))
            newer, images = entry.get("newer"), int(entry.get("newer_images", 0))
        except (OSError, ValueError, AttributeError, TypeError):
            return None
        if not is_token(newer) or _token_object(self.root / "tokens" / f"{newer}.json") is None:
            return None
        return newer, images

    def size_bytes(self) -> int:
        """Bytes of all stored objects."""
        return sum(p.stat().st_size for p in self._object_files())

    # ----- internals --------------------------------------------------------------------------------

    def _dirs(self) -> tuple[Path, Path]:
        objects, tokens = self.root / "objects", self.root / "tokens"
        objects.mkdir(parents=True, exist_ok=True)
        tokens.mkdir(parents=True, exist_ok=True)
        return objects, tokens

    def _object_path(self, token: str) -> Path:
        if not is_token(token):
            raise SetNotFound("this is not a set link of this server")
        digest = _token_object(self.root / "tokens" / f"{token}.json")
        if digest is None:
            raise SetNotFound("this set is not kept on this server (unknown link, forgotten, or removed to "
                              "make room)")
        return self.root / "objects" / f"{digest}.npz"

    def _drop_token(self, token: str) -> None:
        if is_token(token):
            self._remove(self.root / "tokens" / f"{token}.json")

    def _object_files(self) -> list[Path]:
        folder = self.root / "objects"
        return [p for p in folder.glob("*.npz") if _OBJECT_RE.match(p.stem)] if folder.is_dir() else []

    def _make_room_check(self, size: int, owner_tag: str) -> None:
        """SetTooLarge when ``size`` more bytes would pass the owner's quota or the store's cap."""
        if owner_tag:
            used = sum(_size_of(self.root / "objects" / f"{d}.npz")
                       for d in {d for d, o in self._token_records() if o == owner_tag})
            if used + size > self.max_owner_bytes:
                raise SetTooLarge(f"this set takes {_mb(size)} and this session's saved sets already take "
                                  f"{_mb(used)}, over the limit of {_mb(self.max_owner_bytes)} per session; it stays "
                                  "open in this tab but gets no link")
        total = self.size_bytes()
        if total + size > self.max_bytes:
            raise SetTooLarge(f"the server's set store is full ({_mb(total)} of {_mb(self.max_bytes)}); this set "
                              "stays open in this tab but gets no link")

    def _expire(self, *, keep: Path) -> None:
        """Delete objects nobody opened for ``keep_seconds`` (never ``keep``); their tokens go when opened."""
        cutoff = time.time() - self.keep_seconds
        for p in self._object_files():
            try:
                if p != keep and p.stat().st_mtime < cutoff:
                    self._remove(p)
            except OSError:
                continue

    def _token_records(self) -> list[tuple[str, str]]:
        """(object digest, owner tag or "") of every token."""
        out = []
        for p in (self.root / "tokens").glob("*.json"):
            try:
                record = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and isinstance(record.get("object"), str):
                out.append((record["object"], str(record.get("owner", ""))))
        return out

    @contextmanager
    def _locked(self):
        """One save at a time: a thread lock in this process, a file lock across processes (POSIX)."""
        with _LOCK:
            handle = open(self.root / ".lock", "a+b")
            try:
                try:
                    import fcntl
                    fcntl.flock(handle, fcntl.LOCK_EX)
                except ImportError:  # not POSIX: the thread lock alone (one server process)
                    pass
                yield
            finally:
                handle.close()

    @staticmethod
    def _remove(path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass


def _token_object(path: Path) -> str | None:
    try:
        digest = json.loads(path.read_text(encoding="utf-8")).get("object")
    except (OSError, ValueError, AttributeError):
        return None
    return digest if isinstance(digest, str) and _OBJECT_RE.match(digest) else None


def _check(saved: WorkSet) -> None:
    n = len(saved.ids)
    lengths = {len(saved.sources), *(len(v) for v in saved.columns.values())}
    if saved.images is not None:
        lengths.add(len(saved.images))
    if saved.vectors is not None:
        if np.ndim(saved.vectors) != 2:
            raise ValueError(f"vectors must be (n, d), got shape {np.shape(saved.vectors)}")
        lengths.add(len(saved.vectors))
    if lengths - {n}:
        raise ValueError(f"saved set columns disagree in length: {sorted(lengths | {n})}")
    if saved.images is None and saved.vectors is None:
        raise ValueError("a saved set needs its images or its vectors")


def _arrays(saved: WorkSet, info: dict[str, Any]) -> dict[str, np.ndarray]:
    arrays = {"meta": np.frombuffer(json.dumps(_meta(saved, info)).encode("utf-8"), dtype=np.uint8)}
    if saved.images is not None:
        thumbs = saved.images.thumbnails
        arrays["pixels"] = np.ascontiguousarray(saved.images.pixels, dtype=np.uint8)
        arrays["thumbs"] = np.frombuffer(b"".join(thumbs), dtype=np.uint8)
        arrays["thumb_ends"] = np.cumsum([len(t) for t in thumbs], dtype=np.int64)
    elif saved.vectors is not None:
        arrays["vectors"] = stored_precision(saved.vectors)
    return arrays


def stored_precision(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` as written: float16 when that loses nothing (a float16 source, or values that are all
    float16 numbers), else float32; never wider than they came in."""
    v = np.asarray(vectors)
    if v.dtype == np.float16:
        return np.ascontiguousarray(v)
    v32 = np.ascontiguousarray(v, dtype=np.float32)
    half = v32.astype(np.float16)
    return half if np.array_equal(half.astype(np.float32), v32) else v32


def _written_size(arrays: dict[str, np.ndarray]) -> int:
    """Bytes ``np.savez`` writes for ``arrays`` (data, plus a header and ZIP records per array)."""
    return sum(a.nbytes + 512 for a in arrays.values()) + 1024


def _owner_tag(owner: str | None) -> str:
    """What a token keeps of its owner: a hash (session ids are never written to disk)."""
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:24] if owner else ""


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n < 10 * 2**20 else f"{n / 2**20:,.0f} MB"


def _read(path: Path) -> tuple[WorkSet, dict[str, Any]]:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode("utf-8"))
        images = None
        if "images" in meta:
            m = meta["images"]
            blob = data["thumbs"].tobytes()
            ends = data["thumb_ends"].tolist()
            thumbs = [blob[a:b] for a, b in zip([0] + ends[:-1], ends)]
            images = ImageSet(ids=m["ids"], hashes=m["hashes"], sources=m["sources"], tags=m["tags"],
                              pixels=data["pixels"], thumbnails=thumbs, notes=m["notes"],
                              extra_tags=m["extra_tags"], name=m["name"],
                              skipped=[SkippedFile(f, r) for f, r in m["skipped"]])
        vectors = np.asarray(data["vectors"], dtype=np.float32) if "vectors" in data.files else None
    skipped = [SkippedFile(f, r) for f, r in meta.get("skipped", [])]
    if images is not None:
        saved = workset_from_images(images, name=meta["name"])
    elif vectors is not None:
        columns = meta["columns"]
        rows = EmbeddingFile(ids=meta["ids"], sources=meta["sources"], tags=columns["tag"], vectors=vectors,
                             embedder=meta.get("embedder_name") or None,
                             extra_tags={k: v for k, v in columns.items() if k != "tag"})
        saved = workset_from_vectors(rows, name=meta["name"], skipped=skipped)
    else:
        raise ValueError("a saved set needs its images or its vectors")
    # the key it was saved under (a vector file's embedder key is not kept), so caches keyed by it still hit
    saved = dataclasses.replace(saved, key=meta["key"], skipped=skipped)
    _check(saved)
    return saved, meta.get("info", {})
