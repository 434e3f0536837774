"""Generates a hostile corpus (folder and ZIP) together with the exact outcome a safe loader must produce.

Importable by any test: ``build_folder(root)`` / ``build_zip()`` write the files and return an
``Expected`` listing which display names load (with their tag) and which are skipped (with a reason
fragment). Everything is generated; nothing is downloaded.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

REPLACEMENT = "\ufffd"


@dataclass
class Expected:
    """loaded: display name -> tag; skipped: display name -> reason fragment; notes: name -> note fragment."""

    loaded: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


# --- image bytes ---------------------------------------------------------------------------------

def photo(width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    """A smooth, photo-like RGB array (gradients plus a disc plus mild noise), shape (height, width, 3)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / max(width, 1), y / max(height, 1), 0.5 + 0.0 * x], axis=-1) * 200
    disc = (x - width * 0.6) ** 2 + (y - height * 0.4) ** 2 < (min(width, height) * 0.25) ** 2
    base[disc] = rng.uniform(40, 250, 3)
    base += rng.normal(0, 4, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    im.save(out, format=fmt, **kwargs)
    return out.getvalue()


def jpeg(width: int = 64, height: int = 48, seed: int = 0, **kwargs) -> bytes:
    return encode(Image.fromarray(photo(width, height, seed)), "JPEG", quality=90, **kwargs)


def png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    return encode(Image.fromarray(photo(width, height, seed)), "PNG")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height``: a decompression bomb as far as headers go."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def exif_rotated_jpeg() -> bytes:
    """Stored 60x30, left half red, right half blue, EXIF orientation 6: displayed 30x60, red on top."""
    arr = np.zeros((30, 60, 3), np.uint8)
    arr[:, :30] = (220, 20, 20)
    arr[:, 30:] = (20, 20, 220)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6
    return encode(im, "JPEG", quality=95, exif=exif.tobytes())


def mode_images() -> dict[str, tuple[bytes, str]]:
    """File name -> (bytes, note fragment expected, "" for none) for every colour mode we must convert."""
    rgb = Image.fromarray(photo(40, 30, 3))
    rgba = rgb.convert("RGBA")
    alpha = np.zeros((30, 40), np.uint8)
    alpha[:, 20:] = 255
    rgba.putalpha(Image.fromarray(alpha))
    ramp16 = (np.linspace(1000, 3000, 40 * 30).reshape(30, 40)).astype(np.uint16)
    ramp32 = (np.linspace(-50000, 90000, 40 * 30).reshape(30, 40)).astype(np.int32)
    rampf = np.linspace(-1.0, 1.0, 40 * 30).reshape(30, 40).astype(np.float32)
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 0
    return {
        "mode_P.png": (encode(pal, "PNG"), ""),
        "mode_P_transparent.png": (encode(pal_t, "PNG", transparency=0), "transparency"),
        "mode_RGBA.png": (encode(rgba, "PNG"), "transparency"),
        "mode_LA.png": (encode(rgba.convert("LA"), "PNG"), "transparency"),
        "mode_CMYK.jpg": (encode(rgb.convert("CMYK"), "JPEG", quality=90), "CMYK"),
        "mode_I16.png": (encode(Image.fromarray(ramp16), "PNG"), "16-bit rescaled from range [1000, 3000]"),
        "mode_I.tif": (encode(Image.fromarray(ramp32, "I"), "TIFF"), "32-bit integer rescaled"),
        "mode_F.tif": (encode(Image.fromarray(rampf, "F"), "TIFF"),
                       "floating-point rescaled from range [-1, 1]"),
        "mode_1.png": (encode(rgb.convert("1"), "PNG"), ""),
        "mode_L.png": (encode(rgb.convert("L"), "PNG"), ""),
    }


def animations() -> dict[str, tuple[bytes, str]]:
    frames = [Image.fromarray(photo(32, 32, s)) for s in range(3)]
    return {
        "anim.gif": (encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0),
                     "first frame of 3"),
        "anim.webp": (encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50),
                      "first frame of 3"),
        "pages.tif": (encode(frames[0], "TIFF", save_all=True, append_images=frames[1:2]), "first page of 2"),
    }


# --- folder --------------------------------------------------------------------------------------

def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def build_folder(root: Path, outside: Path) -> Expected:
    """Write the hostile folder at ``root``; ``outside`` is a sibling folder symlinks may point into."""
    ex = Expected()
    root.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    formats = {"a.jpg": jpeg(), "b.png": png(seed=1), "c.gif": encode(Image.fromarray(photo(seed=2)), "GIF"),
               "d.webp": encode(Image.fromarray(photo(seed=3)), "WEBP"),
               "e.bmp": encode(Image.fromarray(photo(seed=4)), "BMP"),
               "f.tiff": encode(Image.fromarray(photo(seed=5)), "TIFF"),
               # renamed files: detected by content, whatever the suffix says
               "png_named.jpg": png(seed=6), "jpeg_named.txt": jpeg(seed=7), "no_suffix": jpeg(seed=8)}
    for name, data in formats.items():
        _write(root / "formats" / name, data)
        ex.loaded[f"formats/{name}"] = "formats"
    for name, (data, note) in {**mode_images(), **animations()}.items():
        _write(root / "modes" / name, data)
        ex.loaded[f"modes/{name}"] = "modes"
        if note:
            ex.notes[f"modes/{name}"] = note
    _write(root / "shapes" / "one_pixel.png", encode(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"))
    _write(root / "shapes" / "wide_4000x3.png", encode(Image.fromarray(photo(4000, 3, 9)), "PNG"))
    _write(root / "shapes" / "tall_3x4000.jpg", jpeg(3, 4000, 10))
    _write(root / "shapes" / "exif_rotated.jpg", exif_rotated_jpeg())
    ex.loaded.update({f"shapes/{n}": "shapes" for n in
                      ("one_pixel.png", "wide_4000x3.png", "tall_3x4000.jpg", "exif_rotated.jpg")})
    ex.notes["shapes/wide_4000x3.png"] = "extreme aspect ratio (4000x3)"
    _write(root / "root_image.png", png(seed=11))
    ex.loaded["root_image.png"] = "untagged"
    _bad_files(root, ex)
    _junk(root, ex)
    _names(root, ex)
    _links(root, outside, ex)
    return ex


def _bad_files(root: Path, ex: Expected) -> None:
    good = jpeg(200, 150, 12)
    bad = {
        "empty.jpg": (b"", "empty file"),
        "text_named.png": (b"hello, I am a text file\n" * 10, "not an image"),
        "paper.jpg": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "not an image (PDF"),
        "figure.eps": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
                       "not an image (PostScript"),
        "truncated.jpg": (good[: len(good) // 2], "truncated"),
        "bomb_400mpx.png": (png_header_only(20000, 20000), "too large: 400 Mpx > limit 64 Mpx"),
        "bomb_80mpx.png": (png_header_only(10000, 8000), "too large: 80 Mpx > limit 64 Mpx"),
        "garbage_body.png": (png_header_only(64, 64)[:33] + b"\x00\x00\x00\x10IDAT" + bytes(range(7, 23))
                             + b"\0" * 4,
                             "damaged image data"),
        "inner.zip": (_simple_zip({"x.jpg": jpeg()}), "archive, not opened"),
    }
    for name, (data, reason) in bad.items():
        _write(root / "bad" / name, data)
        ex.skipped[f"bad/{name}"] = reason
    ex.loaded["bad/fine.jpg"] = "bad"  # good files beside bad ones are not lost
    _write(root / "bad" / "fine.jpg", good)


def _junk(root: Path, ex: Expected) -> None:
    for rel in (".DS_Store", "formats/.DS_Store", "formats/._a.jpg", "__MACOSX/formats/._a.jpg",
                "Thumbs.db", "formats/desktop.ini"):
        _write(root / rel, b"\x00\x05\x16\x07junk" * 8)
        ex.ignored.append(rel)


def _names(root: Path, ex: Expected) -> None:
    folder = os.fsencode(root / "names")
    os.makedirs(folder, exist_ok=True)
    for raw, shown in ((b"caf\xe9_latin1.jpg", f"caf{REPLACEMENT}_latin1.jpg"),
                       (b"line\nbreak.jpg", f"line{REPLACEMENT}break.jpg"),
                       ("bidi\u202egpj.exe.jpg".encode(), f"bidi{REPLACEMENT}gpj.exe.jpg"),
                       (b"; rm -rf ~ $(x).jpg", "; rm -rf ~ $(x).jpg"),
                       ("\u65e5\u672c.jpg".encode(), "\u65e5\u672c.jpg")):
        with open(os.path.join(folder, raw), "wb") as fh:
            fh.write(jpeg(seed=len(raw)))
        ex.loaded[f"names/{shown}"] = "names"


def _links(root: Path, outside: Path, ex: Expected) -> None:
    _write(outside / "secret.jpg", jpeg(seed=20))
    links = root / "links"
    links.mkdir(exist_ok=True)
    os.symlink(outside / "secret.jpg", links / "to_outside.jpg")
    os.symlink(outside, links / "to_outside_dir")
    os.symlink("../formats/a.jpg", links / "to_inside.jpg")
    os.symlink("../formats", links / "to_inside_dir")
    os.symlink("missing.jpg", links / "broken.jpg")
    os.mkfifo(links / "pipe.jpg")
    ex.skipped.update({"links/to_outside.jpg": "symbolic link leaving the folder",
                       "links/to_outside_dir": "symbolic link leaving the folder",
                       "links/to_inside_dir": "symbolic link to a folder",
                       "links/broken.jpg": "broken symbolic link",
                       "links/pipe.jpg": "not a regular file"})
    ex.loaded["links/to_inside.jpg"] = "links"


# --- zip -----------------------------------------------------------------------------------------

def _simple_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def patch_central(data: bytes, member: str, *, flags_or: int = 0, file_size: int | None = None,
                  external_attr: int | None = None) -> bytes:
    """Rewrite fields of ``member``'s central-directory record (and local flags): a lying archive."""
    buf = bytearray(data)
    pos = buf.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = struct.unpack_from("<H", buf, pos + 28)[0]
        if bytes(buf[pos + 46: pos + 46 + name_len]).decode() == member:
            flags = struct.unpack_from("<H", buf, pos + 8)[0] | flags_or
            struct.pack_into("<H", buf, pos + 8, flags)
            if file_size is not None:
                struct.pack_into("<I", buf, pos + 24, file_size)
            if external_attr is not None:
                struct.pack_into("<I", buf, pos + 38, external_attr)
            local = struct.unpack_from("<I", buf, pos + 42)[0]
            struct.pack_into("<H", buf, local + 6, struct.unpack_from("<H", buf, local + 6)[0] | flags_or)
            return bytes(buf)
        pos = buf.find(b"PK\x01\x02", pos + 4)
    raise KeyError(member)


def build_zip() -> tuple[bytes, Expected]:
    """A hostile archive laid out as a tagged folder inside one wrapper folder ``set/``."""
    ex = Expected()
    members = {
        "set/cats/a.jpg": jpeg(seed=30), "set/cats/b.png": png(seed=31), "set/dogs/c.jpg": jpeg(seed=32),
        "set/root.jpg": jpeg(seed=33),
        "../evil.jpg": jpeg(seed=34), "/abs.jpg": jpeg(seed=35), "C:/win.jpg": jpeg(seed=36),
        "set/cats/../../up.jpg": jpeg(seed=37), "..\\back.jpg": jpeg(seed=38),
        "set/cats/inner.zip": _simple_zip({"x.jpg": jpeg()}),
        "__MACOSX/set/cats/._a.jpg": b"junk", "set/cats/.DS_Store": b"junk",
        "set/dogs/locked.jpg": jpeg(seed=39), "set/dogs/broken.jpg": jpeg(seed=40),
        "set/dogs/bomb.bmp": b"\x00" * (8 * 1024 * 1024), "set/dogs/liar.bmp": b"\x00" * (4 * 1024 * 1024),
        "set/dogs/link.jpg": b"/etc/passwd", "set/dogs/notes.txt": b"just text",
    }
    data = _simple_zip(members)
    data = patch_central(data, "set/dogs/locked.jpg", flags_or=0x1)
    data = patch_central(data, "set/dogs/liar.bmp", file_size=1000)
    data = patch_central(data, "set/dogs/link.jpg", external_attr=(0o120777 << 16))
    data = _corrupt_member(data, "set/dogs/broken.jpg")
    ex.loaded.update({"set/cats/a.jpg": "cats", "set/cats/b.png": "cats", "set/dogs/c.jpg": "dogs",
                      "set/root.jpg": "untagged"})
    ex.skipped.update({n: "unsafe path in archive" for n in
                       ("../evil.jpg", "/abs.jpg", "C:/win.jpg", "set/cats/../../up.jpg", "..\\back.jpg")})
    ex.skipped.update({"set/cats/inner.zip": "nested archive, not opened",
                       "set/dogs/locked.jpg": "encrypted, not opened",
                       "set/dogs/broken.jpg": "damaged in archive",
                       "set/dogs/bomb.bmp": "suspicious compression ratio",
                       "set/dogs/liar.bmp": "damaged in archive (bad CRC)",
                       "set/dogs/link.jpg": "symbolic link in archive",
                       "set/dogs/notes.txt": "not an image"})
    ex.ignored += ["__MACOSX/set/cats/._a.jpg", "set/cats/.DS_Store"]
    return data, ex


def _corrupt_member(data: bytes, member: str) -> bytes:
    """Overwrite the middle of a member's compressed bytes so inflating or the CRC check fails."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(member)
    local = info.header_offset
    name_len, extra_len = struct.unpack_from("<HH", data, local + 26)
    start = local + 30 + name_len + extra_len
    middle = start + info.compress_size // 3
    buf = bytearray(data)
    buf[middle: middle + 64] = bytes((b ^ 0x5A) for b in buf[middle: middle + 64])
    return bytes(buf)
