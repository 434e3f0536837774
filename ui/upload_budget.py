"""Uploads bounded while pending: a per-session (and server-wide) byte budget enforced as files arrive.

Streamlit keeps every file a visitor drops into an uploader in the server's memory until the widget is
cleared, whether or not "Add to set" is ever pressed (eight files of 99 MB held +755 MB per tab). Its
``server.maxUploadSize`` bounds one file only. :func:`install` wraps the running server's upload manager
once: a file that would take its session past ``limits.SESSION_MAX_PENDING_UPLOAD_BYTES`` (or all sessions
past ``SERVER_MAX_PENDING_UPLOAD_BYTES``) is refused with HTTP 413 before it is stored, and the budget is
what the manager holds, so a cleared uploader (Streamlit deletes its files) gives the bytes back at once.
"""

from __future__ import annotations

import threading
from typing import Any

from explorer import limits
from explorer.io.names import display_name

_LOCK = threading.Lock()
_REFUSED: dict[str, str] = {}  # session id -> the last refusal, shown once in that session's sidebar


class UploadRefused(Exception):
    """A file over the pending-upload budget (raised as HTTP 413 inside a running server)."""


def held_bytes(manager: Any, session_id: str | None = None) -> int:
    """Bytes ``manager`` (a MemoryUploadedFileManager) holds for ``session_id`` (None: every session)."""
    storage = getattr(manager, "file_storage", {})
    sessions = [storage.get(session_id, {})] if session_id is not None else list(storage.values())
    return sum(len(rec.data) for files in sessions for rec in files.values())


def guard(manager: Any, *, per_session: int = limits.SESSION_MAX_PENDING_UPLOAD_BYTES,
          per_server: int = limits.SERVER_MAX_PENDING_UPLOAD_BYTES) -> Any:
    """Wrap ``manager.add_file`` with the budget (idempotent); returns the manager."""
    if getattr(manager, "_fse_budget", None) is not None:
        return manager
    original = manager.add_file

    def add_file(session_id: str, file: Any) -> None:
        size = len(file.data)
        with _LOCK:
            replaced = manager.file_storage.get(session_id, {}).get(file.file_id)
            again = len(replaced.data) if replaced is not None else 0
            mine = held_bytes(manager, session_id) - again
            everyone = held_bytes(manager) - again
            if mine + size > per_session:
                reason = (f"{_name(file)}: not kept — this tab's files waiting to be added would take "
                          f"{_mb(mine + size)}, over the limit of {_mb(per_session)}; add or remove some first")
            elif everyone + size > per_server:
                reason = (f"{_name(file)}: not kept — the server holds {_mb(everyone)} of files waiting to be "
                          f"added, over its limit of {_mb(per_server)}; try again in a moment")
            else:
                reason = ""
                original(session_id, file)
            if reason:
                _REFUSED[session_id] = reason
        if reason:
            _refuse(reason)

    manager.add_file = add_file
    manager._fse_budget = (per_session, per_server)
    return manager


def install() -> bool:
    """Guard the running server's upload manager (nothing outside a server); True when it is guarded."""
    try:
        from streamlit.runtime import Runtime

        if not Runtime.exists():
            return False
        manager = Runtime.instance().uploaded_file_mgr
    except Exception:  # noqa: BLE001 (no runtime: AppTest, scripts)
        return False
    if not hasattr(manager, "file_storage"):
        return False
    guard(manager)
    return True


def take_refusal(session_id: str) -> str | None:
    """The last refusal for this session (then forgotten), to show once."""
    with _LOCK:
        return _REFUSED.pop(session_id, None)


def _refuse(reason: str) -> None:
    try:
        from starlette.exceptions import HTTPException
    except ImportError:
        raise UploadRefused(reason) from None
    raise HTTPException(status_code=413, detail=reason)


def _name(file: Any) -> str:
    return display_name(getattr(file, "name", "") or "a file", max_length=80)


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"
