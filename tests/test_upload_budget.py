"""Issue 20: files waiting in an uploader are bounded as they arrive, per session and per server."""

from __future__ import annotations

import pytest
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.uploaded_file_manager import UploadedFileRec

from ui import upload_budget

MB = 2**20


def rec(i: int, size: int) -> UploadedFileRec:
    return UploadedFileRec(file_id=f"f{i}", name=f"big{i}.zip", type="application/zip", data=bytes(size))


def test_a_session_cannot_hold_more_than_its_budget_and_clearing_gives_it_back():
    from starlette.exceptions import HTTPException

    manager = upload_budget.guard(MemoryUploadedFileManager("/upload"), per_session=300 * MB, per_server=1000 * MB)
    for i in range(3):
        manager.add_file("tab1", rec(i, 99 * MB))
    with pytest.raises(HTTPException) as refused:  # the fourth 99 MB file would pass 300 MB
        manager.add_file("tab1", rec(3, 99 * MB))
    assert refused.value.status_code == 413 and "over the limit of 300 MB" in refused.value.detail
    assert upload_budget.held_bytes(manager, "tab1") == 297 * MB
    assert "big3.zip: not kept" in upload_budget.take_refusal("tab1") and upload_budget.take_refusal("tab1") is None
    manager.remove_file("tab1", "f0")  # the visitor cleared one file: its bytes are free again
    manager.add_file("tab1", rec(3, 99 * MB))
    manager.add_file("tab1", rec(3, 99 * MB))  # the same file again replaces itself, it is not counted twice
    assert upload_budget.held_bytes(manager, "tab1") == 297 * MB


def test_all_sessions_together_have_a_server_budget():
    from starlette.exceptions import HTTPException

    manager = upload_budget.guard(MemoryUploadedFileManager("/upload"), per_session=300 * MB, per_server=500 * MB)
    for tab in ("a", "b"):
        for i in range(2):
            manager.add_file(tab, rec(i, 120 * MB))
    with pytest.raises(HTTPException) as refused:
        manager.add_file("c", rec(0, 30 * MB))
    assert "the server holds 480 MB" in refused.value.detail
    manager.remove_session_files("a")  # a tab closed
    manager.add_file("c", rec(0, 30 * MB))
    assert upload_budget.guard(manager) is manager  # installing twice wraps once
