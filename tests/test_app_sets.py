"""A set is a thing you can come back to: the ?set= token round trip, forget, gone tokens, the URL view.

Also the process-wide caches' byte bound and the map's selection panel (AppTest).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from test_app import APP, TIMEOUT, _add, _server_root, _to_uploads, app, batch, charts, no_exceptions, texts  # noqa: E402
from ui import paths  # noqa: E402
from ui import compute, state  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(paths.ENV_VAR, raising=False)


def opened(**params) -> AppTest:
    """A new browser session opening the app with these URL parameters."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    no_exceptions(at)
    return at


def test_an_uploaded_set_comes_back_from_its_link_with_the_same_view():
    at = _to_uploads(app())
    _add(at, batch(1), "cats")
    _add(at, batch(2), "dogs")
    at.selectbox(key="map_method").set_value("pca").run()
    at.session_state[state.FOCUS_KEY] = 6
    at.run()
    url = dict(at.query_params)
    token = url["set"]
    assert len(token) >= 32 and "source" not in url
    assert url["method"] == "pca" and url["embedder"] == state.DEFAULT_EMBEDDER
    focus_id = url["focus"]
    ids = at.session_state["fse_upload_joined"][1].ids
    assert focus_id == ids[6]

    again = opened(**url)  # another session: nothing of the first one's state, only the URL
    assert "8 images · 2 tags" in texts(again)
    assert again.radio(key="fse_kind").value == "upload"
    assert [b["tag"] for b in again.session_state[state.BATCHES_KEY]] == ["cats", "dogs"]
    assert again.selectbox(key="map_method").value == "pca"
    assert again.session_state[state.FOCUS_KEY] == 6
    assert "Its 7 nearest neighbours" in texts(again)
    assert dict(again.query_params)["set"] == token  # the same set keeps its token: no new save
    # more images can be added to the restored set; it becomes a new set with a new link
    _add(again, batch(3), "birds")
    assert "12 images · 3 tags" in texts(again)
    assert dict(again.query_params)["set"] != token


def test_forget_deletes_the_set_and_its_link_then_opens_the_demo():
    at = _to_uploads(app())
    _add(at, batch(4), "cats")
    token = at.query_params["set"]
    at.button(key="fse_forget").click().run()
    no_exceptions(at)
    assert at.radio(key="fse_kind").value == "demo"
    assert any("forgotten" in w.value for w in at.warning)
    assert "set" not in at.query_params and at.session_state[state.BATCHES_KEY] == []
    later = opened(set=token)
    assert any("could not be opened" in w.value for w in later.warning)
    assert "448 images" in texts(later) and len(charts(later)) == 1


@pytest.mark.parametrize("token", ["not-a-token-of-this-server-000000", "../../etc/passwd", "<script>"])
def test_an_unknown_token_gives_the_demo_and_a_message(token):
    at = opened(set=token, embedder="hog")
    assert any("could not be opened" in w.value for w in at.warning)
    assert at.radio(key="fse_kind").value == "demo"
    assert "448 images" in texts(at) and "set" not in at.query_params
    assert at.query_params["source"] == "demo:hands"


def test_a_server_folder_is_kept_even_when_the_server_no_longer_offers_it(tmp_path, monkeypatch):
    root = _server_root(tmp_path)
    monkeypatch.setenv(paths.ENV_VAR, str(root))
    at = app()
    at.radio(key="fse_kind").set_value("server").run()
    at.selectbox(key="fse_server_pick").set_value("fruit").run()
    no_exceptions(at)
    token = at.query_params["set"]
    monkeypatch.delenv(paths.ENV_VAR)
    again = opened(set=token)
    assert again.radio(key="fse_kind").value == "saved"
    assert "8 images · 2 tags" in texts(again) and len(charts(again)) == 1
    assert "fruit" in texts(again)


def test_a_box_selection_shows_counts_grid_and_csv_beside_the_map():
    at = _to_uploads(app())
    _add(at, batch(5), "cats")
    _add(at, batch(6), "=dogs")
    at.session_state[state.SELECTED_KEY] = [0, 1, 5]
    at.session_state["map_panel"] = "selection"
    at.run()
    no_exceptions(at)
    assert "3 images selected" in texts(at)
    table = next(df.value for df in at.dataframe if "images" in getattr(df.value, "columns", []))
    assert dict(zip(table["tag"], table["images"])) == {"cats": 2, "=dogs": 1}
    (download,) = [d for d in at.get("download_button")]
    at.button(key="map_clear").click().run()
    assert at.session_state[state.SELECTED_KEY] == []
    assert download.proto.label == "Download names (CSV)"


def test_selection_csv_names_every_row_and_defuses_formulas():
    import csv
    import io
    from types import SimpleNamespace

    from ui.current import selection_csv  # the one selection CSV (explorer.io.export.selection_csv)

    ws = SimpleNamespace(sources=["a.png", "=cmd|x.png"], ids=["i0", "i1"], columns={"tag": ["+1+cmd", "-0.5"]},
                         vectors=None, images=None, embedder_name="", name="t")
    rows = list(csv.reader(io.StringIO(selection_csv(ws, [0, 1]).decode("utf-8"))))
    assert rows == [["id", "source", "tag"], ["i0", "a.png", "'+1+cmd"], ["i1", "'=cmd|x.png", "-0.5"]]


def test_process_caches_are_bounded_in_bytes_as_well_as_entries():
    from ui.compute import _Store, estimate_bytes

    store = _Store(max_entries=10, max_bytes=3_000_000)
    for i in range(5):
        store.put(i, np.zeros(1_000_000, dtype=np.uint8))
    assert list(store.data) == [2, 3, 4] and store.nbytes == 3_000_000
    store.put("big", np.zeros(5_000_000, dtype=np.uint8))  # larger than the budget: kept alone
    assert list(store.data) == ["big"]
    assert estimate_bytes({"a": [b"xx", "yyy"], "b": np.zeros(10, np.float32)}) >= 45


def test_an_added_batch_starts_from_the_map_on_screen_with_new_images_placed():
    at = _to_uploads(app())
    _add(at, batch(7, 6), "cats")
    _add(at, batch(8, 6), "dogs")  # the default t-SNE map of 12 images is on screen
    before = at.session_state[state.LAST_MAP_KEY]
    assert before.method == "tsne" and len(before.ids) == 12
    _add(at, batch(9, 6), "birds")
    after = at.session_state[state.LAST_MAP_KEY]
    assert len(after.ids) == 18 and after.key != before.key
    ws_key = after.key
    proj = next(v for (kind, key), v in compute._stores()["projection"].data.items() if key[0] == ws_key)
    assert proj.params["initialization"] == "given"  # refined from the placed layout, not from PCA
    assert np.isfinite(proj.coords).all()
