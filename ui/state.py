"""Per-browser-session state shared by the pages: what the sidebar chose, the clicked image, the selection.

Every session key lives here, behind a typed accessor, so pages, the sidebar and tests agree on the names
and on what each key holds. Widget keys that code reads back (or sets for another page) are named here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

# Session keys (one place, so pages and tests agree).
CHOICE_KEY = "fse_choice"
FOCUS_KEY = "fse_focus_row"
SELECTED_KEY = "fse_selected_rows"
SELECTION_VIEW_KEY = "fse_selection_view"
BATCHES_KEY = "fse_upload_batches"
ROWS_OF_KEY = "fse_rows_of"
UPLOAD_JOINED_KEY = "fse_upload_joined"
UPLOADER_NONCE_KEY = "fse_uploader_nonce"
LAST_BATCH_KEY = "fse_last_batch"
ACTION_AREA_KEY = "fse_action_area"  # this run's placeholder at the top of the main area
ACTION_ERROR_KEY = "fse_action_error"  # the last failed action's one-line message, until the next action
SCREEN_KEY = "fse_screen_size"  # the window-size component's state: {"size": [width, height]}
SCREEN_MAX_PX = 16384  # a reported window side beyond this is not a screen
DROP_KEY = "fse_drop_signature"  # (name, size) of the files in the uploaders, to notice a new drop
FAILED_LOADS_KEY = "fse_failed_loads"  # {(ref, signature): message} vector files that failed to load
NPZ_UPLOAD_KEY = "fse_npz_held"  # (ref, name, bytes, file_id) of this session's uploaded vector file
MAP_SETTINGS_KEY = "fse_map_settings"
LAST_MAP_KEY = "map_last"
METHOD_KEPT_KEY = "map_method_kept"
LAST_SELECTION_KEY = "map_last_selection"
PANEL_KEY = "map_panel"
MAP_SENT_KEY = "fse_map_sent"  # ids of the map figures this browser session already holds (ui.map_component)
MAP_VIEW_KEY = "fse_map_view"  # (map id, (x range, y range)) of a zoomed large map
RUNS_KEY = "fse_runs"
# saved sets (ui.sets): {set_key: token}, the set opened from a link, a message for the next run, URL flags
TOKENS_KEY = "fse_set_tokens"
OPENED_KEY = "fse_opened_set"
MESSAGE_KEY = "fse_set_message"
URL_READ_KEY = "fse_url_read"
URL_FOCUS_KEY = "fse_url_focus"
LINEAGE_KEY = "fse_upload_lineage"  # tokens of the versions of this session's uploaded set, oldest first

# Widget keys read back by code or set for another widget (the presenter drives the sidebar).
KIND_KEY = "fse_kind"
DEMO_KEY = "fse_demo"
EMBEDDER_KEY = "fse_embedder"
TAG_COLUMN_KEY = "fse_tag_column"
MAP_METHOD_KEY = "map_method"
MAP_CHART_KEY = "map_chart"  # the map component: its events are read back in a callback
PRESENTER_SET_KEY = "presenter_set"
PRESENTER_EMBEDDER_KEY = "presenter_embedder"
MAP_SEARCH_KEY = "fse_map_search"  # the map page's search box (ui/map_search.py)
MAP_SEARCH_METHOD_KEY = "fse_map_search_method"

# Button runs remembered per settings (the result shows until the settings change).
HEAD_RUN = "head"
ZERO_SHOT_RUN = "zero_shot"
SMEAR_RUN = "smear_real"

DEFAULT_SOURCE = "demo:hands"
# HOG by default: on the hands demo it is the cheapest embedder that shows the story on the first screen
# (objects form clusters, gestures overlap); raw pixels put nearly every image in one cloud. Measured here
# (quiet machine, cold cache): hog embed 0.9 s + t-SNE 1.9 s for 448 images; the essay's pixels method
# is one click away and is where the presenter mode starts.
DEFAULT_EMBEDDER = "hog"
MIN_IMAGES = 3


@dataclass(frozen=True)
class SourceChoice:
    """What the sidebar selected: ``kind`` is demo | upload | server | npz | saved; ``ref`` the spec or path."""

    kind: str = "demo"
    ref: str = DEFAULT_SOURCE
    embedder: str = DEFAULT_EMBEDDER
    tag_column: str = "tag"
    manifest_tag_column: str | None = None


@dataclass(frozen=True)
class MapSettings:
    """The projection the Map page shows; the Export page exports the same map."""

    method: str = "tsne"
    dims: int = 2
    perplexity: float = 30.0


@dataclass(frozen=True)
class LastMap:
    """The last finished map, kept to show while the next one is computed and to place added images."""

    key: str
    ids: list[str]
    coords: np.ndarray
    tags: list[str]
    sources: list[str]
    tag_column: str
    method: str
    colors: dict[str, str]


# ----------------------------------------------------------------------------------------- the choice

def current_choice() -> SourceChoice:
    return st.session_state.get(CHOICE_KEY) or SourceChoice()


def set_choice(choice: SourceChoice) -> None:
    st.session_state[CHOICE_KEY] = choice


def tag_column(ws) -> str:
    """The tag column chosen in the sidebar, if ``ws`` (a WorkSet) has it, else its primary "tag"."""
    column = current_choice().tag_column
    return column if column in ws.columns else "tag"


def chosen_tags(ws) -> list[str]:
    """Each row's tag in the chosen column."""
    return ws.columns[tag_column(ws)]


def source_kind() -> str | None:
    return st.session_state.get(KIND_KEY)


def set_source_kind(kind: str) -> None:
    st.session_state[KIND_KEY] = kind


def choose_demo(name: str) -> None:
    """Point the sidebar at ``demo:NAME`` (its widgets read these keys on the next run)."""
    st.session_state[KIND_KEY] = "demo"
    st.session_state[DEMO_KEY] = name


def choose_embedder(name: str) -> None:
    st.session_state[EMBEDDER_KEY] = name


def widget_value(key: str, default: Any = None) -> Any:
    """A widget's current value by its key (one of the ``*_KEY`` widget constants above)."""
    return st.session_state.get(key, default)


def set_widget_value(key: str, value: Any) -> None:
    st.session_state[key] = value


# ----------------------------------------------------------------------------------------- rows

def focus_row(ws=None) -> int | None:
    """The image the user clicked last (row index), if it is a row of ``ws``."""
    row = st.session_state.get(FOCUS_KEY)
    if row is None or (ws is not None and not 0 <= int(row) < len(ws.ids)):
        return None
    return int(row)


def set_focus_row(row: int | None) -> None:
    st.session_state[FOCUS_KEY] = None if row is None else int(row)


def selected_rows(ws=None) -> list[int]:
    rows = st.session_state.get(SELECTED_KEY) or []
    return [int(r) for r in rows if ws is None or 0 <= int(r) < len(ws.ids)]


def set_selected_rows(rows, view: tuple | None = None) -> None:
    """The box/lasso selection, with the map view (colour column, points as) it was made on."""
    st.session_state[SELECTED_KEY] = [int(r) for r in rows]
    st.session_state[SELECTION_VIEW_KEY] = view


def selection_view() -> tuple | None:
    return st.session_state.get(SELECTION_VIEW_KEY)


def forget_rows() -> None:
    """Row indices mean nothing in another set: forget the clicked image and the selection."""
    if FOCUS_KEY in st.session_state:
        st.session_state[FOCUS_KEY] = None
    set_selected_rows([])


def rows_belong_to(set_key: str) -> None:
    """Forget focus and selection when the set changed since the last run."""
    if st.session_state.get(ROWS_OF_KEY) not in (None, set_key):
        forget_rows()
    st.session_state[ROWS_OF_KEY] = set_key


# ----------------------------------------------------------------------------------------- uploads

def upload_batches() -> list[dict]:
    """This session's upload batches: dicts with ``id``, ``tag``, ``images`` (ImageSet), ``files``, ``bytes``."""
    return st.session_state.setdefault(BATCHES_KEY, [])


def set_upload_batches(batches: list[dict]) -> None:
    st.session_state[BATCHES_KEY] = batches


def joined_uploads(signature: tuple):
    """The record of the joined batches if it was built for ``signature`` (their ids), else None."""
    cached = st.session_state.get(UPLOAD_JOINED_KEY)
    return cached[1] if cached is not None and cached[0] == signature else None


def set_joined_uploads(signature: tuple, record) -> None:
    st.session_state[UPLOAD_JOINED_KEY] = (signature, record)


def uploader_nonce() -> int:
    """Part of the uploader's widget key: bumped after a batch is added, which empties the uploader."""
    return st.session_state.setdefault(UPLOADER_NONCE_KEY, 0)


def bump_uploader() -> None:
    st.session_state[UPLOADER_NONCE_KEY] = uploader_nonce() + 1


def set_last_batch(result) -> None:
    st.session_state[LAST_BATCH_KEY] = result


def take_last_batch():
    return st.session_state.pop(LAST_BATCH_KEY, None)


def action_area():
    """This run's placeholder at the top of the main area (``app.py`` makes it), or None outside the app."""
    return st.session_state.get(ACTION_AREA_KEY)


def set_action_area(area) -> None:
    st.session_state[ACTION_AREA_KEY] = area


def action_error() -> str | None:
    """The one-line (escaped Markdown) message of the last action that failed, shown until the next action."""
    return st.session_state.get(ACTION_ERROR_KEY)


def set_action_error(message: str | None) -> None:
    if message is None:
        st.session_state.pop(ACTION_ERROR_KEY, None)
    else:
        st.session_state[ACTION_ERROR_KEY] = message


def reported_screen() -> tuple[int, int] | None:
    """(width, height) of the browser window as the screen component last reported it, or None.

    The browser sends it, so a page may send anything: only two integers in 1..SCREEN_MAX_PX count (they
    size pictures and reach the presenter's HTML)."""
    reported = st.session_state.get(SCREEN_KEY)
    size = reported.get("size") if isinstance(reported, dict) else None
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        return None
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError, OverflowError):
        return None
    return (width, height) if 0 < width <= SCREEN_MAX_PX and 0 < height <= SCREEN_MAX_PX else None


def new_drop(signature: tuple) -> bool:
    """True when the uploaders hold other files than at the last run (and remember these)."""
    changed = st.session_state.get(DROP_KEY) != signature
    st.session_state[DROP_KEY] = signature
    return changed


def held_vector_upload() -> tuple | None:
    """(ref, name, bytes, file_id) of the vector file uploaded in this session, or None."""
    return st.session_state.get(NPZ_UPLOAD_KEY)


def set_held_vector_upload(held: tuple | None) -> None:
    if held is None:
        st.session_state.pop(NPZ_UPLOAD_KEY, None)
    else:
        st.session_state[NPZ_UPLOAD_KEY] = held


# ----------------------------------------------------------------------------------------- saved sets

def set_tokens() -> dict:
    """{set_key: token} of the sets this session saved or opened."""
    return st.session_state.setdefault(TOKENS_KEY, {})


def opened_set() -> tuple | None:
    """(token, WorkSet) of the set opened from a link (kind "saved"), or None."""
    return st.session_state.get(OPENED_KEY)


def set_opened_set(opened: tuple | None) -> None:
    if opened is None:
        st.session_state.pop(OPENED_KEY, None)
    else:
        st.session_state[OPENED_KEY] = opened


def upload_lineage() -> list[str]:
    """Tokens of the saved versions of this session's uploaded set, oldest first (each batch saves one)."""
    return st.session_state.setdefault(LINEAGE_KEY, [])


def set_message(message: str) -> None:
    st.session_state[MESSAGE_KEY] = message


def take_message() -> str | None:
    return st.session_state.pop(MESSAGE_KEY, None)


def first_url_read() -> bool:
    """True once per browser session (the run that reads the URL)."""
    if st.session_state.get(URL_READ_KEY):
        return False
    st.session_state[URL_READ_KEY] = True
    return True


def set_url_focus(image_id: str | None) -> None:
    st.session_state[URL_FOCUS_KEY] = image_id


def take_url_focus() -> str | None:
    return st.session_state.pop(URL_FOCUS_KEY, None)


# ----------------------------------------------------------------------------------------- map page

def map_settings() -> MapSettings:
    return st.session_state.get(MAP_SETTINGS_KEY) or MapSettings()


def set_map_settings(settings: MapSettings) -> None:
    st.session_state[MAP_SETTINGS_KEY] = settings


def last_map() -> LastMap | None:
    return st.session_state.get(LAST_MAP_KEY)


def set_last_map(last: LastMap) -> None:
    st.session_state[LAST_MAP_KEY] = last


def kept_method(default: str) -> str:
    """The projection last chosen (kept outside the widget, whose state Streamlit drops on a run without it)."""
    return st.session_state.get(METHOD_KEPT_KEY, default)


def keep_method() -> None:
    """Widget callback of the projection box."""
    st.session_state[METHOD_KEPT_KEY] = st.session_state[MAP_METHOD_KEY]


def last_selection_event() -> tuple | None:
    return st.session_state.get(LAST_SELECTION_KEY)


def set_last_selection_event(signature: tuple) -> None:
    st.session_state[LAST_SELECTION_KEY] = signature


def map_panel() -> str:
    """What the panel beside the map shows: "focus" (clicked image) or "selection"."""
    return st.session_state.get(PANEL_KEY, "focus")


def set_map_panel(panel: str) -> None:
    st.session_state[PANEL_KEY] = panel


# ----------------------------------------------------------------------------------------- button runs

def remember_run(slot: str, settings: Any) -> None:
    """A button asked for ``slot``'s result with these ``settings`` (HEAD_RUN, ZERO_SHOT_RUN, SMEAR_RUN)."""
    st.session_state.setdefault(RUNS_KEY, {})[slot] = settings


def ran(slot: str, settings: Any) -> bool:
    """True when ``slot`` was last run with exactly these ``settings``."""
    return st.session_state.get(RUNS_KEY, {}).get(slot) == settings


# ----------------------------------------------------------------------------------------- the session itself

def session_id() -> str | None:
    """This browser session's id (the set store's owner, the upload budget's key); None outside a server."""
    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else None


def failed_vector_load(ref: str, signature: object) -> str | None:
    """The message an earlier attempt to read this vector file gave in this session (parsed once), or None."""
    failed = st.session_state.get(FAILED_LOADS_KEY) or {}
    return failed.get((ref, signature))


def set_failed_vector_load(ref: str, signature: object, message: str) -> None:
    failed = st.session_state.setdefault(FAILED_LOADS_KEY, {})
    if len(failed) > 32:  # a session trying many bad files keeps the latest only
        failed.clear()
    failed[(ref, signature)] = message


def map_sent(map_id: str) -> bool:
    """True when this session already sent the browser the figure of map ``map_id``."""
    return map_id in st.session_state.get(MAP_SENT_KEY, ())


def set_map_sent(map_id: str, sent: bool) -> None:
    held = set(st.session_state.get(MAP_SENT_KEY, ()))
    (held.add if sent else held.discard)(map_id)
    st.session_state[MAP_SENT_KEY] = held


def map_view(map_id: str):
    """The zoomed region ((x0, x1), (y0, y1)) of large map ``map_id``, or None (the whole map)."""
    view = st.session_state.get(MAP_VIEW_KEY)
    return view[1] if view is not None and view[0] == map_id else None


def set_map_view(map_id: str, ranges) -> None:
    st.session_state[MAP_VIEW_KEY] = None if ranges is None else (map_id, ranges)
