"""Every resource limit of the explorer, as named constants in one place (README: "Operating a shared server").

A shared server meets hostile and unlucky input: small files that decode into gigabytes, archives of
tens of thousands of members, ``.npz`` headers declaring huge matrices. Each bound below is checked as
early as the input allows (from a header or a central directory, before decoding or reading), and a
refused input gets one sentence naming the file and the limit. The defaults suit a 2-core server with a
few GB per visitor; operators change them here.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024**2
GiB = 1024**3

# --- one image ------------------------------------------------------------------------------------------
# Width x height above which an 8-bit image is refused from its header, before any pixel is decoded.
# Pillow holds 8-bit RGB(A) at 4 bytes a pixel, so 64 Mpx is at most 256 MB decoded.
IMAGE_MAX_PIXELS = 64_000_000
# The same for 16-bit, 32-bit integer and floating-point images (Pillow modes I;16*, I, F): their decode
# and their rescaling to 8 bits cost more per pixel, so fewer pixels are accepted.
IMAGE_MAX_PIXELS_WIDE = 48_000_000
# A file larger than this is refused before it is read.
IMAGE_MAX_FILE_BYTES = 200 * MiB
# Seconds one file may take to decode before it is reported as timed out.
DECODE_TIMEOUT_S = 60.0
# Height in pixels of the bands a large image is converted in (mode conversion, transparency,
# rescaling of wide modes), so no full-size copy is made beside the decoded image.
DECODE_BAND_ROWS = 256

# --- the whole server -------------------------------------------------------------------------------------
# Images decoded at the same time in this process, shared by every session and every load (a semaphore):
# two visitors uploading at once wait for each other instead of doubling the peak memory.
DECODE_SLOTS = 2
# Heavy computations (embedding, maps, neighbours, measures) running at once in this process, shared by
# every session (explorer.singleflight): on 2 cores one visitor's t-SNE leaves a core for the others, and
# a visitor whose answer is cached (a lookup) never waits for a slot.
HEAVY_SLOTS = 1
# Partition files of a sharded folder read at once (threads; pyarrow decodes without the GIL): a million
# rows in 1,000 files open in about a second instead of three on 2 cores. Each thread holds one partition.
SHARD_READ_THREADS = 4

# --- archives (a .zip source or upload), checked from the central directory ------------------------------
ZIP_MAX_ENTRIES = 50_000
ZIP_MAX_TOTAL_BYTES = 2 * GiB
ZIP_MAX_MEMBER_BYTES = 200 * MiB
ZIP_MAX_RATIO = 200.0  # uncompressed : compressed, for members above ZIP_RATIO_MIN_BYTES
ZIP_RATIO_MIN_BYTES = 1 * MiB

# --- one browser session (uploads) ---------------------------------------------------------------------
# Images a session may hold; every member of an uploaded ZIP counts, checked before decoding.
SESSION_MAX_IMAGES = 3000
# Bytes of uploaded files a session may hold (Streamlit's server.maxUploadSize bounds one request).
SESSION_MAX_UPLOAD_BYTES = 400 * MiB
# Bytes of files a session holds in its uploaders before "Add to set" (checked as each file arrives; the
# file that would pass it is refused, and clearing the uploader gives the bytes back).
SESSION_MAX_PENDING_UPLOAD_BYTES = 256 * MiB
# The same for all sessions of the server together.
SERVER_MAX_PENDING_UPLOAD_BYTES = 1 * GiB
# Bytes of decoded pixels and thumbnails a session may hold (128 x 128 x 3 pixels are 48 KiB an image).
SESSION_MAX_DECODED_BYTES = 256 * MiB

# --- an uploaded .npz of vectors (checked from the .npy headers inside, before reading) -------------------
NPZ_MAX_ROWS = 100_000
NPZ_MAX_DIMS = 4096
# Declared bytes of all arrays together.
NPZ_MAX_BYTES = 512 * MiB
# A .npz read by the command line (the operator's own files): only this zip-bomb guard applies.
NPZ_CLI_MAX_BYTES = 8 * GiB

# --- the set store (sets visitors built, kept on disk so their link works; explorer/io/setstore.py) ---------
# Bytes of all saved sets together: a set that would pass this is refused, never written, and nobody
# else's set is removed to make room for it.
SETSTORE_MAX_BYTES = 2 * GiB
# One saved set (its pictures, or its vectors at the precision they came in, as written).
SETSTORE_MAX_OBJECT_BYTES = 256 * MiB
# All sets one browser session saved.
SETSTORE_MAX_SESSION_BYTES = 512 * MiB
# Days a saved set is kept after it was last opened (then it goes at the next save).
SETSTORE_KEEP_DAYS = 30


@dataclass(frozen=True)
class VectorLimits:
    """The caps one reader of vector files applies (``.npz``, Parquet, Projector text, shard folders),
    checked from headers, metadata or a counting pass before any matrix is allocated."""

    max_rows: int | None
    max_dims: int | None
    max_bytes: int


# What a visitor of the app may open or upload; what the command line takes from the operator's own files.
APP_VECTORS = VectorLimits(max_rows=NPZ_MAX_ROWS, max_dims=NPZ_MAX_DIMS, max_bytes=NPZ_MAX_BYTES)
CLI_VECTORS = VectorLimits(max_rows=None, max_dims=None, max_bytes=NPZ_CLI_MAX_BYTES)


def describe() -> list[tuple[str, object]]:
    """(name, value) of every limit, in the order above (for the README table and the tests)."""
    return [(name, value) for name, value in globals().items()
            if name.isupper() and name not in ("MiB", "GiB") and isinstance(value, (int, float))]
