"""The shared, cached state every page works on: the loaded set, its vectors, maps, neighbours, selection.

API for pages (keep it small; the story pages use it too):

- ``current_workspace() -> Workspace | None`` — the set chosen in the sidebar, embedded with the chosen
  embedder. ``None`` means nothing is loaded (a message was already drawn); the page should ``st.stop()``.
- ``Workspace`` fields: ``name``, ``images`` (ImageSet, or None for an .npz without pictures), ``ids``,
  ``sources``, ``tags`` (the chosen tag column), ``tag_column``, ``tag_columns``, ``vectors`` (n, d)
  float32, ``embedder_name``, ``embedder`` (None for an .npz), ``key`` (content key of set + embedder),
  ``skipped``; ``ws.column(name)`` gives any tag column; ``len(ws)`` the number of images.
- ``get_projection(ws, method=, dims=, perplexity=, seed=, on_layout=None) -> Projection`` — cached by
  content; ``on_layout(iteration, coords)`` sees intermediate t-SNE layouts on a cache miss.
- ``get_neighbours(ws, k) -> (indices (n, k), cosine distances (n, k))`` — cached.
- ``thumbnail_uris(ws, side) -> list[str]`` — data-URI JPEGs, cached; ``thumbnail(ws, i)`` raw bytes.
- ``focus_row() / set_focus_row(i)`` and ``selected_rows() / set_selected_rows(rows)`` — the image the user
  clicked and the box/lasso selection, shared across pages (per browser session).
- ``memo(kind, key, compute)`` — a bounded process-wide cache for any other expensive, content-keyed step.

Caching: sets, vectors and maps live in bounded process-wide stores keyed by content hashes (never by
session), so a colour or page change recomputes nothing and a perplexity change never re-embeds.
Uploaded images live only in the uploading session's ``st.session_state``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import streamlit as st

from explorer.imageset import ImageSet, SkippedFile
from ui.safe import md

# Session keys (one place, so pages and tests agree).
CHOICE_KEY = "fse_choice"
FOCUS_KEY = "fse_focus_row"
SELECTED_KEY = "fse_selected_rows"
BATCHES_KEY = "fse_upload_batches"

DEFAULT_SOURCE = "demo:hands"
# HOG by default: on the hands demo it is the cheapest embedder that shows the story on the first screen
# (objects form clusters, gestures overlap); raw pixels put nearly every image in one cloud. Measured here
# (quiet machine, cold cache): hog embed 0.9 s + t-SNE 1.9 s for 448 images; the essay's pixels method
# is one click away and is where the presenter mode starts.
DEFAULT_EMBEDDER = "hog"
MIN_IMAGES = 3


@dataclass(frozen=True)
class SourceChoice:
    """What the sidebar selected: ``kind`` is demo | upload | server | npz; ``ref`` the demo spec or path."""

    kind: str = "demo"
    ref: str = DEFAULT_SOURCE
    embedder: str = DEFAULT_EMBEDDER
    tag_column: str = "tag"
    manifest_tag_column: str | None = None


@dataclass
class Loaded:
    """A loaded source before embedding: an ImageSet, or the rows of an .npz of precomputed vectors."""

    key: str
    name: str
    images: ImageSet | None
    ids: list[str]
    sources: list[str]
    columns: dict[str, list[str]]
    skipped: list[SkippedFile] = field(default_factory=list)
    vectors: np.ndarray | None = None
    embedder_name: str = ""
    shard: Any = None  # explorer.cluster.ShardedSet for a folder from embed --workers (thumbnails, maps)


@dataclass
class Workspace:
    """The set every page shows; see the module docstring for the fields."""

    name: str
    key: str
    images: ImageSet | None
    ids: list[str]
    sources: list[str]
    tag_column: str
    columns: dict[str, list[str]]
    vectors: np.ndarray
    embedder_name: str
    embedder: Any = None
    skipped: list[SkippedFile] = field(default_factory=list)
    shard: Any = None  # explorer.cluster.ShardedSet: pictures and written maps stay in its Parquet files

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def tags(self) -> list[str]:
        return self.columns[self.tag_column]

    @property
    def tag_columns(self) -> list[str]:
        return list(self.columns)

    def column(self, name: str) -> list[str]:
        return self.columns[name]

    def label(self, i: int) -> str:
        """``"i · source (tag)"`` as plain text (for select boxes, not Markdown)."""
        return f"{i} · {self.sources[i]} ({self.tags[i]})"


# ----------------------------------------------------------------------------------------- caching

class _Store:
    """A small thread-safe LRU dict; Streamlit serves sessions from several threads."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self.data: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return True, self.data[key]
        return False, None

    def put(self, key, value) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.max_entries:
                self.data.popitem(last=False)


@st.cache_resource(show_spinner=False)
def _stores() -> dict[str, _Store]:
    return {"set": _Store(4), "vectors": _Store(8), "projection": _Store(24), "neighbours": _Store(16),
            "thumbs": _Store(8), "other": _Store(32)}


def memo(kind: str, key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per ``(kind, key)`` in this server process (bounded LRU); ``key`` must be hashable."""
    stores = _stores()
    store = stores.get(kind) or stores["other"]
    hit, value = store.get((kind, key))
    if hit:
        return value
    value = compute()
    store.put((kind, key), value)
    return value


def content_key(*parts: object) -> str:
    """A short SHA-256 over the parts' text (lists joined by newlines)."""
    h = hashlib.sha256()
    for part in parts:
        h.update((("\n".join(map(str, part)) if isinstance(part, (list, tuple)) else str(part)) + "\x1f").encode())
    return h.hexdigest()[:24]


@contextmanager
def progress_box(label: str) -> Iterator[Callable[[int, int, str], None]]:
    """A status box with a progress bar, removed when the step is done; yields a progress callback.

    ``label`` and the callback's messages are text (a label may quote a server path) and are escaped here:
    status labels and progress texts render Markdown.
    """
    holder = st.empty()
    with holder.status(md(label, max_length=200), expanded=True) as status:
        bar = st.progress(0.0, text=md(label, max_length=200))

        def progress(done: int, total: int, message: str = "") -> None:
            frac = min(max(done / total, 0.0), 1.0) if total else 1.0
            bar.progress(frac, text=md(f"{message or label}: {done:,}/{total:,}", max_length=200))

        yield progress
        status.update(state="complete")
    holder.empty()


# ----------------------------------------------------------------------------------------- loading

def load_choice(choice: SourceChoice) -> Loaded | None:
    """The loaded source for ``choice`` (cached); draws an error and returns None if it cannot load."""
    from explorer.sources import LoadError

    if choice.kind not in ("demo", "upload", "server", "npz") or not choice.ref:
        return None
    try:
        if choice.kind == "upload":
            return _load_uploads()
        if choice.kind in ("npz", "server") and _is_sharded(choice.ref):
            return memo("set", ("sharded", choice.ref, _sharded_mtime(choice.ref)), lambda: _load_sharded(choice.ref))
        if choice.kind == "npz":
            return memo("set", ("npz", choice.ref, _mtime(choice.ref)), lambda: _load_npz(choice.ref))
        spec = choice.ref
        key = ("src", spec, choice.manifest_tag_column, _mtime(spec))
        return memo("set", key, lambda: _load_source(spec, choice.manifest_tag_column))
    except LoadError as exc:  # messages quote file, folder and manifest column names: escape them
        st.error(f"Could not load this source: {md(exc, max_length=400)}")
        show_skipped(exc.skipped)
    except (OSError, ValueError, KeyError) as exc:
        st.error(f"Could not load this source: {md(exc, max_length=400)}")
    return None


def _mtime(path: str) -> float:
    import os

    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _from_image_set(images: ImageSet, key: str) -> Loaded:
    columns = {"tag": list(images.tags), **{k: list(v) for k, v in images.extra_tags.items() if k != "tag"}}
    return Loaded(key=key, name=images.name, images=images, ids=list(images.ids), sources=list(images.sources),
                  columns=columns, skipped=list(images.skipped))


def _load_source(spec: str, manifest_tag_column: str | None) -> Loaded:
    from explorer.sources import load_source

    with progress_box(f"Loading {spec}") as progress:
        images = load_source(spec, tag_column=manifest_tag_column, progress=progress)
    return _from_image_set(images, content_key(images.hashes, images.tags, images.image_size))


def _load_npz(path: str) -> Loaded:
    from explorer.store import load_embeddings

    data = load_embeddings(path)
    vectors = np.asarray(data.vectors, dtype=np.float32)
    columns = {"tag": list(data.tags), **{k: list(v) for k, v in (data.extra_tags or {}).items() if k != "tag"}}
    key = content_key(data.ids, data.embedder, hashlib.sha256(vectors.tobytes()).hexdigest())
    return Loaded(key=key, name=str(path).rsplit("/", 1)[-1], images=None, ids=list(data.ids),
                  sources=list(data.sources), columns=columns, vectors=vectors, embedder_name=str(data.embedder))


def _is_sharded(path: str) -> bool:
    from explorer.cluster import is_sharded_folder

    return is_sharded_folder(path)


def _sharded_mtime(path: str) -> tuple:
    from pathlib import Path

    return tuple(_mtime(str(p)) for p in sorted(Path(path).glob("[_m]*.*")))  # _meta.json and map-*.parquet


def _load_sharded(path: str) -> Loaded:
    """A folder from ``embed --workers``: vectors and tags now, pictures per clicked point from the shards."""
    from explorer.cluster import open_sharded

    with progress_box(f"Reading the partitions of {path}") as progress:
        progress(0, 1, "reading")
        shard = open_sharded(path)
    data = shard.data
    columns = {"tag": list(data.tags), **{k: list(v) for k, v in data.extra_tags.items() if k != "tag"}}
    for method, mapped in shard.maps.items():  # lets the map be coloured by how each point got there
        columns[f"{method} map"] = np.where(mapped.fitted, "fitted", "placed").tolist()
    key = content_key(data.ids, data.embedder, shard.meta.get("plan"), _sharded_mtime(path))
    return Loaded(key=key, name=str(path).rstrip("/").rsplit("/", 1)[-1], images=None, ids=list(data.ids),
                  sources=list(data.sources), columns=columns, skipped=shard.skipped, vectors=data.vectors,
                  embedder_name=str(data.embedder), shard=shard)


def upload_batches() -> list[dict]:
    """This session's upload batches: dicts with ``id``, ``tag``, ``images`` (ImageSet), ``files``."""
    return st.session_state.setdefault(BATCHES_KEY, [])


def _load_uploads() -> Loaded | None:
    batches = [b for b in upload_batches() if len(b["images"])]
    if not batches:
        return None
    signature = tuple(b["id"] for b in batches)
    cached = st.session_state.get("fse_upload_joined")
    if cached is not None and cached[0] == signature:
        return cached[1]
    images = ImageSet.concatenate([b["images"] for b in batches], name="your images")
    loaded = _from_image_set(images, content_key(images.hashes, images.tags, images.image_size))
    st.session_state["fse_upload_joined"] = (signature, loaded)
    return loaded


# ----------------------------------------------------------------------------------------- embedding

def current_choice() -> SourceChoice:
    return st.session_state.get(CHOICE_KEY) or SourceChoice()


def current_workspace() -> Workspace | None:
    """The workspace for the sidebar's current choice, or None (with a message drawn) if nothing loads."""
    choice = current_choice()
    loaded = load_choice(choice)
    if loaded is None:
        if choice.kind == "upload":
            st.info("Drop images (or a ZIP of one folder per tag) on the uploader in the sidebar, give them "
                    "a tag and press **Add to set**. Add more batches with other tags to build one set.")
        elif choice.kind in ("server", "npz") and not choice.ref:
            st.info("Choose what to load in the sidebar.")
        return None
    if len(loaded.ids) < MIN_IMAGES:
        st.warning(f"Only {len(loaded.ids)} image(s) loaded: a map needs at least {MIN_IMAGES}. Add more images.")
        return None
    if loaded.vectors is not None:
        vectors, embedder, name = loaded.vectors, None, loaded.embedder_name
    else:
        try:
            vectors, embedder = _embed(loaded, choice.embedder)
        except Exception as exc:  # an optional embedder failing must not take the page down
            st.error(f"The embedder '{md(choice.embedder)}' failed: {type(exc).__name__}: {md(exc, max_length=300)}")
            return None
        name = choice.embedder
    column = choice.tag_column if choice.tag_column in loaded.columns else "tag"
    key = content_key(loaded.key, name)
    if st.session_state.get("fse_rows_of") not in (None, loaded.key):
        # row indices mean nothing in another set: forget the clicked image and the selection
        set_focus_row(None)
        set_selected_rows([])
    st.session_state["fse_rows_of"] = loaded.key
    return Workspace(name=loaded.name, key=key, images=loaded.images, ids=loaded.ids,
                     sources=loaded.sources, tag_column=column, columns=loaded.columns, vectors=vectors,
                     embedder_name=name, embedder=embedder, skipped=loaded.skipped, shard=loaded.shard)


def _embed(loaded: Loaded, embedder_name: str):
    from explorer.embedders import embed_set, get_embedder

    embedder = memo("other", ("embedder", embedder_name), lambda: get_embedder(embedder_name))

    def compute() -> np.ndarray:
        from explorer.cache import EmbeddingCache, default_cache_dir

        cache = EmbeddingCache(default_cache_dir())
        with progress_box(f"Embedding {len(loaded.ids):,} images with {embedder_name}") as progress:
            return np.asarray(embed_set(loaded.images, embedder, cache=cache, progress=progress), dtype=np.float32)

    vectors = memo("vectors", (loaded.key, embedder.cache_key), compute)
    return vectors, embedder


# ----------------------------------------------------------------------------------------- geometry

def get_projection(ws: Workspace, *, method: str = "pca", dims: int = 2, perplexity: float = 30.0, seed: int = 0,
                   on_layout: Callable[[int, np.ndarray], None] | None = None):
    """The map of ``ws.vectors`` (explorer.projection.Projection), cached by content and parameters."""
    from explorer.projection import pca_preview, project

    params = (method, int(dims), float(perplexity) if method == "tsne" else None, int(seed))
    shard = getattr(ws, "shard", None)  # duck-typed workspaces (tests, story pages) may not have one
    written = shard.maps.get(method) if shard is not None else None
    if written is not None and written.coords.shape[1] == int(dims):
        return _written_projection(written)

    def compute():
        if on_layout is not None and method == "tsne":
            # Something to look at at once: the linear view t-SNE starts from, before its imports and
            # neighbour search (seconds on a cold start) and its first iterations.
            on_layout(0, pca_preview(ws.vectors, n_components=int(dims)))
        return project(ws.vectors, method=method, n_components=int(dims), random_state=int(seed),
                       perplexity=float(perplexity), callback=on_layout, callback_every=25)

    return memo("projection", (ws.key, params), compute)


def _written_projection(written):
    """The map ``python -m explorer map DIR --fit-sample`` wrote, as a Projection (drawn, never recomputed)."""
    from explorer.projection import Projection

    coords = np.asarray(written.coords, dtype=np.float32)
    off = np.flatnonzero(~np.isfinite(coords).all(axis=1))
    return Projection(coords=coords, method=written.method,
                      params={"source": written.path.name, "fitted": int(written.fitted.sum())},
                      notes=[written.note() + " Colour by the tag column "
                             f"'{written.method} map' to see which is which; this map was computed by the "
                             "command line, so the perplexity slider does not change it."],
                      excluded={int(i): "no usable vector (zero or not finite)" for i in off})


def get_neighbours(ws: Workspace, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices (n, k) int64, cosine distances (n, k)) of every row's k nearest neighbours, itself excluded."""
    from explorer.distances import knn

    k = int(max(1, min(k, len(ws) - 1)))
    return memo("neighbours", (ws.key, k), lambda: knn(ws.vectors, k, metric="cosine", exclude_self=True))


def thumbnail(ws: Workspace, i: int) -> bytes | None:
    if ws.images is not None:
        return ws.images.thumbnails[i]
    if getattr(ws, "shard", None) is not None:  # read per clicked point from its partition file
        from explorer.cluster import read_thumbnail

        return memo("other", ("shard-thumb", ws.key, int(i)), lambda: read_thumbnail(ws.shard, int(i)))
    return None


def thumbnail_uris(ws: Workspace, side: int = 48) -> list[str]:
    """Data-URI JPEG sprites of side ≤ ``side`` px for the images-as-points map (cached)."""
    if ws.images is None:
        return []

    def compute() -> list[str]:
        from PIL import Image

        from explorer.figures import thumbnail_data_uri

        out = []
        for jpeg in ws.images.thumbnails:
            with Image.open(io.BytesIO(jpeg)) as im:
                im = im.convert("RGB")
                im.thumbnail((side, side))
                buf = io.BytesIO()
                im.save(buf, "JPEG", quality=80)
            out.append(thumbnail_data_uri(buf.getvalue()))
        return out

    return memo("thumbs", (ws.key, side), compute)


def mosaic_for(ws: Workspace, proj, *, canvas_px: int = 2000):
    """(data-URI WebP, x_range, y_range, images drawn) of every image pasted at its map point (cached)."""
    if ws.images is None:
        return None

    def compute():
        from PIL import Image

        from explorer.mosaic import compose_mosaic

        with progress_box(f"Drawing {len(ws):,} images on the map") as progress:
            mosaic = compose_mosaic(proj.coords, ws.images.pixels, canvas_px=canvas_px, progress=progress)
        buf = io.BytesIO()
        Image.fromarray(mosaic.image, "RGBA").save(buf, "WEBP", quality=80)  # keeps transparency, small
        uri = "data:image/webp;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        return uri, mosaic.x_range, mosaic.y_range, mosaic.drawn

    key = (ws.key, proj.method, proj.coords.shape, hashlib.sha256(proj.coords.tobytes()).hexdigest()[:16], canvas_px)
    return memo("thumbs", key, compute)


# ----------------------------------------------------------------------------------------- selection

def focus_row(ws: Workspace | None = None) -> int | None:
    """The image the user clicked last (row index), if it is a row of ``ws``."""
    row = st.session_state.get(FOCUS_KEY)
    if row is None or (ws is not None and not 0 <= int(row) < len(ws)):
        return None
    return int(row)


def set_focus_row(row: int | None) -> None:
    st.session_state[FOCUS_KEY] = None if row is None else int(row)


def selected_rows(ws: Workspace | None = None) -> list[int]:
    rows = st.session_state.get(SELECTED_KEY) or []
    return [int(r) for r in rows if ws is None or 0 <= int(r) < len(ws)]


def set_selected_rows(rows) -> None:
    st.session_state[SELECTED_KEY] = [int(r) for r in rows]


# ----------------------------------------------------------------------------------------- shared display

def show_skipped(skipped: list[SkippedFile], *, where=None) -> None:
    """An expander listing skipped files by name and reason (as a table: plain text, never Markdown)."""
    if not skipped:
        return
    where = where or st
    with where.expander(f"{len(skipped):,} file(s) skipped — see why"):
        st.dataframe({"file": [s.file for s in skipped], "reason": [s.reason for s in skipped]},
                     hide_index=True, width="stretch")
