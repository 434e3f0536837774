"""The shared sidebar: where the images come from, which embedder, which tag column colours the map.

``draw() -> SourceChoice`` draws every widget, stores the choice (``ui.state.set_choice``) for
``ui.current.current_set()`` and returns it. Uploads are decoded once, when the user presses
"Add to set", and kept per session as batches (``ui.state.upload_batches()``), within the session
caps of ``explorer.limits`` (every ZIP member counts, checked before decoding). An uploaded ``.npz``
stays in memory (never written to disk) and is read by ``explorer.io.load.load_workset`` (``ui.vectorfile.vector_source``).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import PurePosixPath

import streamlit as st

from explorer import limits
from explorer.cluster.shards import is_sharded_folder
from explorer.embedders import EMBEDDERS, available_embedders
from explorer.io.demos import DEMOS
from explorer.io.interop import projector_tensors, zipped_bundle_member
from explorer.io.drop import plan_drop
from explorer.io.sources import AllowanceExceeded, LoadError, Upload, load_uploads
from explorer.words import plural
from ui import sets, state, upload_budget
from ui.paths import PathRefused, configured_roots, list_choices, resolve_in_root
from ui.safe import md, plain
from ui.state import DEFAULT_EMBEDDER, DEFAULT_SOURCE, SourceChoice, upload_batches
from ui.status import action_area, action_done, fail_action, progress_box, show_skipped
from ui.vectorfile import NPZ_UPLOAD_PREFIX

IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"]
UPLOAD_TYPES = IMAGE_TYPES + ["zip"]
# Per-session caps (explorer.limits): enough for a few thousand photos, small enough that one visitor
# cannot fill the server. Read at call time, so tests can lower them.
MAX_IMAGES = limits.SESSION_MAX_IMAGES
MAX_UPLOAD_BYTES = limits.SESSION_MAX_UPLOAD_BYTES
MAX_DECODED_BYTES = limits.SESSION_MAX_DECODED_BYTES
KINDS = {"demo": "Built-in demo", "upload": "Your images (drag & drop)", "server": "A folder on this server",
         "npz": "Precomputed embeddings (.npz, Parquet, Projector)", "saved": "A saved set (from its link)"}
# What the precomputed picker takes: .npz from embed, Parquet from export, a Projector tensors.tsv or its ZIP.
VECTOR_TYPES = ["npz", "parquet", "tsv", "zip"]


@dataclass
class BatchResult:
    """What adding one batch did: images added, files skipped, and a refusal message if nothing was added.

    ``refused`` is Markdown (it is shown with st.error) with every quoted user string already escaped.
    """

    added: int
    skipped: int
    refused: str = ""


def draw() -> SourceChoice:
    """Draw the sidebar; returns (and stores in session state) the current source choice.

    The first run of a browser session opens the set named in the URL (``?set=TOKEN``); every run writes
    the current set's token (or the demo's name) and the embedder back into the URL.
    """
    sets.restore_from_url()
    message = state.take_message()
    if message:
        st.warning(md(message, max_length=400))
    with st.sidebar:
        st.markdown("### Images")
        kinds = list(KINDS)
        kind = st.radio("Images from", kinds, format_func=KINDS.get, key=state.KIND_KEY,
                        label_visibility="collapsed")
        ref, manifest_col = DEFAULT_SOURCE, None
        if kind == "demo":
            ref = _demo_picker()
        elif kind == "upload":
            _uploader()
            ref = "uploads"
        elif kind == "server":
            ref, manifest_col = _server_picker()
        elif kind == "npz":
            ref = _npz_picker()
        else:
            ref = "saved"
        opened = state.opened_set()
        own_vectors = kind == "npz" or (kind == "saved" and opened is not None and opened[1].images is None)
        embedder = _embedder_picker(disabled=own_vectors)
        choice = SourceChoice(kind=kind, ref=ref or "", embedder=embedder, manifest_tag_column=manifest_col)
        state.set_choice(choice)
        loaded = sets.load_choice(choice)
        columns = list(loaded.columns) if loaded is not None else ["tag"]
        tag_column = st.selectbox("Colour by tag column", columns, key=state.TAG_COLUMN_KEY,
                                  help="Which tag colours the map and groups the distances.")
        choice = SourceChoice(kind=choice.kind, ref=choice.ref, embedder=embedder, tag_column=tag_column,
                                  manifest_tag_column=manifest_col)
        state.set_choice(choice)
        token = None
        if loaded is not None:
            st.caption(f"{plural(len(loaded.ids), 'image')} · {plural(len(set(loaded.columns[tag_column])), 'tag')}")
            show_skipped(loaded.skipped)
            token = sets.token_for(loaded, choice)
        if token:
            st.caption("Saved on this server: the page's link brings this set back (bookmark it or share it).")
            st.button("Forget this set", key="fse_forget", on_click=sets.forget, args=(token,),
                      help="Delete it from the server now; its link will open the demo instead.")
    source = ref if kind == "demo" else None
    if st.query_params.get("source") not in (None, *_demo_specs()):
        source = st.query_params.get("source")  # not ours to rewrite: a page (presenter) reports it
    sets.sync_url(set=token, source=source, embedder=None if own_vectors else embedder)
    return choice


_from_url = sets.from_url  # a bookmarked value (``?source=demo:digits&embedder=hog``) if allowed, else None


def _demo_specs() -> list[str]:
    return [f"demo:{n}" for n in DEMOS]


def _demo_picker() -> str:
    names = list(DEMOS)
    default = names.index("hands") if "hands" in names else 0
    wanted = _from_url("source", [f"demo:{n}" for n in names])
    default = names.index(wanted.removeprefix("demo:")) if wanted else default
    name = st.selectbox("Demo", names, index=default, key=state.DEMO_KEY, format_func=lambda n: f"demo:{n}")
    st.caption(md(DEMOS[name], max_length=300))
    return f"demo:{name}"


def _embedder_picker(*, disabled: bool) -> str:
    st.markdown("### Embedder")
    names = available_embedders() or list(EMBEDDERS)
    index = names.index(DEFAULT_EMBEDDER) if DEFAULT_EMBEDDER in names else 0
    wanted = _from_url("embedder", names)
    index = names.index(wanted) if wanted else index
    name = st.selectbox("Turns each image into a vector", names, index=index, key=state.EMBEDDER_KEY,
                        disabled=disabled, help="\n\n".join(f"**{n}**: {EMBEDDERS.get(n, '')}" for n in names))
    st.caption("The .npz file brings its own vectors." if disabled else EMBEDDERS.get(name, ""))
    return name


# ----------------------------------------------------------------------------------------- uploads

def _uploader() -> None:
    batches = upload_batches()
    nonce = state.uploader_nonce()
    files = st.file_uploader("Images or ZIPs (in a ZIP, one folder per tag)", type=UPLOAD_TYPES,
                             accept_multiple_files=True, key=f"fse_uploader_{nonce}",
                             help="JPG, PNG, WEBP, BMP, GIF or TIFF images, or a ZIP holding one folder per tag.")
    folder = _folder_drop(nonce)
    _pending_upload_refusal()
    tag = st.text_input("Tag for these files", key="fse_upload_tag", max_chars=60,
                        placeholder="e.g. open hand (folders name their own tags)")
    plan = _drop_plan([(f.name, f.getvalue()) for f in [*(files or []), *folder]], tag)
    if st.button("Add to set", type="primary", disabled=plan is None or bool(plan.problem), key="fse_add"):
        result = add_batch([(u.name, u.data) for u in plan.uploads], tag, tags=[u.tag for u in plan.uploads])
        if result.refused:
            fail_action(result.refused)  # already escaped by add_batch
        else:
            action_done()
            state.bump_uploader()
            state.set_last_batch(result)
            st.rerun()
    last = state.take_last_batch()
    if last is not None:
        st.success(f"Added {plural(last.added, 'image')}" + (f"; {last.skipped:,} skipped" if last.skipped else ""))
    for batch in list(batches):
        cols = st.columns([4, 1])
        cols[0].text(batch_line(batch))
        if cols[1].button("✕", key=f"fse_remove_{batch['id']}", help="Remove this batch"):
            remove_batch(batch["id"])
            st.rerun()


def _folder_drop(nonce: int) -> list:
    """The directory uploader: a chosen folder arrives with its files' paths (``photos/rock/1.jpg``), so its
    sub-folders name the tags. Every file comes (no type filter), so the ones that are not images are
    reported by name; a folder dragged onto it arrives without its paths (the browser does not give them to
    a drop), and its files then count as loose images."""
    return st.file_uploader("…or a folder (one sub-folder per tag)", accept_multiple_files="directory",
                            key=f"fse_folder_{nonce}",
                            help="Choose a folder with Browse: photos/rock/…, photos/paper/… become the tags "
                                 "rock and paper. Images at the top of the folder take the tag typed below.") or []


def _drop_plan(files: list[tuple[str, bytes]], tag: str):
    """What the dropped files would add, by tag, before anything is decoded; a drop that cannot be added
    says why in the main area. None when nothing is dropped."""
    if state.new_drop(tuple((name, len(data)) for name, data in files)):
        action_done()  # a new drop is a new action: the last one's failure goes
    if not files:
        return None
    plan = plan_drop(files, tag or "")
    for name, n in plan.counts.items():
        st.text(f"{plain(name or 'untagged', max_length=40)}: {plural(n, 'image')} to add")
    if plan.skipped:
        st.caption(f"Not images, left out: {md(', '.join(s.file for s in plan.skipped[:8]), max_length=300)}"
                   + (f" and {len(plan.skipped) - 8:,} more" if len(plan.skipped) > 8 else ""))
    if plan.problem:
        fail_action(md(plan.problem, max_length=400))
    return plan


def _pending_upload_refusal() -> None:
    """Say why a file dropped on an uploader was not kept (ui.upload_budget refused it as it arrived)."""
    refused = upload_budget.take_refusal(state.session_id() or "")
    if refused:  # a failed action: said in the main area
        fail_action(md(refused, max_length=300))


def batch_line(batch: dict) -> str:
    """One batch in the list: its tags as the set holds them (a ZIP's folders name their own tags)."""
    tags = list(dict.fromkeys(batch["images"].tags)) or [batch["tag"]]
    shown = ", ".join(plain(t or "untagged", max_length=40) for t in tags[:4])
    more = f" +{len(tags) - 4} more" if len(tags) > 4 else ""
    return f"{shown}{more}: {plural(len(batch['images']), 'image')}"


def session_usage() -> tuple[int, int, int]:
    """(images, uploaded bytes, decoded bytes) already added in this session."""
    batches = upload_batches()
    return (sum(len(b["images"]) for b in batches), sum(b["bytes"] for b in batches),
            sum(b.get("decoded", 0) for b in batches))


def decoded_bytes(images) -> int:
    """Memory an ImageSet's decoded pixels and thumbnails hold."""
    return int(images.pixels.nbytes) + sum(len(t) for t in images.thumbnails)


def add_batch(files: list[tuple[str, bytes]], tag: str, *, tags: list[str] | None = None) -> BatchResult:
    """Decode one batch of uploaded ``(name, bytes)`` with ``tag`` (or ``tags``, one per file, from a
    folder's sub-folders) and add it to this session's set.

    Refuses the whole batch (nothing added) when it would exceed the session caps (images, with every ZIP
    member counted from the archive's directory before decoding; uploaded and decoded bytes) or nothing
    in it is an image; otherwise unreadable files are skipped and listed with their reasons.
    """
    used_images, used_bytes, used_decoded = session_usage()
    size = sum(len(data) for _, data in files)
    if used_bytes + size > MAX_UPLOAD_BYTES:
        return BatchResult(0, 0, f"Too much data: this session may hold at most {MAX_UPLOAD_BYTES // 2**20:,} MB "
                                 f"({used_bytes / 2**20:,.1f} MB already, {size / 2**20:,.1f} MB in this batch).")
    per_file = tags if tags is not None else [tag] * len(files)
    uploads = [Upload(name=name, data=data, tag=(t or "").strip()) for (name, data), t in zip(files, per_file)]
    try:
        with progress_box(f"Reading {plural(len(files), 'file')}", where=action_area()) as progress:
            images = load_uploads(uploads, progress=progress, max_images=MAX_IMAGES - used_images,
                                  max_decoded_bytes=MAX_DECODED_BYTES - used_decoded)
    except AllowanceExceeded as exc:
        return BatchResult(0, 0, f"Too many images: {md(exc, max_length=300)} (this session may hold "
                                 f"{MAX_IMAGES:,} images, {used_images:,} already added).")
    except LoadError as exc:
        # the message quotes the upload's name; BatchResult.refused is shown as Markdown (one line)
        return BatchResult(0, len(exc.skipped), f"Nothing could be added: {md(_first_line(exc), max_length=300)}")
    decoded = decoded_bytes(images)
    if used_decoded + decoded > MAX_DECODED_BYTES:
        return BatchResult(0, 0, f"Too much decoded data: this batch is {decoded / 2**20:,.1f} MB decoded and this "
                                 f"session may hold {MAX_DECODED_BYTES // 2**20:,} MB ({used_decoded / 2**20:,.1f} MB "
                                 "already).")
    upload_batches().append({"id": uuid.uuid4().hex[:12], "tag": (tag or "").strip(), "images": images,
                                 "files": len(files), "bytes": size, "decoded": decoded})
    return BatchResult(len(images), len(images.skipped))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def remove_batch(batch_id: str) -> None:
    batches = upload_batches()
    batches[:] = [b for b in batches if b["id"] != batch_id]
    state.forget_rows()


# ----------------------------------------------------------------------------------------- server / npz

def _roots():
    return configured_roots()


def _server_picker() -> tuple[str, str | None]:
    roots = _roots()
    if not roots:
        st.info("No server folders are configured. The operator can list data roots in the environment "
                "variable EXPLORER_DATA_ROOTS (or data_roots in .streamlit/secrets.toml).")
        return "", None
    root = st.selectbox("Data root", roots, key="fse_root", format_func=lambda p: p.name or str(p))
    options = [""] + [c for c in list_choices(root) if not c.endswith(".npz")]
    rel = st.selectbox("Folder, .zip or manifest .csv", options, key="fse_server_pick",
                       format_func=lambda c: c or "(choose)")
    typed = st.text_input("…or type a path inside the root", key="fse_server_typed")
    rel = typed.strip() or rel
    if not rel:
        return "", None
    try:
        path = resolve_in_root(rel, root)
    except PathRefused as exc:
        st.error(f"Refused: {md(exc)}.")
        return "", None
    manifest_col = None
    if path.suffix.lower() in (".csv", ".tsv"):
        manifest_col = st.text_input("Manifest tag column (blank: the default)", key="fse_manifest_col") or None
    return str(path), manifest_col


def _is_bundle(root, rel: str) -> bool:
    path = root / rel
    return projector_tensors(path) is not None or zipped_bundle_member(path) is not None


def _npz_picker() -> str:
    up = st.file_uploader("An .npz from `python -m explorer embed`, a Parquet from `export`, or a Projector "
                          "bundle (its tensors.tsv, or a ZIP of the folder); folders from `embed --workers`: "
                          "choose one on the server below", type=VECTOR_TYPES, key="fse_npz_upload")
    _pending_upload_refusal()
    if up is not None:
        held = state.held_vector_upload()
        if held is None or held[3] != up.file_id:
            data = up.getvalue()
            name = PurePosixPath(up.name.replace("\\", "/")).name or "upload.npz"
            # content-keyed: the same bytes are the same set for every visitor; nothing touches the disk
            ref = f"{NPZ_UPLOAD_PREFIX}{hashlib.sha256(data).hexdigest()[:24]}/{name}"
            held = (ref, name, data, up.file_id)
            state.set_held_vector_upload(held)
        return held[0]
    state.set_held_vector_upload(None)  # removed from the uploader: drop its bytes
    roots = _roots()
    options = [""] + [c for r in roots for c in list_choices(r)
                      if c.endswith((".npz", ".parquet")) or _is_bundle(r, c) or is_sharded_folder(r / c)]
    if len(options) == 1:
        return ""
    rel = st.selectbox("…or one on the server", options, key="fse_npz_pick", format_func=lambda c: c or "(choose)")
    for root in roots:
        try:
            return str(resolve_in_root(rel, root)) if rel else ""
        except PathRefused:
            continue
    return ""
