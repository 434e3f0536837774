"""A link made after a batch opens that version of the set, and says so when more was added since."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from explorer.io.demos import load_demo
from explorer.io.load import load_workset
from explorer.io.setstore import SetStore
from file_helpers import png_bytes  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")




def _add(at: AppTest, tag: str, seeds: range) -> str:
    """Add one batch; returns the link token of the set as it now is."""
    nonce = at.session_state["fse_uploader_nonce"]
    at.file_uploader(key=f"fse_uploader_{nonce}").set_value(
        [(f"{tag}{i}.png", png_bytes(i), "image/png") for i in seeds]).run()
    at.text_input(key="fse_upload_tag").set_value(tag).run()
    at.button(key="fse_add").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at.query_params["set"][0] if isinstance(at.query_params["set"], list) else at.query_params["set"]


def test_an_early_link_opens_its_version_and_says_how_many_images_came_since(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["fse_kind"] = "upload"  # straight to the uploader: no demo mapped first
    at.run()
    first = _add(at, "cats", range(0, 5))
    second = _add(at, "dogs", range(10, 20))
    assert first != second
    later = AppTest.from_file(APP, default_timeout=180)
    later.query_params["set"] = first
    later.run()
    assert not later.exception
    shown = " ".join(w.value for w in later.main.warning).replace("\u2060", "").replace("\\", "")
    assert "This link shows 5 of the 15 images you have added since" in shown and second in shown
    assert any("5 images · 1 tag" in c.value for c in later.sidebar.caption)  # that version, not the newest
    newest = AppTest.from_file(APP, default_timeout=180)
    newest.query_params["set"] = second
    newest.run()
    assert not [w for w in newest.main.warning if "link shows" in w.value]  # nothing newer than the newest


def test_the_store_forgets_a_newer_version_it_no_longer_keeps(tmp_path):
    store = SetStore(tmp_path)
    old = store.save(load_workset(load_demo("digits").subset(range(10)), embedder=None))
    new = store.save(load_workset(load_demo("digits").subset(range(20)), embedder=None))
    store.note_newer(old, new, 20)
    assert store.newer(old) == (new, 20) and store.newer(new) is None
    store.forget(new)
    assert store.newer(old) is None
