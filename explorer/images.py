"""Safe decoding of one image's bytes into a fixed-size RGB array and a small thumbnail.

Untrusted bytes go through an allowlist of formats detected by content, a pixel-count check made from
the header before any pixel is decoded, a ``load()`` inside ``try`` (truncated files are rejected, never
padded), EXIF orientation, and mode conversions that never clip silently. ``decode_many`` runs the same
on a small thread pool (Pillow releases the GIL while decoding and resizing) with a progress callback
and a bound on the time spent per file.

Memory per image is bounded: the decoded image is the only full-size copy. A large image is reduced
(JPEG: DCT draft; others: box reduction) before anything else, and mode conversions, transparency and
the rescaling of 16-bit and floating-point images run in bands of ``DECODE_BAND_ROWS`` rows, in float32.
Wide modes have a lower pixel limit. Across the process, at most ``DECODE_SLOTS`` files are read and
decoded at once, whatever the number of sessions and loads (limits live in ``explorer.limits``).
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import numpy as np
from PIL import Image

from explorer import limits as L
from explorer.progress import ProgressCallback, report

DEFAULT_IMAGE_SIZE = 128
THUMBNAIL_SIZE = 96
# Letter-box and transparency background: mid grey is neutral for both light and dark images, and fixed
# so that two transparent images with the same content normalise to the same pixels.
BACKGROUND = (128, 128, 128)
THUMBNAIL_QUALITY = 85

# Pillow format ids we open. Multi-picture camera JPEGs come back from the JPEG opener as format "MPO".
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")


@dataclass(frozen=True)
class Limits:
    """Bounds that keep one hostile file from exhausting memory or time.

    max_pixels : width*height above which an image is refused before decoding.
    max_file_bytes : files larger than this are refused before being read.
    timeout_s : seconds ``decode_many`` waits for one file before reporting it as timed out.
    max_pixels_wide : the pixel limit for 16-bit, 32-bit integer and float images (the lower of the two applies).
    """

    max_pixels: int = L.IMAGE_MAX_PIXELS
    max_file_bytes: int = L.IMAGE_MAX_FILE_BYTES
    timeout_s: float = L.DECODE_TIMEOUT_S  # generous: a busy shared server slows honest files too
    max_pixels_wide: int = L.IMAGE_MAX_PIXELS_WIDE

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_file_bytes", "timeout_s", "max_pixels_wide"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be > 0, got {getattr(self, name)!r}")


DEFAULT_LIMITS = Limits()
# Shared by every decode_many call in this process (every session, every load): see explorer.limits.
_DECODE_SLOTS = threading.BoundedSemaphore(L.DECODE_SLOTS)


class ImageRejected(Exception):
    """An input that was not turned into an image; ``reason`` says why in plain words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DecodedImage:
    """One decoded image.

    pixels : ndarray (S, S, 3) uint8, RGB, aspect kept and letter-boxed onto ``BACKGROUND``.
    thumbnail : JPEG bytes, longest side ``thumb_size``, aspect kept.
    width, height : size of the image as displayed (after EXIF orientation), in pixels.
    note : remarks worth showing ("first frame of 12", "16-bit rescaled ..."), "" when none.
    sha256 : hex SHA-256 of the file bytes (the content id used by the loaders and the cache).
    """

    pixels: np.ndarray
    thumbnail: bytes
    width: int
    height: int
    note: str = ""
    sha256: str = ""


# Signatures of things people put in image folders that we refuse by name, for a clearer reason.
_KNOWN_NON_IMAGES = (
    (b"%PDF", "PDF"),
    (b"%!PS", "PostScript/EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"PK\x03\x04", "archive"),
    (b"PK\x05\x06", "archive"),
    (b"\x1f\x8b", "archive"),
    (b"7z\xbc\xaf\x27\x1c", "archive"),
    (b"Rar!", "archive"),
)


def sniff_format(head: bytes) -> str | None:
    """The allowed format the leading bytes belong to ("JPEG", "PNG", ...), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    return None


def _not_image_reason(head: bytes) -> str:
    for magic, kind in _KNOWN_NON_IMAGES:
        if head.startswith(magic):
            return "archive, not opened" if kind == "archive" else f"not an image ({kind} is not accepted)"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "unsupported image format (HEIC/AVIF)"
    return "not an image"


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _mpx(pixels: int) -> str:
    value = pixels / 1e6
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def human_bytes(n: int) -> str:
    """A byte count in plain words: "812 B", "293 KB", "12.5 MB", "2.0 GB"."""
    for unit, size in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n} B"


def _too_large(pixels: int, limit: int, what: str = "") -> ImageRejected:
    return ImageRejected(f"too large: {_mpx(pixels)} Mpx > limit {_mpx(limit)} Mpx" + (f" for {what} images" if what else ""))


def _wide_kind(mode: str) -> str:
    """"16-bit", "32-bit integer" or "floating-point" for the wide Pillow modes, "" for 8-bit ones."""
    if mode.startswith("I;16"):
        return "16-bit"
    return {"I": "32-bit integer", "F": "floating-point"}.get(mode, "")


def _open(data: bytes, limits: Limits) -> Image.Image:
    """Open (header only) with the allowlist; refuse what is not an image or too large."""
    head = data[:16]
    if sniff_format(head) is None:
        raise ImageRejected(_not_image_reason(head))
    try:
        # (No warnings.catch_warnings here: it is not thread-safe. Pillow's DecompressionBombWarning can
        # only fire above its own 89 Mpx default, which our lower limit refuses just below anyway.)
        im = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
    except Image.DecompressionBombError as exc:
        # Pillow's own guard fires inside open() for huge headers; its message carries the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else 2 * (Image.MAX_IMAGE_PIXELS or 0)
        raise _too_large(pixels, limits.max_pixels) from None
    except Exception as exc:  # Pillow raises many types on malformed headers; all mean the same here
        raise ImageRejected(f"damaged image header ({_short(exc)})") from None
    width, height = im.size
    if width < 1 or height < 1:
        raise ImageRejected(f"empty image ({width}x{height})")
    if width * height > limits.max_pixels:
        raise _too_large(width * height, limits.max_pixels)
    wide = _wide_kind(im.mode)
    if wide and width * height > min(limits.max_pixels, limits.max_pixels_wide):
        raise _too_large(width * height, min(limits.max_pixels, limits.max_pixels_wide), wide)
    return im


def _short(exc: BaseException, length: int = 80) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:length]


def _frame_note(im: Image.Image) -> str:
    try:
        frames = int(getattr(im, "n_frames", 1))
    except Exception:
        frames = 1
    if frames <= 1:
        return ""
    unit = "page" if im.format == "TIFF" else "frame"
    return f"first {unit} of {frames}"


def _load(im: Image.Image, target: int) -> Image.Image:
    """Decode pixels (JPEG at reduced scale when large); damaged data becomes ImageRejected."""
    try:
        im.seek(0)  # before draft: seeking a multi-picture JPEG resets its decoder set-up
    except Exception as exc:
        raise ImageRejected(f"damaged image data ({_short(exc)})") from None
    if im.format in ("JPEG", "MPO"):
        w, h = im.size
        long = max(w, h)
        if long > target:
            # Ask for the smallest DCT scale still at least ``target`` on the long side.
            im.draft("RGB", (max(1, w * target // long), max(1, h * target // long)))
    try:
        im.load()
    except Image.DecompressionBombError as exc:
        raise ImageRejected(f"too large ({_short(exc)})") from None
    except Exception as exc:
        text = str(exc).lower()
        if "truncat" in text or isinstance(exc, EOFError):
            raise ImageRejected("truncated") from None
        raise ImageRejected(f"damaged image data ({_short(exc)})") from None
    return im


# EXIF orientation value -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_ORIENTATIONS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                 4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
                 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


def _orientation(im: Image.Image) -> tuple[int, str]:
    """The EXIF orientation (1 = as stored) read from the header; applied later to the reduced image."""
    if im.format != "TIFF" and "exif" not in im.info:  # no EXIF block: nothing to parse
        return 1, ""
    try:
        value = int(im.getexif().get(0x0112, 1))
    except Exception:
        return 1, "EXIF orientation unreadable, shown as stored"
    return (value if value in _ORIENTATIONS else 1), ""


def _reduction(size: tuple[int, int], target: int) -> int:
    """The integer box-reduction factor leaving at least 3x ``target`` on the long side (Pillow's
    ``reducing_gap=3`` rule), so the final Lanczos resize looks as if it had the full image."""
    return max(1, max(size) // (3 * target))


def _bands(im: Image.Image, factor: int):
    """(top, band image) of ``im`` in horizontal bands whose height is a multiple of ``factor``."""
    step = max(factor, (L.DECODE_BAND_ROWS // factor) * factor)
    w, h = im.size
    for top in range(0, h, step):
        yield top, im.crop((0, top, w, min(h, top + step)))


def _reduced_size(size: tuple[int, int], factor: int) -> tuple[int, int]:
    return math.ceil(size[0] / factor), math.ceil(size[1] / factor)


def _banded_rgb(im: Image.Image, factor: int) -> tuple[Image.Image, str]:
    """An 8-bit image of any mode as RGB, reduced by ``factor``, converted one band at a time."""
    out = Image.new("RGB", _reduced_size(im.size, factor))
    note = ""
    for top, band in _bands(im, factor):
        rgb, note = to_rgb(band)
        out.paste(rgb.reduce(factor) if factor > 1 else rgb, (0, top // factor))
    return out, note


def _wide_to_rgb(im: Image.Image, factor: int, what: str) -> tuple[Image.Image, str]:
    """Map the actual finite range of a wide (16-bit, 32-bit or float) image onto 0..255, reduced by
    ``factor``. Two passes over float32 bands (range, then scale and reduce): no full-size float copy."""
    lo, hi, bad = math.inf, -math.inf, 0
    for _, band in _bands(im, factor):
        values = np.asarray(band).astype(np.float32)
        finite = np.isfinite(values)
        bad += int(values.size - np.count_nonzero(finite))
        if finite.any():
            kept = values[finite]
            lo, hi = min(lo, float(kept.min())), max(hi, float(kept.max()))
    size = _reduced_size(im.size, factor)
    if lo > hi:
        return Image.new("RGB", size), f"{what}: no finite values, shown black"
    notes = [f"{what} rescaled from range [{lo:g}, {hi:g}]" if hi > lo
             else f"{what} constant value {lo:g}, shown mid grey"]
    if bad:
        notes.append(f"{bad} non-finite values shown black")
    out = np.zeros((size[1], size[0]), np.float32)
    for top, band in _bands(im, factor):
        values = np.asarray(band).astype(np.float32)
        finite = np.isfinite(values)
        scaled = (values - lo) * np.float32(255.0 / (hi - lo)) if hi > lo else np.full(values.shape, 128.0, np.float32)
        scaled[~finite] = 0.0
        small = Image.fromarray(scaled, "F")
        small = np.asarray(small.reduce(factor) if factor > 1 else small)
        out[top // factor: top // factor + small.shape[0]] = small
    gray = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return Image.fromarray(gray, "L").convert("RGB"), "; ".join(notes)


def _reduced_rgb(im: Image.Image, target: int) -> tuple[Image.Image, str]:
    """``im`` as 8-bit RGB, box-reduced when large, without a full-size converted copy; (image, note)."""
    factor = _reduction(im.size, target)
    what = _wide_kind(im.mode)
    if what:
        return _wide_to_rgb(im, factor, what)
    if im.mode == "RGB" or factor == 1:  # RGB: the final resize reduces first, on the decoded image
        return to_rgb(im)
    return _banded_rgb(im, factor)


def _composite(im: Image.Image) -> Image.Image:
    rgba = im.convert("RGBA")
    background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")


def to_rgb(im: Image.Image) -> tuple[Image.Image, str]:
    """Convert any decoded mode to 8-bit RGB without silent clipping; returns (image, note)."""
    mode = im.mode
    if mode == "RGB":
        return im, ""
    if mode in ("1", "L", "RGBX", "YCbCr"):
        return im.convert("RGB"), ""
    if mode == "P":
        if "transparency" in im.info:
            return _composite(im), "transparency composited onto grey"
        return im.convert("RGB"), ""
    if mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        return _composite(im), "transparency composited onto grey"
    if mode == "CMYK":
        return im.convert("RGB"), "CMYK converted to RGB"
    if _wide_kind(mode):
        return _wide_to_rgb(im, 1, _wide_kind(mode))
    try:
        return im.convert("RGB"), f"{mode} converted to RGB"
    except Exception:
        raise ImageRejected(f"unsupported colour mode {mode}") from None


def _fit(im: Image.Image, long_side: int, down: Image.Resampling = Image.Resampling.LANCZOS) -> Image.Image:
    """Resize so the longer side is ``long_side``; aspect kept, each side at least 1 pixel."""
    w, h = im.size
    scale = long_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == im.size:
        return im
    if scale < 1:
        return im.resize(size, down, reducing_gap=3.0)
    # Upscaling small images: nearest keeps them honest (no invented detail) and 1x1 stays flat.
    return im.resize(size, Image.Resampling.NEAREST if max(w, h) < 16 else Image.Resampling.BICUBIC)


def _letterbox(im: Image.Image, side: int) -> np.ndarray:
    fitted = _fit(im, side)
    canvas = Image.new("RGB", (side, side), BACKGROUND)
    canvas.paste(fitted, ((side - fitted.width) // 2, (side - fitted.height) // 2))
    return np.asarray(canvas, dtype=np.uint8).copy()


def _thumbnail(im: Image.Image, side: int) -> bytes:
    out = io.BytesIO()
    # Bilinear is plenty for a display thumbnail made from an already-downscaled image, and cheaper.
    _fit(im, side, Image.Resampling.BILINEAR).save(out, format="JPEG", quality=THUMBNAIL_QUALITY)
    return out.getvalue()


def decode_image(data: bytes, *, image_size: int = DEFAULT_IMAGE_SIZE, thumb_size: int = THUMBNAIL_SIZE,
                 limits: Limits = DEFAULT_LIMITS) -> DecodedImage:
    """Decode one file's bytes into (image_size, image_size, 3) uint8 pixels and a JPEG thumbnail.

    Raises ImageRejected (never anything else for bad bytes) with a plain reason.
    """
    image_size = _check_positive_int("image_size", image_size)
    thumb_size = _check_positive_int("thumb_size", thumb_size)
    if not isinstance(limits, Limits):
        raise ValueError(f"limits must be a Limits, got {type(limits).__name__}")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError(f"data must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise ImageRejected("empty file")
    if len(data) > limits.max_file_bytes:
        raise ImageRejected(f"file too big: {human_bytes(len(data))} > limit "
                            f"{human_bytes(limits.max_file_bytes)}")
    im = _open(data, limits)
    width, height = im.size  # before draft mode shrinks it
    notes = [_frame_note(im)]
    larger = max(image_size, thumb_size)
    im = _load(im, larger)
    orientation, orient_note = _orientation(im)
    rgb, mode_note = _reduced_rgb(im, larger)
    del im  # the full-size decoded image: freed before the resizes below
    if orientation != 1:  # applied to the reduced image: no full-size rotated copy
        rgb = rgb.transpose(_ORIENTATIONS[orientation])
        if orientation >= 5:  # rotated by 90 degrees: width and height swap
            width, height = height, width
    notes += [orient_note, mode_note, _shape_note((width, height))]
    # Resize once; the smaller output is made from the larger one (cheap, same look).
    first = _fit(rgb, larger) if max(rgb.size) > larger else rgb
    return DecodedImage(pixels=_letterbox(first, image_size), thumbnail=_thumbnail(first, thumb_size),
                        width=width, height=height, note="; ".join(n for n in notes if n),
                        sha256=hashlib.sha256(data).hexdigest())


def _shape_note(size: tuple[int, int]) -> str:
    w, h = size
    if max(w, h) >= 20 * min(w, h):
        return f"extreme aspect ratio ({w}x{h})"
    return ""


# An item is either the file's bytes or a zero-argument reader returning them (so a folder of large
# photos is read one file at a time inside the workers instead of all at once). A reader may raise
# ImageRejected to report a file it refused to read.
Item = Union[bytes, Callable[[], bytes]]
# lookup(sha256 hex of the bytes) -> the image decoded earlier (a cache), or None to decode it now.
Lookup = Callable[[str], Optional[DecodedImage]]


def _decode_item(item: Item, image_size: int, thumb_size: int, limits: Limits,
                 started: dict, key: int, lookup: Lookup | None = None) -> DecodedImage:
    # The server-wide slot covers reading and decoding: the file's bytes and its decoded pixels are what
    # fill memory. The timeout clock starts when the slot is taken, not while waiting for one.
    with _DECODE_SLOTS:
        started[key] = time.monotonic()
        try:
            data = item() if callable(item) else item
        except ImageRejected:
            raise
        except OSError as exc:
            raise ImageRejected(f"could not be read ({exc.strerror or _short(exc)})") from None
        if lookup is not None and data:
            known = lookup(hashlib.sha256(data).hexdigest())
            if known is not None:
                return known
        return decode_image(data, image_size=image_size, thumb_size=thumb_size, limits=limits)


def decode_many(items: Sequence[Item], *, image_size: int = DEFAULT_IMAGE_SIZE,
                thumb_size: int = THUMBNAIL_SIZE, limits: Limits = DEFAULT_LIMITS, workers: int = 2,
                progress: ProgressCallback | None = None,
                lookup: Lookup | None = None) -> list[DecodedImage | ImageRejected]:
    """Decode many items on ``workers`` threads; result ``i`` is item ``i``'s DecodedImage or ImageRejected.

    ``lookup``, when given, is asked first with the SHA-256 of each item's bytes: what it returns is used
    instead of decoding (``explorer.decoded.DecodedLookup.by_hash``).

    At most ``2 * workers`` files are in flight, so memory holds only small arrays and thumbnails. A file
    still decoding after ``limits.timeout_s`` is reported as timed out and abandoned: its thread is left
    to finish in the background (bounded pixels make that finite) and a fresh thread takes its place.
    """
    image_size = _check_positive_int("image_size", image_size)
    thumb_size = _check_positive_int("thumb_size", thumb_size)
    workers = _check_positive_int("workers", workers)
    items = list(items)
    total = len(items)
    results: list[DecodedImage | ImageRejected | None] = [None] * total
    report(progress, 0, total, "decoding images")
    if total == 0:
        return []
    started: dict[int, float] = {}
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")
    pending: dict[Future, int] = {}
    queue = iter(range(total))
    done_count = 0

    def submit_next() -> None:
        index = next(queue, None)
        if index is not None:
            pending[pool.submit(_decode_item, items[index], image_size, thumb_size, limits,
                                started, index, lookup)] = index

    try:
        for _ in range(2 * workers):
            submit_next()
        while pending:
            finished, _ = wait(pending, timeout=min(1.0, limits.timeout_s), return_when=FIRST_COMPLETED)
            for future in finished:
                index = pending.pop(future)
                results[index] = _outcome(future)
                items[index] = b""  # drop the reference so file bytes can be freed
                done_count += 1
                report(progress, done_count, total, "decoding images")
                submit_next()
            for future, index in list(pending.items()):
                if time.monotonic() - started.get(index, float("inf")) > limits.timeout_s:
                    del pending[future]
                    results[index] = ImageRejected(f"timed out: decoding took over {limits.timeout_s:g} s")
                    done_count += 1
                    report(progress, done_count, total, "decoding images")
                    pool = _replace_pool(pool, workers)
                    # Work queued on the old pool still runs there; new work goes to the fresh pool.
                    submit_next()
    finally:
        # Normally nothing is left; if a progress callback raised (the user cancelled), drop queued work.
        pool.shutdown(wait=False, cancel_futures=True)
    return results  # type: ignore[return-value]


def _replace_pool(pool: ThreadPoolExecutor, workers: int) -> ThreadPoolExecutor:
    pool.shutdown(wait=False, cancel_futures=False)
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")


def _outcome(future: Future) -> DecodedImage | ImageRejected:
    try:
        return future.result()
    except ImageRejected as exc:
        return exc
    except MemoryError:
        return ImageRejected("out of memory while decoding")
    except Exception as exc:  # a decoder bug on one file must not lose the files beside it
        return ImageRejected(f"could not decode ({type(exc).__name__}: {_short(exc)})")

