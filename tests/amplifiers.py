"""Small files that ask for a lot: generated in a few MB of memory, each a reproduction from issue 13.

- ``write_png16(path, w, h)``: a 16-bit greyscale PNG of w x h pixels, a few hundred KB (every row
  after the first is PNG filter "up" of zeros, so it compresses to almost nothing).
- ``write_png_rgba(path, w, h)``: the same for 8-bit RGBA (transparency is composited onto grey).
- ``write_float_tiff(path, w, h)``: a float32 TIFF (Adobe deflate strips), with one NaN and one inf per row.
- ``tiny_png_zip(path, count)``: a ZIP of ``count`` tiny PNGs in two tag folders (a few hundred bytes each).
- ``npz_declaring(path, rows, dims)``: a valid ``.npz`` whose ``vectors`` header declares (rows, dims)
  float32 zeros; the data compresses to almost nothing.

Shared by the tests and ``bench/bench_limits.py`` (which measures the same files on an older checkout).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png16(path: Path, width: int, height: int) -> Path:
    """16-bit greyscale: a horizontal ramp over 0..65535."""
    ramp = (np.arange(width, dtype=np.uint32) * 65535 // max(1, width - 1)).astype(">u2").tobytes()
    return _write_png(path, width, height, 16, 0, ramp)


def write_png_rgba(path: Path, width: int, height: int) -> Path:
    """8-bit RGBA: a red ramp whose alpha goes from transparent to opaque."""
    ramp = (np.arange(width) * 255 // max(1, width - 1)).astype(np.uint8)
    row = np.stack([ramp, np.zeros_like(ramp), 255 - ramp, ramp], axis=1).tobytes()
    return _write_png(path, width, height, 8, 6, row)


def _write_png(path: Path, width: int, height: int, depth: int, colour: int, row: bytes) -> Path:
    up = b"\x02" + bytes(len(row))  # filter "up" with zero differences: the same row again
    comp = zlib.compressobj(9)
    idat = [comp.compress(b"\x00" + row)]
    for _ in range(height - 1):
        idat.append(comp.compress(up))
    idat.append(comp.flush())
    body = b"".join(idat)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr))
        for start in range(0, len(body), 1 << 20):
            fh.write(_chunk(b"IDAT", body[start:start + (1 << 20)]))
        fh.write(_chunk(b"IEND", b""))
    return path


def write_float_tiff(path: Path, width: int, height: int, rows_per_strip: int = 64) -> Path:
    row = np.linspace(-1.0, 1.0, width, dtype="<f4")
    row[0], row[-1] = np.nan, np.inf
    strip = zlib.compress(row.tobytes() * rows_per_strip, 9)
    count = -(-height // rows_per_strip)
    last_rows = height - (count - 1) * rows_per_strip
    last = zlib.compress(row.tobytes() * last_rows, 9)
    strips = [strip] * (count - 1) + [last]
    entries = 11
    ifd_at = 8
    arrays_at = ifd_at + 2 + entries * 12 + 4
    offsets_at, counts_at = arrays_at, arrays_at + 4 * count
    data_at = counts_at + 4 * count
    offsets, pos = [], data_at
    for s in strips:
        offsets.append(pos)
        pos += len(s)

    def entry(tag: int, kind: int, n: int, value: int) -> bytes:
        packed = struct.pack("<H", value) + b"\x00\x00" if kind == 3 and n == 1 else struct.pack("<I", value)
        return struct.pack("<HHI", tag, kind, n) + packed

    ifd = [entry(256, 4, 1, width), entry(257, 4, 1, height), entry(258, 3, 1, 32), entry(259, 3, 1, 8),
           entry(262, 3, 1, 1), entry(273, 4, count, offsets_at), entry(277, 3, 1, 1),
           entry(278, 4, 1, rows_per_strip), entry(279, 4, count, counts_at), entry(284, 3, 1, 1),
           entry(339, 3, 1, 3)]
    with open(path, "wb") as fh:
        fh.write(b"II*\x00" + struct.pack("<I", ifd_at))
        fh.write(struct.pack("<H", entries) + b"".join(ifd) + struct.pack("<I", 0))
        fh.write(struct.pack(f"<{count}I", *offsets) + struct.pack(f"<{count}I", *map(len, strips)))
        for s in strips:
            fh.write(s)
    return path


def tiny_png(value: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (4, 4), value % 256).save(buf, "PNG")
    return buf.getvalue()


def tiny_png_zip(path: Path, count: int) -> Path:
    pngs = [tiny_png(v) for v in range(256)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i in range(count):
            zf.writestr(f"{'ab'[i % 2]}/{i}.png", pngs[i % 256])
    return path


def npz_declaring(path: Path, rows: int, dims: int) -> Path:
    """An .npz with ``rows`` ids/sources/tags and ``vectors`` declaring (rows, dims) float32 zeros."""
    from numpy.lib import format as npformat

    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("ids", "sources", "tags"):
            buf = io.BytesIO()
            np.save(buf, np.array([f"{name[0]}{i % 10}" for i in range(rows)]))
            zf.writestr(name + ".npy", buf.getvalue())
        head = io.BytesIO()
        npformat.write_array_header_1_0(head, {"descr": "<f4", "fortran_order": False, "shape": (rows, dims)})
        with zf.open("vectors.npy", "w", force_zip64=True) as fh:
            fh.write(head.getvalue())
            zero, left = bytes(1 << 20), rows * dims * 4
            while left > 0:
                fh.write(zero[:min(left, len(zero))])
                left -= len(zero)
    return path


# --- vector files (issue 20) -------------------------------------------------------------------------------

def _deflate_member(zf: zipfile.ZipFile, name: str, block: bytes, total: int) -> None:
    """A member of ``total`` bytes, ``block`` repeated: compressed as it is written, held nowhere."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w", force_zip64=total > 1 << 31) as fh:
        left = total
        while left > 0:
            fh.write(block[:min(left, len(block))])
            left -= len(block)


def bundle_zip_of_rows(path: Path, text_bytes: int) -> Path:
    """A Projector bundle ZIP whose ``tensors.tsv`` is ``text_bytes`` of one-value rows ("0\n"), a few
    hundred KB compressed (issue 20: 122 KB inflating to 120 MB took the server to 5 GB)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        _deflate_member(zf, "bundle/tensors.tsv", b"0\n" * (1 << 19), text_bytes)
    return path


def tensors_tsv(path: Path, text_bytes: int, dims: int = 1024) -> Path:
    """A plain ``tensors.tsv`` of about ``text_bytes``: rows of ``dims`` zeros (inside the app's caps)."""
    row = ("\t".join(["0"] * dims) + "\n").encode()
    with open(path, "wb") as fh:
        for _ in range(max(1, text_bytes // len(row))):
            fh.write(row)
    return path


def parquet_of_zeros(path: Path, rows: int, dims: int, value_type: str = "float64") -> Path:
    """A Parquet with a ``vector`` list column of ``rows`` x ``dims`` zeros (and ids): kilobytes on disk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    offsets = pa.array(np.arange(0, (rows + 1) * dims, dims, dtype=np.int32))
    values = pa.array(np.zeros(rows * dims, dtype=value_type))
    table = pa.table({"id": pa.array(np.arange(rows).astype(str)), "vector": pa.ListArray.from_arrays(offsets, values)})
    pq.write_table(table, path, row_group_size=rows)
    return path


def lying_zip(path: Path, member: str, inflates_to: int, declares: int = 1000, extra: dict | None = None) -> Path:
    """A ZIP whose ``member`` declares ``declares`` bytes but inflates to ``inflates_to`` zeros (both its
    local header and the central directory lie); ``extra`` members (name: bytes) are written honestly."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
        _deflate_member(zf, member, bytes(1 << 20), inflates_to)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    # Rewrite the member as a plain (non-ZIP64) entry declaring ``declares`` bytes: patch both headers.
    local = info.header_offset
    assert data[local:local + 4] == b"PK\x03\x04"
    name_len, extra_len = struct.unpack("<HH", data[local + 26:local + 30])
    struct.pack_into("<II", data, local + 18, info.compress_size, declares)
    central = data.rfind(b"PK\x01\x02")
    while bytes(data[central + 46:central + 46 + len(member)]) != member.encode():
        central = data.rfind(b"PK\x01\x02", 0, central)
        assert central >= 0, "member not found in the central directory"
    struct.pack_into("<II", data, central + 20, info.compress_size, declares)
    path.write_bytes(bytes(data))
    return path


# The start of a child program that measures its own peak memory (used by tests/test_limits.py and
# bench/bench_limits.py): call peak_mb() at its end.
PEAK_MB_CHILD = r"""
import resource, sys


def peak_mb():
    # VmHWM is this program's own peak: ru_maxrss would also count the forking parent's pages (pytest).
    try:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM")) // 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
"""


# A child that opens one vector file as the app does (explorer.limits.APP_VECTORS, a bare name in
# messages) and prints the outcome, then its idle (after imports) and peak memory in MB. Run against an
# older checkout (sys.argv[1]) it takes the older path: the app wrote an upload to a temporary folder,
# read it whole and checked the caps after reading.
VECTOR_CHILD = PEAK_MB_CHILD + r"""
import os, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
path, name = Path(sys.argv[2]), sys.argv[3]
import numpy as np, pyarrow.parquet
from explorer import limits
from explorer.io import interop, store
idle = peak_mb()
data = path.read_bytes()
try:
    try:
        out = interop.load_vectors(data, name=name, limits=limits.APP_VECTORS)
    except TypeError:  # before issue 20
        if name.endswith(".npz"):
            out = store.load_embeddings(data, name=name, max_rows=limits.NPZ_MAX_ROWS,
                                        max_dims=limits.NPZ_MAX_DIMS, max_bytes=limits.NPZ_MAX_BYTES)
        else:
            with tempfile.TemporaryDirectory(prefix="fse-") as folder:
                target = Path(folder) / ("tensors.tsv" if name.endswith(".tsv") else name)
                target.write_bytes(data)
                out = interop.load_vectors(target)
            rows, dims = out.vectors.shape
            if rows > limits.NPZ_MAX_ROWS or dims > limits.NPZ_MAX_DIMS:
                raise ValueError(f"{name}: {rows:,} x {dims:,} vectors is more than this server takes")
    print("loaded", "x".join(map(str, out.vectors.shape)))
except (ValueError, MemoryError) as exc:
    print("refused", str(exc).replace("\n", " | "))
print(idle)
print(peak_mb())
"""

def _npz_parts() -> dict[str, bytes]:
    parts = {}
    for key, value in {"ids": np.array(["a", "b"]), "sources": np.array(["a", "b"]), "tags": np.array(["x", "y"]),
                       "vectors": np.eye(2, dtype=np.float32)}.items():
        buf = io.BytesIO()
        np.save(buf, value)
        parts[key + ".npy"] = buf.getvalue()
    return parts


# case -> (the bare name an upload carries, a maker writing the file into a folder): every hostile vector
# file of issue 20, each made in a few seconds, KBs to MBs on disk.
VECTOR_CASES = {
    "bundle-zip-120MB-rows": ("bundle.zip", lambda d: bundle_zip_of_rows(d / "rows.zip", 120 << 20)),
    "tensors-tsv-30MB-rows": ("tensors.tsv", lambda d: tensors_tsv(d / "tensors.tsv", 30 << 20, dims=1)),
    "parquet-1M-x-100": ("zeros.parquet", lambda d: parquet_of_zeros(d / "million.parquet", 1_000_000, 100)),
    "parquet-100k-x-1024": ("wide.parquet", lambda d: parquet_of_zeros(d / "wide.parquet", 100_000, 1024)),
    "parquet-100k-x-1024-float32": ("wide32.parquet",
                                    lambda d: parquet_of_zeros(d / "wide32.parquet", 100_000, 1024, "float32")),
    "bundle-lying-member-800MB": ("lying.zip", lambda d: lying_zip(d / "lying.zip", "bundle/tensors.tsv", 800 << 20)),
    "npz-lying-member-800MB": ("lying.npz", lambda d: lying_zip(d / "lying.npz", "notes", 800 << 20,
                                                                extra=_npz_parts())),
}


def vector_cases(folder: Path, names=None) -> dict[str, tuple[str, Path]]:
    """{case: (bare name, file)} for the cases named (default: all), written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return {case: (name, make(folder)) for case, (name, make) in VECTOR_CASES.items() if names is None or case in names}
