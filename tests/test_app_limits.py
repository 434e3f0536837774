"""Issue 13 in the app: hostile uploads refused before they cost memory, small and degenerate sets on every page."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

import amplifiers  # noqa: E402
from explorer import limits  # noqa: E402
from explorer.io.sources import Upload, load_uploads  # noqa: E402
from ui import paths  # noqa: E402
from ui import state  # noqa: E402
from ui.safe import md  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGES = ["ui/pages/map.py", "ui/pages/distances.py", "ui/pages/pair.py", "ui/pages/pairs.py",
         "ui/pages/contrastive.py", "ui/pages/smear.py"]
STEPS = range(1, 8)


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(paths.ENV_VAR, raising=False)


def messages(at) -> str:
    return "\n".join(str(m.value) for m in list(at.warning) + list(at.info) + list(at.error))


def no_exceptions(at, where: str) -> None:
    assert not at.exception, (where, [e.value for e in at.exception])


def png(color, size=(20, 20)) -> bytes:
    buf = io.BytesIO()
    im = Image.new("RGB", size, color)
    for x in range(0, size[0], 3):
        im.putpixel((x, (x * 7) % size[1]), (255 - color[0], color[1], color[2]))
    im.save(buf, "PNG")
    return buf.getvalue()


def image_set(n: int, tags: int, *, identical: bool = False):
    rng = np.random.default_rng(n)
    colors = [(9, 9, 9) if identical else tuple(int(v) for v in rng.integers(0, 255, 3)) for _ in range(n)]
    return load_uploads([Upload(f"i{i}.png", png(c), f"t{i % tags}") for i, c in enumerate(colors)])


def app_with_images(images) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["fse_kind"] = "upload"
    at.session_state[state.BATCHES_KEY] = [{"id": "b1", "tag": "", "images": images, "files": len(images),
                                          "bytes": 1, "decoded": 1}]
    at.run()
    return at


def visit(at, target) -> str:
    """Open a page (a path) or a presenter step (an int), press "Train the head" where there is one."""
    if isinstance(target, int):
        at.query_params["step"] = str(target)
        at.switch_page("ui/pages/presenter.py").run()
    else:
        at.switch_page(target).run()
    where = f"presenter step {target}" if isinstance(target, int) else target
    no_exceptions(at, where)
    train = [b for b in at.button if b.key == "head_train"]
    if train:
        train[0].click().run()
        no_exceptions(at, where + " after Train the head")
    return messages(at)


HELD_OUT_NOTE = "the before/after numbers are not measured"


@pytest.mark.parametrize("n, tags, identical, expect", [
    (2, 2, False, {t: "Only 2 images loaded: a map needs at least 3" for t in PAGES + list(STEPS)}),
    (3, 2, False, {"ui/pages/contrastive.py": "Only 3 images in 2 tags", 6: "Only 3 images in 2 tags"}),
    (5, 1, False, {"ui/pages/contrastive.py": "Training needs at least two tags",
                   "ui/pages/smear.py": "Separation needs at least two tags", 6: "Only 5 images in 1 tag"}),
    (4, 2, True, {"ui/pages/contrastive.py": HELD_OUT_NOTE, 6: HELD_OUT_NOTE}),
])
def test_small_and_degenerate_sets_show_a_message_on_every_page(n, tags, identical, expect):
    at = app_with_images(image_set(n, tags, identical=identical))
    for target in PAGES + list(STEPS):
        shown = visit(at, target)
        if target in expect:
            assert expect[target] in shown, (target, shown)


@pytest.mark.parametrize("n, tags, measured", [(6, 2, False), (8, 2, False), (10, 3, True)])
def test_train_the_head_on_small_sets(n, tags, measured):
    """6 or 8 images in two tags hold out fewer than 3: the head trains on all and says so; 10 in 3 measure."""
    at = app_with_images(image_set(n, tags))
    for target in ("ui/pages/contrastive.py", 6):
        shown = visit(at, target)
        assert (HELD_OUT_NOTE in shown) is not measured, (target, shown)
    at.switch_page("ui/pages/contrastive.py").run()
    values = [m.value for m in at.metric]
    assert ("n/a" in values[0]) is not measured, values


def npz_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "npzroot"
    root.mkdir()
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(7, 8)).astype(np.float32)
    vectors[1, 2], vectors[4] = np.nan, np.inf
    np.savez(root / "nan.npz", ids=np.array([f"id{i}" for i in range(7)]),
             sources=np.array([f"s{i}.png" for i in range(7)]), tags=np.array(["a", "b"] * 3 + ["a"]),
             vectors=vectors, embedder=np.array("pixels"))
    monkeypatch.setenv(paths.ENV_VAR, str(root))
    return root


def test_non_finite_rows_are_dropped_once_at_load_and_reported(tmp_path, monkeypatch):
    npz_root(tmp_path, monkeypatch)
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["fse_kind"] = "npz"
    at.session_state["fse_npz_pick"] = "nan.npz"
    at.run()
    no_exceptions(at, "map")
    assert any("5 images" in c.value for c in at.sidebar.caption)
    tables = [df.value for df in at.dataframe if "reason" in getattr(df.value, "columns", [])]
    assert sorted(tables[0]["file"]) == ["s1.png", "s4.png"]
    assert set(tables[0]["reason"]) == {"vector has NaN or infinite values, left out"}
    for target in PAGES + list(STEPS):  # the pairs, contrastive and smear pages crashed on NaN rows
        visit(at, target)


def test_a_zip_of_49000_images_is_refused_by_count_before_decoding(tmp_path, monkeypatch):
    import explorer.io.sources as sources

    decoded = []
    real = sources.decode_many
    monkeypatch.setattr(sources, "decode_many", lambda items, **kw: decoded.append(len(items)) or real(items, **kw))
    data = amplifiers.tiny_png_zip(tmp_path / "tiny.zip", 49_000).read_bytes()
    assert len(data) < 10 * 2**20
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["fse_kind"] = "upload"  # (not the default demo: nothing to embed first)
    at.run()
    at.file_uploader(key="fse_uploader_0").set_value([("tiny.zip", data, "application/zip")]).run()
    at.button(key="fse_add").click().run()
    no_exceptions(at, "upload")
    errors = [e.value for e in at.error]
    refusal = md(f"tiny.zip holds 49,000 images, more than the {limits.SESSION_MAX_IMAGES:,} images still allowed",
                 max_length=300)
    assert errors == [f"Too many images: {refusal} (this session may hold {limits.SESSION_MAX_IMAGES:,} images, "
                      "0 already added)."]
    assert decoded == [] and at.session_state[state.BATCHES_KEY] == []


def test_an_npz_declaring_a_huge_matrix_is_refused_from_its_header(tmp_path):
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("fse-*.npz"))
    data = amplifiers.npz_declaring(tmp_path / "big.npz", 262_144, 1024).read_bytes()
    assert len(data) < 3 * 2**20
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["fse_kind"] = "npz"
    at.run()
    at.file_uploader(key="fse_npz_upload").set_value(("big.npz", data, "application/octet-stream"))
    at.run()
    no_exceptions(at, "npz upload")
    shown = messages(at)
    assert md("big.npz: declares 262,144 x 1,024 vectors, over the limit of 100,000 rows", max_length=400) in shown
    assert "MemoryError" not in shown and "/tmp" not in shown and os.sep + "tmp" not in shown
    assert set(Path(tempfile.gettempdir()).glob("fse-*.npz")) == before  # the upload never touched the disk


def test_a_right_to_left_override_in_a_tag_cannot_reverse_the_batch_list():
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["fse_kind"] = "upload"
    at.run()
    files = [(f"{i}.png", png((40 * i, 90, 200 - 30 * i)), "image/png") for i in range(3)]
    at.file_uploader(key="fse_uploader_0").set_value(files).run()
    at.text_input(key="fse_upload_tag").set_value("abc\u202eevil.exe").run()
    at.button(key="fse_add").click().run()
    no_exceptions(at, "upload")
    lines = [t.value for t in at.sidebar.text]
    assert lines == ["abc\ufffdevil.exe: 3 images"]
    assert not any("\u202e" in str(m.value) for m in list(at.markdown) + list(at.caption) + list(at.text))
