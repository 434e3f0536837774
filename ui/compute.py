"""Process-wide, content-keyed caches of the expensive steps: vectors, maps, neighbours, thumbnails.

Every value lives in a bounded LRU store (entries *and* bytes, estimated from the arrays' ``nbytes``) so
a shared server never holds more than ``CACHE_MAX_BYTES`` of them, whoever is visiting. Keys are content
hashes (never sessions): a colour or page change recomputes nothing, another visitor with the same demo
gets it free. ``background`` runs a step in a worker thread so the page can finish and show it later.

One computation per question (``explorer.singleflight``): visitors asking for the same key at the same
time wait for the first one's computation (and see its t-SNE frames) instead of each computing it; heavy
steps take one of ``limits.HEAVY_SLOTS`` slots, which a cached answer never waits for. Every computation
writes one line ``fse compute KIND DIGEST`` to the server's log. A background job stops (at its next
neighbour-search block) once no visitor who asked for it is still there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
import streamlit as st
from streamlit.runtime.scriptrunner import RerunException, StopException, get_script_run_ctx

from explorer.cluster.shards import read_thumbnail
from explorer import limits
from explorer.distances import knn
from explorer.embedders import get_embedder
from explorer.io.cache import EmbeddingCache, default_cache_dir
from explorer.io.interop import given_projection
from explorer.largemap import NeighbourIndex
from explorer.mosaic import compose_mosaic
from explorer.projection import Projection, pca_preview, project
from explorer.singleflight import Cancelled, SingleFlight, cancel_scope
from explorer.thumbs import mosaic_uri, sprite_uris
from explorer.io.load import embed_workset
from explorer.io.shipped import MapParams, shipped_projection
from explorer.workset import WorkSet
from ui.liveness import abandon_check
from ui.status import progress_box

# The most these caches hold in one server process, split between the kinds below.
CACHE_MAX_BYTES = 1536 << 20
_BUDGET = {  # kind: (max entries, share of CACHE_MAX_BYTES)
    "set": (4, 0.30), "vectors": (8, 0.30), "projection": (24, 0.08), "neighbours": (16, 0.08),
    "thumbs": (8, 0.16), "other": (64, 0.08),
}


def estimate_bytes(value: Any, _depth: int = 0) -> int:
    """Rough memory held by ``value``: arrays by ``nbytes``, bytes/str by length, containers summed."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (bytes, bytearray, str)):
        return len(value)
    if _depth > 4:
        return 64
    if isinstance(value, dict):
        return sum(estimate_bytes(v, _depth + 1) for v in value.values()) + 64
    if isinstance(value, (list, tuple)):
        if len(value) > 2000 and all(isinstance(v, (str, bytes)) for v in value[:50]):
            return sum(map(len, value)) + 8 * len(value)
        return sum(estimate_bytes(v, _depth + 1) for v in value) + 8 * len(value)
    if isinstance(value, WorkSet) and value.vectors is not None and value.images is not None:
        # an embedded record (the "vectors" store) shares its pictures with the loaded one the "set" store
        # already counts: count what embedding added
        return estimate_bytes(value.vectors) + estimate_bytes(value.ids) + estimate_bytes(value.sources) + 64
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(estimate_bytes(getattr(value, f.name), _depth + 1) for f in dataclasses.fields(value))
    return 64


class _Store:
    """A small thread-safe LRU dict bounded in entries and estimated bytes (Streamlit serves sessions
    from several threads). A single value larger than the whole budget is kept alone."""

    def __init__(self, max_entries: int, max_bytes: int = CACHE_MAX_BYTES):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.data: OrderedDict = OrderedDict()
        self.sizes: dict = {}
        self.lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return sum(self.sizes.values())

    def get(self, key):
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return True, self.data[key]
        return False, None

    def put(self, key, value) -> None:
        size = estimate_bytes(value)
        with self.lock:
            self.data[key] = value
            self.sizes[key] = size
            self.data.move_to_end(key)
            while len(self.data) > 1 and (len(self.data) > self.max_entries or self.nbytes > self.max_bytes):
                old, _ = self.data.popitem(last=False)
                self.sizes.pop(old, None)


@st.cache_resource(show_spinner=False)
def _stores() -> dict[str, _Store]:
    return {kind: _Store(entries, int(share * CACHE_MAX_BYTES)) for kind, (entries, share) in _BUDGET.items()}


# Kinds whose computation is heavy CPU work (takes a slot); "set" loads decode under their own DECODE_SLOTS,
# and "other" holds small things (an embedder, one row's neighbours) unless a caller says heavy=True.
HEAVY_KINDS = ("vectors", "projection", "neighbours", "thumbs")


def _log_compute(key: Any) -> None:
    kind, inner = key
    digest = hashlib.sha256(repr(inner).encode("utf-8", "replace")).hexdigest()[:12]
    print(f"fse compute {kind} {digest}", file=sys.stderr, flush=True)


@st.cache_resource(show_spinner=False)
def _flight() -> SingleFlight:
    return SingleFlight(heavy_slots=limits.HEAVY_SLOTS, retry_on=(StopException, RerunException))


def _alive() -> Callable[[], bool]:
    """False once this session's browser has gone (callable from any thread)."""
    check = abandon_check()

    def alive() -> bool:
        try:
            check()
            return True
        except StopException:
            return False

    return alive


def memo(kind: str, key: Any, compute: Callable[[], Any], *, heavy: bool | None = None,
         on_progress: Callable[[Any], None] | None = None) -> Any:
    """``compute()`` once per ``(kind, key)`` in this server process (bounded LRU); ``key`` must be hashable.

    A caller asking while another computes the same key waits for that computation (``on_progress`` sees
    what its leader publishes); a heavy computation (``HEAVY_KINDS``, or ``heavy=True``) takes a slot.
    """
    stores = _stores()
    store = stores.get(kind) or stores["other"]
    hit, value = store.get((kind, key))
    if hit:
        return value

    def lead() -> Any:
        hit, value = store.get((kind, key))  # a leader that just finished may have stored it
        if hit:
            return value
        _log_compute((kind, key))  # here, not when leading: a leader finding it stored computes nothing
        value = compute()
        store.put((kind, key), value)
        return value

    flight = _flight()
    heavy = kind in HEAVY_KINDS if heavy is None else heavy
    try:
        if flight.in_flight((kind, key)):
            with st.spinner("Another visitor asked for the same thing: waiting for that computation…"):
                return flight.run((kind, key), lead, alive=_alive(), heavy=heavy, on_progress=on_progress)
        return flight.run((kind, key), lead, alive=_alive(), heavy=heavy, on_progress=on_progress)
    except Cancelled:
        raise StopException() from None  # this browser left while it waited: end the run quietly


def publish(kind: str, key: Any, progress: Any) -> None:
    """Share ``progress`` of the computation of ``(kind, key)`` with the visitors waiting for it."""
    _flight().publish((kind, key), progress)


@st.cache_resource(show_spinner=False)
def _jobs() -> tuple[ThreadPoolExecutor, dict, threading.Lock]:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="fse-background"), {}, threading.Lock()


def background(kind: str, key: Any, compute: Callable[[], Any]) -> tuple[bool, Any]:
    """Like ``memo``, but ``compute`` runs in a worker thread: (True, value) once done, (False, None) while
    it runs. ``compute`` must not draw anything (it runs outside the page). Its exception is re-raised.

    One job per key, whoever asks; it stops at its next neighbour-search block once none of the sessions
    that asked for it is still there (its visitors left), and starts again if someone asks later. The job
    stores its value before it leaves the running jobs, so a visitor always finds one or the other (when
    visitors collected it, one arriving in between found neither and computed it again)."""
    stores = _stores()
    store = stores.get(kind) or stores["other"]
    hit, value = store.get((kind, key))
    if hit:
        return True, value
    pool, running, lock = _jobs()
    with lock:
        job = running.get((kind, key))
        if job is None:
            hit, value = store.get((kind, key))  # its job finished since the look above: stored, then left
            if hit:
                return True, value
        if job is None or (job[0].done() and isinstance(job[0].exception(), Cancelled)):
            askers: dict = {_session_id(): _alive()}  # before the job starts: it checks them at once
            job = running[(kind, key)] = (
                pool.submit(_background_job, kind, key, compute, askers, store, (running, lock)), askers)
        else:
            job[1][_session_id()] = _alive()
    future = job[0]
    if not future.done():
        return False, None
    if isinstance(future.exception(), Cancelled):  # its visitors left just now: the next poll starts it again
        return False, None
    if future.exception() is not None:  # told to the visitor who collects it; the next one asks again
        with lock:
            if running.get((kind, key)) is job:
                running.pop((kind, key))
    return True, future.result()


def _background_job(kind: str, key: Any, compute: Callable[[], Any], askers: dict, store: _Store,
                    jobs: tuple[dict, threading.Lock]) -> Any:
    def still_wanted() -> None:
        if not any(alive() for alive in list(askers.values())):
            raise Cancelled("every visitor who asked for it has left")

    _log_compute((kind, key))
    with cancel_scope(still_wanted), _flight().slot(alive=lambda: any(a() for a in list(askers.values()))):
        still_wanted()
        value = compute()
    store.put((kind, key), value)  # stored before it leaves `running`: no visitor finds neither
    running, lock = jobs
    with lock:
        if (kind, key) in running and running[(kind, key)][1] is askers:  # this job's entry, not a newer one
            running.pop((kind, key))
    return value


def _session_id() -> str:
    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else "-"


# Above this many rows any projection first shows a linear preview whose axes are fitted on
# PREVIEW_FIT_ROWS sampled rows (2 s instead of 10-30 s for 20k-100k wide vectors on a busy 2-core machine).
PREVIEW_ABOVE = 5_000
PREVIEW_FIT_ROWS = 4_000


# ----------------------------------------------------------------------------------------- embedding

def embed(record: WorkSet, embedder_name: str) -> WorkSet:
    """``record`` (loaded, not embedded) embedded with ``embedder_name``: a new record from the core, cached by
    content (set key + embedder identity); the disk cache embeds only images it has not seen."""
    embedder = memo("other", ("embedder", embedder_name), lambda: get_embedder(embedder_name))

    def compute() -> WorkSet:
        with progress_box(f"Embedding {len(record.ids):,} images with {embedder_name}") as progress:
            # replace(): today's embed_workset fills the record it is given; 16-core's returns a new one
            return embed_workset(dataclasses.replace(record), embedder,
                                 cache=EmbeddingCache(default_cache_dir()), progress=progress)

    return memo("vectors", (record.set_key, embedder.cache_key), compute)


# ----------------------------------------------------------------------------------------- geometry

def get_projection(ws, *, method: str = "pca", dims: int = 2, perplexity: float = 30.0, seed: int = 0,
                   on_layout: Callable[[int, np.ndarray], None] | None = None,
                   initialization: np.ndarray | None = None):
    """The map of ``ws.vectors`` (explorer.projection.Projection), cached by content and parameters.

    On a cache miss ``on_layout(iteration, coords)`` sees intermediate t-SNE layouts, and t-SNE starts
    from ``initialization`` when given (an earlier map with new points placed), else from PCA.
    """
    params = map_params(method, dims, perplexity, seed)
    if method != "tsne":
        initialization = None
    shard = getattr(ws, "shard", None)  # duck-typed records (tests) may not have one
    written = shard.maps.get(method) if shard is not None else None
    if written is not None and written.coords.shape[1] == int(dims):
        return _written_projection(written)
    if method == "given":  # the set's own x, y (, z) columns, drawn as they are
        return memo("projection", (ws.key, params), lambda: given_projection(ws.columns, dims=int(dims), name=ws.name))
    shipped = shipped_projection(ws.key, params)
    if shipped is not None:  # the demo's first map, computed by this code before it shipped: drawn at once
        return shipped
    still_wanted = abandon_check()
    key = (ws.key, params)

    def layout(iteration: int, coords: np.ndarray) -> None:
        still_wanted()  # t-SNE calls back every 25 iterations: stop when the browser has gone
        publish("projection", key, (iteration, coords))  # visitors waiting for this map see it grow too
        if on_layout is not None:
            on_layout(iteration, coords)

    def compute():
        large = len(ws.vectors) > PREVIEW_ABOVE
        if on_layout is not None and (method == "tsne" or large):
            # Something to look at at once: the given start, or the linear view t-SNE starts from, before
            # its imports and neighbour search (seconds on a cold start) and its first iterations; on a
            # large set, PCA axes fitted on a sample, drawn while the full projection runs.
            first = initialization if initialization is not None else pca_preview(
                ws.vectors, n_components=int(dims), max_rows=PREVIEW_FIT_ROWS if large else None)
            publish("projection", key, (0, np.asarray(first, dtype=np.float32)))
            on_layout(0, np.asarray(first, dtype=np.float32))
        return project(ws.vectors, method=method, n_components=int(dims), random_state=int(seed),
                       perplexity=float(perplexity), callback=layout, callback_every=25,
                       initialization=initialization)

    def follow(progress: Any) -> None:
        if on_layout is not None:
            on_layout(*progress)

    return memo("projection", key, compute, on_progress=follow)


def _written_projection(written):
    """The map ``python -m explorer map DIR --fit-sample`` wrote, as a Projection (drawn, never recomputed)."""
    coords = np.asarray(written.coords, dtype=np.float32)
    off = np.flatnonzero(~np.isfinite(coords).all(axis=1))
    return Projection(coords=coords, method=written.method,
                      params={"source": written.path.name, "fitted": int(written.fitted.sum())},
                      notes=[written.note() + " Colour by the tag column "
                             f"'{written.method} map' to see which is which; this map was computed by the "
                             "command line, so the perplexity slider does not change it."],
                      excluded={int(i): "no usable vector (zero or not finite)" for i in off})


def cached_projection(ws, *, method: str, dims: int, perplexity: float, seed: int = 0):
    """The projection if it is already cached (or shipped with the app), else None (never computes)."""
    params = map_params(method, dims, perplexity, seed)
    cached = _stores()["projection"].get(("projection", (ws.key, params)))[1]
    return cached if cached is not None else shipped_projection(ws.key, params)


def map_params(method: str, dims: int, perplexity: float, seed: int = 0) -> MapParams:
    """The parameters a map is cached under: the perplexity counts for t-SNE only."""
    return MapParams(method, int(dims), float(perplexity) if method == "tsne" else None, int(seed))


def get_neighbours(ws, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices (n, k) int64, cosine distances (n, k)) of every row's k nearest neighbours, itself excluded."""
    k = int(max(1, min(k, len(ws) - 1)))
    return memo("neighbours", (ws.key, k), lambda: knn(ws.vectors, k, metric="cosine", exclude_self=True,
                                                       should_stop=abandon_check()))


def neighbour_index(ws) -> NeighbourIndex:
    """The set's click lookup (explorer.largemap.NeighbourIndex): built once per set in a fraction of a
    second, it keeps no normalised copy of the vectors (a million 128-d rows stay 512 MB, not 1 GB). Not a
    heavy step: a click must not wait for the slot the map's background measures hold (seconds at 1M)."""
    return memo("vectors", ("neighbour-index", ws.key), lambda: NeighbourIndex(ws.vectors), heavy=False)


def neighbours_of(ws, row: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices (k,), cosine distances (k,)) of one row among all rows: one matrix-vector product."""
    k = int(max(1, min(k, len(ws) - 1)))  # a small set has fewer neighbours than the k asked for
    index = neighbour_index(ws)
    return memo("other", ("row-neighbours", ws.key, int(row), int(k)), lambda: index.query(int(row), int(k)))


# ----------------------------------------------------------------------------------------- pictures

def thumbnail(ws, i: int) -> bytes | None:
    if ws.images is not None:
        return ws.images.thumbnails[i]
    if getattr(ws, "shard", None) is not None:  # read per clicked point from its partition file
        return memo("other", ("shard-thumb", ws.key, int(i)), lambda: read_thumbnail(ws.shard, int(i)))
    return None


def thumbnail_uris(ws, side: int = 48) -> list[str]:
    """Data-URI JPEG sprites of side ≤ ``side`` px for the images-as-points map (cached)."""
    if ws.images is None:
        return []

    def compute() -> list[str]:
        with progress_box(f"Preparing {len(ws):,} pictures for the map") as progress:
            return sprite_uris(ws.images.thumbnails, side, progress=progress)

    return memo("thumbs", (ws.key, side), compute)


def mosaic_for(ws, proj, *, canvas_px: int = 2000):
    """(data-URI WebP, x_range, y_range, images drawn) of every image pasted at its map point (cached)."""
    if ws.images is None:
        return None

    def compute():
        with progress_box(f"Drawing {len(ws):,} images on the map") as progress:
            mosaic = compose_mosaic(proj.coords, ws.images.pixels, canvas_px=canvas_px, progress=progress)
        return mosaic_uri(mosaic), mosaic.x_range, mosaic.y_range, mosaic.drawn

    key = (ws.key, proj.method, proj.coords.shape, hashlib.sha256(proj.coords.tobytes()).hexdigest()[:16], canvas_px)
    return memo("thumbs", key, compute)
