"""Reading untrusted bytes without trusting their headers: ZIP members and lines of text, bounded.

Every ZIP reader in ``explorer.io`` (image archives, Projector bundles, ``.npz``) goes through
:func:`open_member`: it reads a member in chunks of at most ``CHUNK`` bytes and stops with
:class:`MemberRefused` as soon as more comes out than the member declares or than the caller's cap,
whatever the header says. (``ZipFile.read`` inflates a member in one call before comparing it with its
declared size: a member declaring 1,000 bytes that inflates to 800 MB costs 1.6 GB before "Bad CRC-32".)

:func:`iter_lines` splits any stream of chunks into numbered lines without ever holding more than one
line (at most ``max_line`` bytes) and one chunk, so a text file is counted before anything is allocated.
"""

from __future__ import annotations

import io
import zipfile
from typing import BinaryIO, Callable, Iterator

CHUNK = 1 << 20  # bytes asked of the decompressor at a time (zipfile inflates at most this per call)


class MemberRefused(ValueError):
    """A ZIP member that inflates beyond its declared size or the caller's cap, or cannot be read."""


class BoundedMember(io.RawIOBase):
    """A ZIP member as a read-only stream that refuses to yield more than ``cap`` bytes (and never more
    than the member declares). Reads ask the decompressor for at most :data:`CHUNK` bytes at a time."""

    def __init__(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> None:
        super().__init__()
        self.cap = min(int(info.file_size), int(cap))
        self.declared = int(info.file_size)
        self.taken = 0
        if info.file_size > cap:
            raise MemberRefused(f"declares {_size(info.file_size)}, over the limit of {_size(cap)}")
        try:
            self._fh = archive.open(info)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError) as exc:
            raise MemberRefused(_reason(exc)) from None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            return self.readall()
        try:
            data = self._fh.read(min(n, CHUNK))
        except MemberRefused:
            raise
        except Exception as exc:  # zlib.error, BadZipFile (bad CRC), EOFError, RuntimeError (encrypted)
            raise MemberRefused(_reason(exc)) from None
        self.taken += len(data)
        if self.taken > self.cap:
            raise MemberRefused("expands beyond its declared size (zip bomb?)" if self.taken > self.declared
                                else f"expands beyond the limit of {_size(self.cap)}")
        return data

    def readall(self) -> bytes:
        parts = []
        while True:
            chunk = self.read(CHUNK)
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)

    def close(self) -> None:
        if not self.closed and hasattr(self, "_fh"):
            self._fh.close()
        super().close()


def open_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo | str, cap: int) -> BoundedMember:
    """``archive``'s member as a bounded stream (see :class:`BoundedMember`); MemberRefused with the reason."""
    if isinstance(info, str):
        try:
            info = archive.getinfo(info)
        except KeyError:
            raise MemberRefused(f"no member {info!r}") from None
    return BoundedMember(archive, info, cap)


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo | str, cap: int) -> bytes:
    """All of one member, read through :func:`open_member` (at most ``cap`` bytes ever held)."""
    with open_member(archive, info, cap) as fh:
        return fh.readall()


def chunks_of(opener: Callable[[], BinaryIO]) -> Iterator[bytes]:
    """The bytes of a stream ``opener()`` gives, :data:`CHUNK` at a time (closed at the end)."""
    with opener() as fh:
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                return
            yield chunk


class LineTooLong(ValueError):
    """A line longer than the reader's ``max_line``."""


def iter_lines(chunks: Iterator[bytes], *, max_line: int) -> Iterator[tuple[int, bytes]]:
    """(number from 1, line without its ``\\n`` and a trailing ``\\r``) for every line of the stream; a
    final newline ends the last line (it does not start an empty one). LineTooLong past ``max_line``."""
    pending = b""
    number = 0
    for chunk in chunks:
        pending += chunk
        start = 0
        while True:
            end = pending.find(b"\n", start)
            if end < 0:
                break
            number += 1
            if end - start > max_line:
                raise LineTooLong(f"line {number}: longer than {_size(max_line)}")
            line = pending[start:end]
            yield number, line[:-1] if line.endswith(b"\r") else line
            start = end + 1
        pending = pending[start:]
        if len(pending) > max_line:
            raise LineTooLong(f"line {number + 1}: longer than {_size(max_line)}")
    if pending:
        yield number + 1, pending[:-1] if pending.endswith(b"\r") else pending


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, RuntimeError) and ("encrypt" in text.lower() or "password" in text.lower()):
        return f"encrypted, not opened ({text[:80]})"
    if isinstance(exc, NotImplementedError):
        return "unsupported compression method"
    if "CRC" in text:
        return "damaged in archive (bad CRC)"
    return f"damaged in archive ({text[:80] or type(exc).__name__})"


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n:,} bytes"
