"""AppTest runs of every page and source kind (demo, uploads, server folder, .npz), incl. hostile input."""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from ui import paths, sidebar  # noqa: E402
from ui import compute, state  # noqa: E402
from ui.safe import md  # noqa: E402
from ui.map_component import COMPONENT_NAME as MAP_COMPONENT  # noqa: E402
from map_helpers import map_specs  # noqa: E402

HOSTILE = "<img src=x onerror=alert(1)>$x^2$"
TIMEOUT = 180
APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(paths.ENV_VAR, raising=False)


def png(color, size=(40, 30), fmt="PNG") -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", size, color)
    for x in range(0, size[0], 7):  # some structure so vectors differ in direction, not just brightness
        img.putpixel((x, x % size[1]), (255 - color[0], 255 - color[1], 255 - color[2]))
    img.save(buf, fmt)
    return buf.getvalue()


def batch(tag_seed: int, n: int = 4):
    rng = np.random.default_rng(tag_seed)
    return [(f"img_{tag_seed}_{i}.png", png(tuple(int(v) for v in rng.integers(0, 255, 3))), "image/png")
            for i in range(n)]


def app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    return at


def texts(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
    parts += [i.value for i in at.info] + [w.value for w in at.warning] + [t.value for t in at.text]
    return "\n".join(str(p) for p in parts)


def no_exceptions(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def charts(at) -> list:
    """The page's charts: st.plotly_chart elements and the map component (ui.map_component)."""
    return list(at.get("plotly_chart")) + [el for el in at.get("bidi_component")
                                           if el.proto.component_name == MAP_COMPONENT]


def test_first_start_shows_the_hands_demo_mapped():
    at = app()
    no_exceptions(at)
    body = texts(at)
    assert "448 images" in body and md("demo:hands") in body
    assert len(charts(at)) == 1
    assert "trustworthiness" in body and "Tag agreement" in body
    assert at.session_state[state.CHOICE_KEY].ref == "demo:hands"


def test_click_focus_shows_neighbours_with_distances():
    at = app()
    at.session_state[state.FOCUS_KEY] = 5
    at.run()
    no_exceptions(at)
    assert "Its 10 nearest neighbours" in texts(at)
    shown = [int(b.key.split("_")[1]) for b in at.button if b.key and b.key.startswith("nb_")]
    from explorer.distances import knn

    from explorer.io.load import load_workset

    # the page's own set, built independently (the process-wide cache may hold other tests' sets too)
    vectors = load_workset(state.DEFAULT_SOURCE, embedder=state.DEFAULT_EMBEDDER, cache=None).vectors
    assert shown == [int(i) for i in knn(vectors, 10)[0][5]]
    # pressing "look closer" on a neighbour makes it the selected image
    at.button(key=f"nb_{shown[0]}").click().run()
    assert at.session_state[state.FOCUS_KEY] == shown[0]


def test_tag_column_recolours_without_reembedding(monkeypatch):
    at = app()
    calls = []
    import explorer.embedders as emb

    real = emb.embed_set
    monkeypatch.setattr(emb, "embed_set", lambda *a, **k: calls.append(1) or real(*a, **k))
    at.selectbox(key="fse_tag_column").set_value("kind").run()
    no_exceptions(at)
    assert "2 tags" in texts(at)
    assert calls == []


def test_distances_page_on_demo():
    at = app()
    at.switch_page("ui/pages/distances.py").run()
    no_exceptions(at)
    body = texts(at)
    assert "Mean similarity between tags" in body and "Median distance: same tag" in body
    assert len(charts(at)) == 3


def test_pair_page_shows_the_cosine_walk_with_live_numbers():
    at = app()
    at.switch_page("ui/pages/pair.py").run()
    no_exceptions(at)
    assert len(charts(at)) == 1  # default embedder (hog): contribution bars, no pixel grid to draw back onto
    at.selectbox(key="fse_embedder").set_value("pixels").run()
    no_exceptions(at)
    codes = "\n".join(c.value for c in at.code)
    assert "cos θ = (A · B)" in codes and codes.count("[") >= 2
    a = at.selectbox(key="pair_a_0").value
    b = at.selectbox(key="pair_b_1").value
    from explorer.io.demos import load_demo
    from explorer.embedders import get_embedder

    va, vb = get_embedder("pixels").embed(load_demo("hands").pixels[[a, b]]).astype(np.float64)
    cos = va @ vb / np.linalg.norm(va) / np.linalg.norm(vb)
    assert f"= {cos:.4f}" in codes
    assert len(charts(at)) == 2  # contribution bars + pixel grid (pixels embedder)


def _to_uploads(at):
    at.radio(key="fse_kind").set_value("upload").run()
    no_exceptions(at)
    return at


def _add(at, files, tag):
    nonce = at.session_state["fse_uploader_nonce"]
    at.file_uploader(key=f"fse_uploader_{nonce}").set_value(files)
    at.text_input(key="fse_upload_tag").set_value(tag)
    at.run()
    at.button(key="fse_add").click().run()
    no_exceptions(at)
    return at


def test_uploads_build_one_set_over_batches_and_can_be_removed():
    at = _to_uploads(app())
    assert "Drop images" in texts(at)
    _add(at, batch(1), "cats")
    _add(at, batch(2), "dogs")
    body = texts(at)
    assert "8 images · 2 tags" in body
    assert len(charts(at)) == 1
    batches = at.session_state[state.BATCHES_KEY]
    assert [b["tag"] for b in batches] == ["cats", "dogs"]
    # a parameter change keeps the uploaded set
    at.radio(key="map_dims").set_value(3).run()
    assert "8 images · 2 tags" in texts(at)
    at.button(key=f"fse_remove_{batches[0]['id']}").click().run()
    no_exceptions(at)
    assert "4 images · 1 tag" in texts(at)


def test_uploaded_zip_of_tagged_folders():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for tag in ("red", "blue"):
            for i in range(3):
                zf.writestr(f"set/{tag}/{i}.png", png((200, 10 * i, 0) if tag == "red" else (0, 10 * i, 200)))
    at = _to_uploads(app())
    _add(at, [("set.zip", buf.getvalue(), "application/zip")], "")
    assert "6 images · 2 tags" in texts(at)


def test_hostile_uploads_are_skipped_by_name_and_escaped():
    bad_zip = io.BytesIO()
    with zipfile.ZipFile(bad_zip, "w") as zf:
        zf.writestr("../../etc/evil.png", png((1, 2, 3)))
    files = batch(3, 3) + [
        (f"{HOSTILE}.png", b"\x89PNG\r\n\x1a\n not really", "image/png"),
        ("truncated.jpg", png((9, 9, 9), fmt="JPEG")[:60], "image/jpeg"),
        ("evil.zip", bad_zip.getvalue(), "application/zip"),
    ]
    at = _to_uploads(app())
    _add(at, files, HOSTILE)
    no_exceptions(at)
    assert "3 images · 1 tag" in texts(at)
    assert [s.value for s in at.success] == ["Added 3 images; 3 skipped"]
    assert "3 files skipped — see why" in [e.label for e in at.expander]
    skipped_tables = [df.value for df in at.dataframe if "reason" in getattr(df.value, "columns", [])]
    names = " ".join(" ".join(map(str, t["file"])) for t in skipped_tables)
    assert "truncated.jpg" in names
    # user strings reach Markdown only escaped: no raw tag, no live math
    at.session_state[state.FOCUS_KEY] = 0
    at.run()
    no_exceptions(at)
    assert "Its 2 nearest neighbours" in texts(at)
    for md_el in list(at.markdown) + list(at.caption):
        # every '<' and '$' that reaches Markdown is backslash-escaped (rendered as text, never HTML/math)
        assert re.search(r"(?<!\\)[<$]", md_el.value) is None, md_el.value
    assert at.session_state[state.BATCHES_KEY][0]["images"].tags[0] == HOSTILE


def test_upload_caps_refuse_the_batch_with_a_message(monkeypatch):
    monkeypatch.setattr(sidebar, "MAX_IMAGES", 3)
    at = _to_uploads(app())
    _add(at, batch(4, 4), "too many")
    assert any("Too many images" in e.value for e in at.error)
    assert at.session_state[state.BATCHES_KEY] == []
    monkeypatch.setattr(sidebar, "MAX_IMAGES", 100)
    monkeypatch.setattr(sidebar, "MAX_UPLOAD_BYTES", 10)
    _add(at, batch(5, 2), "too big")
    assert any("Too much data" in e.value for e in at.error)


def _server_root(tmp_path):
    root = tmp_path / "roots" / "sets"
    for tag, color in (("apples", (200, 30, 30)), ("pears", (40, 200, 40))):
        (root / "fruit" / tag).mkdir(parents=True)
        for i in range(4):
            (root / "fruit" / tag / f"{i}.png").write_bytes(png((color[0], color[1], 20 * i)))
    outside = tmp_path / "outside"
    (outside / "x").mkdir(parents=True)
    (outside / "x" / "a.png").write_bytes(png((1, 1, 1)))
    os.symlink(outside, root / "escape")
    return root


def test_server_folder_inside_roots_and_tricks_refused(tmp_path, monkeypatch):
    root = _server_root(tmp_path)
    monkeypatch.setenv(paths.ENV_VAR, str(root))
    at = app()
    at.radio(key="fse_kind").set_value("server").run()
    no_exceptions(at)
    options = at.selectbox(key="fse_server_pick").options
    assert "fruit" in options and not any(o.startswith("escape") for o in options)
    at.selectbox(key="fse_server_pick").set_value("fruit").run()
    no_exceptions(at)
    assert "8 images · 2 tags" in texts(at)
    for trick in ("../outside", str(tmp_path / "outside"), "escape/x", "fruit/../../outside"):
        at.text_input(key="fse_server_typed").set_value(trick).run()
        no_exceptions(at)
        assert any("Refused" in e.value for e in at.error), trick


def test_server_source_absent_without_roots():
    at = app()
    at.radio(key="fse_kind").set_value("server").run()
    no_exceptions(at)
    body = texts(at)
    assert "No server folders are configured" in body and "Choose what to load" in body
    assert not charts(at)


def test_npz_on_server_maps_without_pictures(tmp_path, monkeypatch):
    from explorer.io.demos import load_demo
    from explorer.embedders import get_embedder
    from explorer.io.store import save_embeddings

    images = load_demo("hands").subset(range(0, 448, 8))
    embedder = get_embedder("color-histogram")
    root = tmp_path / "npzroot"
    root.mkdir()
    save_embeddings(root / "hands.npz", images, embedder.embed(images.pixels), embedder)
    monkeypatch.setenv(paths.ENV_VAR, str(root))
    at = app()
    at.radio(key="fse_kind").set_value("npz").run()
    at.selectbox(key="fse_npz_pick").set_value("hands.npz").run()
    no_exceptions(at)
    body = texts(at)
    assert "**56 images**" in body and "color\\-histogram" in body
    at.session_state[state.FOCUS_KEY] = 0
    at.run()
    no_exceptions(at)
    assert "without pictures" in texts(at)


def test_tsne_animates_and_perplexity_does_not_reembed(monkeypatch):
    at = _to_uploads(app())
    _add(at, batch(6, 6), "a")
    _add(at, batch(7, 6), "b")
    import explorer.embedders as emb

    calls = []
    real = emb.embed_set
    monkeypatch.setattr(emb, "embed_set", lambda *a, **k: calls.append(1) or real(*a, **k))
    at.selectbox(key="map_method").set_value("tsne").run()
    no_exceptions(at)
    at.slider(key="map_perplexity").set_value(5).run()
    no_exceptions(at)
    assert calls == []
    assert len(charts(at)) == 1


def test_a_bookmarked_url_opens_its_demo_and_embedder():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["source"] = "demo:digits"
    at.query_params["embedder"] = "pixels"
    at.run()
    no_exceptions(at)
    assert at.selectbox(key="fse_demo").value == "digits"
    assert at.selectbox(key="fse_embedder").value == "pixels"
    assert "1,797 images" in texts(at)


def test_a_url_naming_something_unknown_falls_back_to_the_defaults():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["source"] = "demo:../../etc"
    at.query_params["embedder"] = "<script>"
    at.run()
    no_exceptions(at)
    assert at.selectbox(key="fse_demo").value == "hands"
    assert at.selectbox(key="fse_embedder").value == state.DEFAULT_EMBEDDER


def test_tsne_shows_the_linear_view_first_then_its_iterations():
    from types import SimpleNamespace

    from explorer.projection import pca_preview

    rng = np.random.default_rng(3)
    vectors = np.vstack([rng.normal(0, 1, (15, 6)) + 4, rng.normal(0, 1, (15, 6)) - 4]).astype(np.float32)
    ws = SimpleNamespace(key=f"preview-test-{rng.integers(1 << 30)}", vectors=vectors)
    frames = []
    proj = compute.get_projection(ws, method="tsne", perplexity=5, on_layout=lambda i, c: frames.append((i, c.copy())))
    iterations = [i for i, _ in frames]
    assert iterations[0] == 0 and iterations[1:] == sorted(iterations[1:]) and len(iterations) > 2
    np.testing.assert_array_equal(frames[0][1], pca_preview(vectors))
    assert proj.coords.shape == (30, 2)
    frames.clear()
    compute.get_projection(ws, method="tsne", perplexity=5, on_layout=lambda i, c: frames.append(i))
    assert frames == []  # cached: no preview, no animation


def test_images_as_points_draws_every_image_of_a_large_set_as_one_picture():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["source"] = "demo:digits"
    at.query_params["embedder"] = "pixels"
    at.run()
    at.selectbox(key="map_method").set_value("pca").run()
    at.radio(key="map_show").set_value("images").run()
    no_exceptions(at)
    assert "All 1,797 images drawn as one picture" in texts(at)

    spec = map_specs(at)[0]
    (image,) = spec["layout"]["images"]
    assert image["source"].startswith("data:image/webp;base64,") and image["layer"] == "below"
