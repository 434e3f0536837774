"""Writers that take results out of the explorer: map tables, embeddings, Projector bundles, an HTML map.

Everything works on :class:`ExportRows` (the rows of a set: ids, sources, tag columns, vectors and,
when the set has pictures, JPEG thumbnails) and returns bytes or writes files; nothing here draws UI.

- ``map_frame`` / ``write_map_table``: ``id,source,tag,x,y[,z],neighbours_kept`` plus every extra tag
  column, as CSV or Parquet.
- ``embeddings_table`` / ``write_embeddings_parquet``: ``id``, ``source``, every tag column, ``vector``
  (list<float32>); ``npz_bytes``: the ``.npz`` of ``python -m explorer embed``.
- ``projector_files`` / ``write_projector`` / ``zip_bytes``: the TensorFlow Embedding Projector bundle
  (``tensors.tsv``, ``metadata.tsv``, ``sprite.png``, ``projector_config.json``).
- ``html_map``: one self-contained page (plotly.js inlined, thumbnails embedded) that makes no request.
- ``selection_csv`` / ``selection_images_zip``: a chosen subset of rows.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

import numpy as np

from explorer.figures import escape_text, map_figure, thumbnail_data_uri
from explorer.io.cache import atomic_write  # the one atomic writer (temporary file, fsync, rename)
from explorer.io.interop import CONFIG, METADATA, TENSORS
from explorer.io.names import csv_cell, display_name
from explorer.io.store import save_embeddings

SPRITE_MAX_SIDE = 8192  # the Projector (WebGL textures) reads sprites up to 8,192 px a side
SPRITE_CELL_MAX = 96  # a cell is never larger than the thumbnails it is made from
MAP_COLUMNS = ("id", "source", "tag", "x", "y", "z", "neighbours_kept")
HTML_CLICK_HINT = "click: show the image"
# The HTML map carries every thumbnail; past these counts they are re-encoded smaller to bound the file
# (96 px JPEGs are ~3 KB each: 100,000 of them would make a 300 MB page).
HTML_THUMB_SIDES = ((2_000, None), (20_000, 64), (None, 40))


@dataclass
class ExportRows:
    """The rows to export. ``columns`` maps every tag column name to its values (``"tag"`` first)."""

    ids: list[str]
    sources: list[str]
    columns: dict[str, list[str]]
    vectors: np.ndarray | None = None
    thumbnails: list[bytes] | None = None  # JPEG bytes per row, None for a set without pictures
    embedder_name: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        n = len(self.ids)
        lengths = {len(self.sources), *(len(v) for v in self.columns.values())}
        if self.thumbnails is not None:
            lengths.add(len(self.thumbnails))
        if self.vectors is not None:
            lengths.add(int(np.asarray(self.vectors).shape[0]))
        if lengths - {n}:
            raise ValueError(f"export rows disagree in length: {sorted(lengths | {n})}")
        if "tag" not in self.columns:
            raise ValueError("export rows need a 'tag' column")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def tags(self) -> list[str]:
        return self.columns["tag"]

    def extra_columns(self, reserved: Sequence[str]) -> dict[str, list[str]]:
        """Tag columns other than ``tag``; a name clashing with ``reserved`` gets a ``tag_`` prefix."""
        out = {}
        for name, values in self.columns.items():
            if name == "tag":
                continue
            while name in reserved or name in out:
                name = f"tag_{name}"
            out[name] = values
        return out

    def require_vectors(self) -> np.ndarray:
        if self.vectors is None:
            raise ValueError("this set has no vectors to export")
        return np.ascontiguousarray(self.vectors, dtype=np.float32)


# ----------------------------------------------------------------------------------------- maps

def map_frame(rows: ExportRows, coords: np.ndarray, kept: np.ndarray | None = None):
    """A pandas DataFrame ``id,source,tag,x,y[,z],neighbours_kept`` + every extra tag column (NaN = off the map)."""
    import pandas as pd

    coords = np.asarray(coords, dtype=np.float64)
    n = len(rows)
    if coords.ndim != 2 or coords.shape != (n, coords.shape[1]) or coords.shape[1] not in (2, 3):
        raise ValueError(f"coords must have shape ({n}, 2|3), got {coords.shape}")
    kept = np.full(n, np.nan) if kept is None else np.asarray(kept, dtype=np.float64)
    data: dict[str, object] = {"id": rows.ids, "source": rows.sources, "tag": rows.tags}
    for axis, name in enumerate("xyz"[: coords.shape[1]]):
        data[name] = coords[:, axis]
    data["neighbours_kept"] = kept
    data.update(rows.extra_columns(MAP_COLUMNS))
    return pd.DataFrame(data)


def map_table_bytes(frame, fmt: str) -> bytes:
    """The map table as ``csv`` (UTF-8, formula-safe text cells) or ``parquet`` bytes."""
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    if fmt != "csv":
        raise ValueError(f"unknown table format {fmt!r}; use csv or parquet")
    return frame_csv_bytes(frame)


def write_map_table(path: str | os.PathLike, frame) -> Path:
    """Write the map table as Parquet (``.parquet``) or CSV (anything else), atomically."""
    path = Path(path)
    fmt = "parquet" if path.suffix.lower() == ".parquet" else "csv"
    return atomic_write(path, map_table_bytes(frame, fmt))


def frame_csv_bytes(frame) -> bytes:
    """CSV of ``frame`` with every text cell and header made inert (:func:`export_cell`). Text is any column
    that is not numbers or booleans: ``object``, pandas' ``str``/``string`` dtypes, categories."""
    import pandas as pd

    safe = frame.copy()
    for column in frame.columns:
        kind = frame[column].dtype
        if not (pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_bool_dtype(kind)):
            safe[column] = pd.Series([export_cell(v) for v in frame[column]], index=frame.index, dtype=object)
    safe.columns = [export_cell(c) for c in frame.columns]
    return safe.to_csv(index=False, float_format="%.6g", lineterminator="\n").encode("utf-8")


def export_cell(value: object) -> str:
    """A text cell as it leaves in any CSV/TSV: control and bidi characters replaced (display_name; this
    also removes tabs and newlines), then a leading formula character quoted (csv_cell)."""
    return csv_cell(display_name("" if value is None else str(value), max_length=10_000))


# ----------------------------------------------------------------------------------------- embeddings

def embeddings_table(rows: ExportRows):
    """A pyarrow Table: ``id``, ``source``, every tag column, ``vector`` list<float32>; embedder in metadata."""
    import pyarrow as pa

    vectors = rows.require_vectors()
    n, d = vectors.shape
    arrays = {"id": pa.array(rows.ids, pa.string()), "source": pa.array(rows.sources, pa.string()),
              "tag": pa.array(rows.tags, pa.string())}
    for name, values in rows.extra_columns(("id", "source", "tag", "vector")).items():
        arrays[name] = pa.array([str(v) for v in values], pa.string())
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32) if n * d < 2**31 else
                       np.arange(0, (n + 1) * d, d, dtype=np.int64))
    values = pa.array(vectors.reshape(-1), pa.float32())
    lists = (pa.ListArray if offsets.type == pa.int32() else pa.LargeListArray).from_arrays(offsets, values)
    if offsets.type != pa.int32():
        lists = lists.cast(pa.large_list(pa.float32()))
    arrays["vector"] = lists
    meta = {b"embedder": rows.embedder_name.encode("utf-8"), b"dims": str(d).encode()} if rows.embedder_name else None
    return pa.Table.from_pydict(arrays, metadata=meta)


def embeddings_parquet_bytes(rows: ExportRows) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(embeddings_table(rows), buffer)
    return buffer.getvalue()


def write_embeddings_parquet(path: str | os.PathLike, rows: ExportRows) -> Path:
    return atomic_write(Path(path), embeddings_parquet_bytes(rows))


def npz_bytes(rows: ExportRows) -> bytes:
    """The ``.npz`` that ``python -m explorer embed`` writes, for these rows."""
    record = SimpleNamespace(ids=rows.ids, sources=rows.sources, tags=rows.tags,
                             extra_tags={k: v for k, v in rows.columns.items() if k != "tag"})
    with tempfile.TemporaryDirectory(prefix="fse-npz-") as folder:
        path = Path(folder) / "vectors.npz"
        save_embeddings(path, record, rows.require_vectors(), rows.embedder_name or None)
        return path.read_bytes()


# ----------------------------------------------------------------------------------------- projector

def sprite_png(thumbnails: Sequence[bytes], *, max_side: int = SPRITE_MAX_SIDE,
               cell_max: int = SPRITE_CELL_MAX) -> tuple[bytes, int]:
    """(PNG bytes, cell side): the images in a square grid in row order, each shrunk to fit its cell.

    The grid has ``ceil(sqrt(n))`` cells a side and the picture is at most ``max_side`` px a side.
    """
    from PIL import Image

    n = len(thumbnails)
    if n == 0:
        raise ValueError("no images for a sprite")
    grid = math.ceil(math.sqrt(n))
    cell = min(cell_max, max_side // grid)
    if cell < 1:
        raise ValueError(f"{n:,} images do not fit a {max_side:,} px sprite")
    sheet = Image.new("RGB", (grid * cell, grid * cell), "white")
    for i, jpeg in enumerate(thumbnails):
        with Image.open(io.BytesIO(jpeg)) as im:
            im.draft("RGB", (cell, cell))  # JPEG decodes at a reduced scale directly: much faster for small cells
            im = im.convert("RGB")
            im.thumbnail((cell, cell))
            row, col = divmod(i, grid)
            sheet.paste(im, (col * cell + (cell - im.width) // 2, row * cell + (cell - im.height) // 2))
    buffer = io.BytesIO()
    sheet.save(buffer, "PNG", compress_level=1)  # measured: half the time of level 3 for 6% more bytes
    return buffer.getvalue(), cell


def _tsv_cell(value: object) -> str:
    # The Projector splits rows on newlines and cells on tabs; neither may appear inside a value, and a
    # spreadsheet opening metadata.tsv must not run a formula: the one guard of every export.
    return export_cell(re.sub(r"[\t\r\n]+", " ", str(value)))


def tensors_tsv(vectors: np.ndarray) -> bytes:
    """One row per point, tab-separated floats, no header; 9 significant digits round-trip float32 exactly."""
    buffer = io.StringIO()
    np.savetxt(buffer, np.asarray(vectors, dtype=np.float32), fmt="%.9g", delimiter="\t", newline="\n")
    return buffer.getvalue().encode("ascii")


def metadata_tsv(rows: ExportRows) -> bytes:
    """A header row, then one row per point: ``id``, ``source``, ``tag`` and every extra tag column."""
    extra = rows.extra_columns(("id", "source", "tag"))
    header = ["id", "source", "tag", *extra]
    lines = ["\t".join(_tsv_cell(h) for h in header)]
    for i in range(len(rows)):
        cells = [rows.ids[i], rows.sources[i], rows.tags[i], *(values[i] for values in extra.values())]
        lines.append("\t".join(_tsv_cell(c) for c in cells))
    return ("\n".join(lines) + "\n").encode("utf-8")


def projector_files(rows: ExportRows, *, tensor_name: str = "") -> dict[str, bytes]:
    """The bundle's files by name: tensors.tsv, metadata.tsv, sprite.png (when there are pictures), config."""
    vectors = rows.require_vectors()
    files = {TENSORS: tensors_tsv(vectors), METADATA: metadata_tsv(rows)}
    embedding: dict = {"tensorName": tensor_name or rows.name or "embeddings",
                       "tensorShape": [int(vectors.shape[0]), int(vectors.shape[1])],
                       "tensorPath": TENSORS, "metadataPath": METADATA}
    if rows.thumbnails:
        files["sprite.png"], cell = sprite_png(rows.thumbnails)
        embedding["sprite"] = {"imagePath": "sprite.png", "singleImageDim": [cell, cell]}
    files[CONFIG] = json.dumps({"embeddings": [embedding]}, indent=2).encode("utf-8")
    return files


def write_projector(out_dir: str | os.PathLike, rows: ExportRows, *, tensor_name: str = "") -> dict[str, Path]:
    """Write the bundle into ``out_dir`` (created if needed); returns the written paths by file name."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    files = projector_files(rows, tensor_name=tensor_name)
    out.mkdir(parents=True, exist_ok=True)
    stale = out / "sprite.png"
    if "sprite.png" not in files and stale.exists():
        stale.unlink()  # a sprite left from an earlier export would not match these rows
    return {name: atomic_write(out / name, data) for name, data in files.items()}


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A ZIP of ``{member name: bytes}`` (PNG/JPEG members stored, text deflated)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            packed = name.lower().endswith((".png", ".jpg", ".jpeg", ".parquet"))
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED if packed else zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------- selection

def selection_csv(rows: ExportRows, indices: Sequence[int]) -> bytes:
    """CSV of the chosen rows: ``id``, ``source`` (the image's name), ``tag`` and every extra tag column."""
    import pandas as pd

    idx = [int(i) for i in indices]
    data = {"id": [rows.ids[i] for i in idx], "source": [rows.sources[i] for i in idx],
            "tag": [rows.tags[i] for i in idx]}
    data.update({k: [v[i] for i in idx] for k, v in rows.extra_columns(("id", "source", "tag")).items()})
    return frame_csv_bytes(pd.DataFrame(data, dtype=object))


def selection_images_zip(rows: ExportRows, indices: Sequence[int]) -> bytes:
    """A ZIP with one folder per tag holding the chosen images (their JPEG thumbnails), loadable as a set."""
    if rows.thumbnails is None:
        raise ValueError("this set has no pictures")
    files: dict[str, bytes] = {}
    for i in indices:
        i = int(i)
        stem = _safe_name(Path(rows.sources[i]).stem) or rows.ids[i]
        name = f"{_safe_name(rows.tags[i]) or 'untagged'}/{stem}.jpg"
        if name in files:
            name = name[:-4] + f"_{_safe_name(rows.ids[i])}.jpg"
        files[name] = rows.thumbnails[i]
    return zip_bytes(files)


def _safe_name(text: str, limit: int = 80) -> str:
    """A file-name part: no separators, no leading dots, no control characters."""
    cleaned = re.sub(r"[^\w\- .~()]+", "_", str(text), flags=re.UNICODE).strip(" .")
    return cleaned[:limit]


# ----------------------------------------------------------------------------------------- html

def html_map(rows: ExportRows, coords: np.ndarray, *, title: str = "", tag_column: str = "tag",
             method_note: str = "") -> str:
    """One self-contained HTML page: the map coloured by ``tag_column``, hover name + tag, click shows the image.

    plotly.js is inlined from the installed plotly package and the thumbnails are data URIs, so the page
    opens from disk, offline, without a single request.
    """
    import plotly.offline

    tags = rows.columns[tag_column]
    fig = map_figure(coords, tags=tags, sources=rows.sources, tag_name=tag_column, height=760)
    for trace in fig.data:
        trace.hovertemplate = "%{text}" + (f"<br><i>{HTML_CLICK_HINT}</i>" if rows.thumbnails else "") + "<extra></extra>"
    fig.update_layout(dragmode="zoom" if np.asarray(coords).shape[1] == 2 else "orbit")
    payload = {"names": [display_name(s, max_length=1000) for s in rows.sources],
               "tags": [display_name(str(t), max_length=1000) for t in tags], "ids": rows.ids,
               "thumbs": [thumbnail_data_uri(t) for t in _html_thumbnails(rows.thumbnails)] if rows.thumbnails else None}
    plot = fig.to_html(full_html=False, include_plotlyjs=False, div_id="map",
                       config={"displaylogo": False, "responsive": True, "scrollZoom": True,
                               "showSendToCloud": False})
    heading = escape_text(display_name(title or rows.name or "Feature space map", max_length=300))
    about = escape_text(f"{len(rows):,} images" + (f" · embedded with {rows.embedder_name}" if rows.embedder_name else "")
                        + (f" · {method_note}" if method_note else ""))
    page = _HTML.format(title=heading, about=about, plotlyjs=_script_safe(plotly.offline.get_plotlyjs()),
                        plot=plot, data=_json_for_script(payload), tag_name=escape_text(tag_column),
                        click="click it to see the image" if rows.thumbnails else "click it for its name (no pictures in this set)")
    webgl_2d = any(getattr(trace, "type", "") == "scattergl" for trace in fig.data)
    return page.replace(_CSP_SLOT, html_csp(page, allow_eval=webgl_2d), 1)


_CSP_SLOT = "__FSE_CSP__"
_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def html_csp(page: str, *, allow_eval: bool = False) -> str:
    """The page's Content-Security-Policy: only its own inline scripts run, each named by its SHA-256 (never
    'unsafe-inline'), and no request leaves the page. plotly.js draws SVG and 3D maps without eval; its 2D
    WebGL maps (``scattergl``, above ``figures.WEBGL_THRESHOLD`` points) compile their draw calls with
    ``Function()`` (regl), so ``allow_eval`` adds 'unsafe-eval' for those pages only (checked in Chromium)."""
    hashes = sorted({"'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode() + "'"
                     for body in _SCRIPT.findall(page)})
    scripts = " ".join(hashes + (["'unsafe-eval'"] if allow_eval else []))
    return (f"default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; img-src data: blob:; "
            "font-src data:; base-uri 'none'; form-action 'none'")


def _html_thumbnails(thumbnails: Sequence[bytes]) -> list[bytes]:
    """The thumbnails as they are for small sets, re-encoded smaller for large ones (see HTML_THUMB_SIDES)."""
    from PIL import Image

    n = len(thumbnails)
    side = next(s for limit, s in HTML_THUMB_SIDES if limit is None or n <= limit)
    if side is None:
        return list(thumbnails)
    out = []
    for jpeg in thumbnails:
        with Image.open(io.BytesIO(jpeg)) as im:
            im = im.convert("RGB")
            im.thumbnail((side, side))
            buffer = io.BytesIO()
            im.save(buffer, "JPEG", quality=75)
        out.append(buffer.getvalue())
    return out


def _json_for_script(value: object) -> str:
    # Inside <script>, "</script>" or "<!--" in a user string would end the block: escape < > & in JSON.
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") \
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _script_safe(js: str) -> str:
    return js.replace("</script", "<\\/script")


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="__FSE_CSP__">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; }}
header {{ padding: 10px 18px; border-bottom: 1px solid #ddd; }}
header h1 {{ font-size: 20px; margin: 0 0 2px 0; }} header p {{ margin: 0; color: #555; font-size: 14px; }}
main {{ display: flex; gap: 12px; padding: 8px 12px; }}
#plot {{ flex: 3; min-width: 0; order: 1; }} #panel {{ flex: 1; min-width: 220px; padding-top: 10px; order: 2; }}
#shown {{ width: 100%; max-width: 360px; border: 1px solid #ccc; display: none; }}
#caption {{ font-size: 14px; word-break: break-all; }}
</style></head>
<body>
<script>{plotlyjs}</script>
<header><h1>{title}</h1><p>{about}. Hover a point for its name and {tag_name}; {click}.</p></header>
<main><div id="panel"><img id="shown" alt="the clicked image"><div id="caption">Click a point on the map.</div></div>
<div id="plot">{plot}</div></main>
<script>
var FSE = {data};
function fseShow(i) {{
  var img = document.getElementById("shown"), cap = document.getElementById("caption");
  cap.textContent = FSE.names[i] + " \\u2014 " + FSE.tags[i];
  if (FSE.thumbs) {{ img.src = FSE.thumbs[i]; img.style.display = "block"; img.title = FSE.names[i]; }}
}}
(function attach() {{
  var gd = document.getElementById("map");
  if (!gd || !gd.on) {{ return setTimeout(attach, 50); }}
  gd.on("plotly_click", function (e) {{
    if (e && e.points && e.points.length) {{ fseShow(Number(e.points[0].customdata)); }}
  }});
}})();
</script>
</body></html>
"""


__all__ = ["ExportRows", "map_frame", "map_table_bytes", "write_map_table", "embeddings_table",
           "embeddings_parquet_bytes", "write_embeddings_parquet", "npz_bytes", "sprite_png", "tensors_tsv",
           "metadata_tsv", "projector_files", "write_projector", "zip_bytes", "selection_csv",
           "selection_images_zip", "html_map"]
