"""Where the set comes from and how it comes back.

``load_choice`` loads the sidebar's choice (a demo, uploads, a server folder/ZIP/manifest, an .npz, or
a set opened from a link). Every set a user builds is saved in the server-side store
(``explorer.io.setstore``, under the cache directory) the first time it is shown, and the URL carries its
token: ``?set=TOKEN`` plus the embedder, the map's projection and parameters and the focused image
(``focus=`` image id); the page is the URL path. ``restore_from_url`` reads that once per browser
session, so a reload, a bookmark, another tab or another browser on the same server opens the same
view. Demos keep their readable form ``?source=demo:NAME&embedder=NAME``.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import streamlit as st

from explorer.imageset import ImageSet
from explorer.io.cache import default_cache_dir
from explorer.io.setstore import DEFAULT_MAX_BYTES, SetStore, SetStoreError
from explorer.io.sources import LoadError
from explorer import limits
from explorer.io.load import SourceKind, classify_source, load_workset
from explorer.words import plural
from explorer.workset import WorkSet
from ui import state
from ui.compute import memo
from ui.paths import configured_roots, hide_roots
from ui.safe import md
from ui.state import SourceChoice, upload_batches
from ui.status import action_area, progress_box, show_skipped
from ui.vectorfile import vector_source

SET_PARAM = "set"
STORE_MB_ENV = "EXPLORER_SET_STORE_MB"


def set_store():
    """The store of saved sets under the cache directory; ``$EXPLORER_SET_STORE_MB`` caps its size."""
    try:
        max_bytes = int(float(os.environ.get(STORE_MB_ENV, "")) * 2**20) or DEFAULT_MAX_BYTES
    except ValueError:
        max_bytes = DEFAULT_MAX_BYTES
    return SetStore(default_cache_dir() / "sets", max_bytes=max(max_bytes, 1))


# ----------------------------------------------------------------------------------------- URL

def from_url(param: str, allowed: list) -> object | None:
    """A bookmarked value if its text is one of ``allowed`` (compared as text), else None.

    Widgets use it for their first draw only (their ``index``/``value``); afterwards their own state wins.
    """
    value = st.query_params.get(param)
    for option in allowed:
        if value is not None and str(option) == value:
            return option
    return None


def from_url_number(param: str, low: float, high: float) -> float | None:
    try:
        value = float(st.query_params.get(param, ""))
    except ValueError:
        return None
    return value if low <= value <= high else None


def sync_url(**values: object) -> None:
    """Write ``values`` into the URL (None removes a parameter); unchanged ones are left alone."""
    for name, value in values.items():
        if value is None:
            if name in st.query_params:
                del st.query_params[name]
        elif st.query_params.get(name) != str(value):
            st.query_params[name] = str(value)


def restore_from_url() -> None:
    """Once per browser session: open the set named by ``?set=`` (or say why it cannot be opened)."""
    if not state.first_url_read():
        return
    state.set_url_focus(st.query_params.get("focus"))
    token = st.query_params.get(SET_PARAM)
    if not token:
        return
    try:
        record, info = set_store().load(token)
    except SetStoreError as exc:
        state.set_message(f"The set in this link could not be opened: {exc}. Showing the demo instead.")
        return
    open_saved(record, info, token)
    note = newer_note(token, len(record))
    if note:
        state.set_message(note)


def newer_note(token: str, images: int) -> str:
    """What a link to an earlier version says when more was added to its set later in the same browser
    session ("" when nothing newer is kept)."""
    newer = set_store().newer(token)
    if newer is None:
        return ""
    newest, count = newer
    if count > images:
        return (f"This link shows {images:,} of the {count:,} images you have added since; the newest version "
                f"is at ?set={newest}.")
    return f"A newer version of this set ({plural(count, 'image')}) was saved later; it is at ?set={newest}."


def open_saved(record: WorkSet, info: dict, token: str) -> None:
    """Make a saved set this session's set: uploads come back as their batches (so more can be added)."""
    batches = info.get("batches") if info.get("origin") == "upload" else None
    if batches and record.images is not None and sum(int(b.get("count", 0)) for b in batches) == len(record):
        restored, start = [], 0
        for b in batches:
            count = int(b["count"])
            restored.append({"id": uuid.uuid4().hex[:12], "tag": str(b.get("tag", "")), "files": int(b.get("files", count)),
                             "bytes": int(b.get("bytes", 0)), "images": record.images.subset(range(start, start + count))})
            start += count
        state.set_upload_batches(restored)
        state.set_source_kind("upload")
        state.upload_lineage()[:] = [token]  # batches added now make newer versions of this one
    else:
        state.set_opened_set((token, record))
        state.set_source_kind("saved")
    state.set_tokens()[record.set_key] = token


# ----------------------------------------------------------------------------------------- saving

def token_for(loaded: WorkSet, choice: SourceChoice) -> str | None:
    """The token of the current set, saving it the first time this session shows it (None for demos)."""
    if choice.kind == "demo" or loaded.shard is not None:  # a cluster folder stays where it is (too big to copy)
        return None
    tokens = state.set_tokens()
    if loaded.set_key in tokens:
        return tokens[loaded.set_key]

    info: dict = {"origin": choice.kind}
    if choice.kind == "upload":
        info["batches"] = [{"tag": b["tag"], "count": len(b["images"]), "files": b["files"], "bytes": b["bytes"]}
                           for b in upload_batches() if len(b["images"])]
    try:
        with st.spinner(f"Saving the set ({len(loaded):,} images) so its link brings it back…"):
            store = set_store()
            token = store.save(loaded, info=info, owner=state.session_id())
    except (SetStoreError, OSError, ValueError) as exc:
        st.warning(f"This set could not be saved on the server ({md(exc, max_length=200)}); it lasts only as "
                   "long as this browser tab.")
        return None
    tokens[loaded.set_key] = token
    if choice.kind == "upload":  # earlier versions' links will say that this one exists
        lineage = state.upload_lineage()
        for old in lineage:
            store.note_newer(old, token, len(loaded))
        lineage.append(token)
    return token


def forget(token: str) -> None:
    """Button callback: delete the set behind ``token`` from the store and go back to the demo."""
    set_store().forget(token)
    tokens = state.set_tokens()
    for key in [k for k, t in tokens.items() if t == token]:
        del tokens[key]
    if state.source_kind() == "upload":
        state.set_upload_batches([])
    state.set_opened_set(None)
    state.set_source_kind("demo")
    state.set_message("The set was forgotten: it is deleted from this server and its link now opens the demo.")


# ----------------------------------------------------------------------------------------- loading

def load_choice(choice: SourceChoice) -> WorkSet | None:
    """The loaded (not yet embedded) set for ``choice`` (cached); draws an error and returns None if it
    cannot load. An .npz comes with its own vectors."""

    if choice.kind not in ("demo", "upload", "server", "npz", "saved") or not choice.ref:
        return None
    try:
        if choice.kind == "upload":
            return _load_uploads()
        if choice.kind == "saved":
            opened = state.opened_set()
            return opened[1] if opened is not None else None
        on_disk = choice.kind in ("npz", "server") and os.path.exists(choice.ref)  # not an upload held in memory
        kind = classify_source(choice.ref) if on_disk else None  # asked once
        if kind is SourceKind.SHARD_FOLDER:
            return memo("set", ("sharded", choice.ref, _sharded_mtime(choice.ref)),
                        lambda: _load_sharded(choice.ref))
        if choice.kind == "npz" or (kind is not None and kind.brings_vectors):
            return _load_vectors_once(choice.ref)
        spec = choice.ref
        key = ("src", spec, choice.manifest_tag_column, _mtime(spec))
        return memo("set", key, lambda: _load_source(spec, choice.manifest_tag_column))
    except LoadError as exc:  # messages quote file, folder and manifest column names: escape them
        action_area().error(f"Could not load this source: {md(_one_line(_shown(exc)), max_length=400)}")
        show_skipped(exc.skipped)
    except (OSError, ValueError, KeyError) as exc:
        action_area().error(f"Could not load this source: {md(_one_line(_shown(exc)), max_length=400)}")
    except MemoryError:  # a file whose size the limits could not foresee: say so, keep the server up
        action_area().error("Could not load this source: it needs more memory than this server has free.")
    return None


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _shown(text: object) -> str:
    """A message or path as a visitor may see it: the server's data roots named, never spelled out."""
    return hide_roots(str(text), configured_roots())


def _load_vectors_once(ref: str) -> WorkSet:
    """A vector file read once per session: a success is cached for everyone (memo), a failure's message is
    kept for this session, so reruns (every widget change) do not parse a refused file again."""
    signature = _mtime(ref)
    failed = state.failed_vector_load(ref, signature)
    if failed is not None:
        raise LoadError(failed)
    try:
        return memo("set", ("npz", ref, signature), lambda: _load_npz(ref))
    except (LoadError, ValueError, OSError) as exc:
        state.set_failed_vector_load(ref, signature, str(exc))
        raise


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _sharded_mtime(path: str) -> tuple:
    return tuple(_mtime(str(p)) for p in sorted(Path(path).glob("[_m]*.*")))  # _meta.json and map-*.parquet


def _load_sharded(path: str) -> WorkSet:
    """A folder from ``embed --workers``: vectors and tags now, pictures per clicked point from the shards."""
    with progress_box(f"Reading the partitions of {path}") as progress:
        progress(0, 1, "reading")
        return load_workset(path)


def _load_npz(ref: str) -> WorkSet:
    # the app's limits: shapes checked first, NaN/inf rows dropped and reported, bare file names in messages
    return load_workset(vector_source(ref), limits=limits.APP_VECTORS)


def _load_source(spec: str, manifest_tag_column: str | None) -> WorkSet:
    with progress_box(f"Loading {_shown(spec)}") as progress:
        return load_workset(spec, embedder=None, tag_column=manifest_tag_column, progress=progress)


def _load_uploads() -> WorkSet | None:
    batches = [b for b in upload_batches() if len(b["images"])]
    if not batches:
        return None
    signature = tuple(b["id"] for b in batches)
    cached = state.joined_uploads(signature)
    if cached is not None:
        return cached
    images = ImageSet.concatenate([b["images"] for b in batches], name="your images")
    loaded = load_workset(images, embedder=None)
    state.set_joined_uploads(signature, loaded)
    return loaded
