"""AppTest runs of the story pages (pairs, contrastive head, why hands smear) and every presenter step."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from ui import paths  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")
TIMEOUT = 180


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(paths.ENV_VAR, raising=False)


def open_page(page: str, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at, label: str) -> float:
    for m in at.metric:
        if m.label == label:
            return float(m.value)
    raise AssertionError(f"no metric {label!r}; have {[m.label for m in at.metric]}")


def test_pairs_page_shows_positives_negatives_and_twin_numbers():
    at = open_page("ui/pages/pairs.py")
    text = "\n".join(m.value for m in at.markdown)
    assert "Closest positives" in text and "Hardest negatives" in text
    align = metric(at, "alignment (twins, lower = closer)")
    assert 0.0 < align < 4.0
    assert metric(at, "uniformity (lower = more spread)") < 0
    assert len(at.get("plotly_chart")) >= 2  # twin map + histograms


def test_contrastive_page_trains_on_click_and_reports_held_out_numbers():
    at = open_page("ui/pages/contrastive.py")
    at.selectbox(key="fse_embedder").set_value("pixels").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not [m for m in at.metric if m.label.startswith("held-out")]  # nothing before the click
    at.button(key="head_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    before = metric(at, "held-out 10-NN agreement, before")
    after = metric(at, "after")
    assert 0.0 <= before <= 1.0 and 0.0 <= after <= 1.0
    assert after > before  # pixels on demo:hands: the head helps on held-out images (see tests/test_story.py)
    at.text_input(key="text_phrase").set_value("fist thumbs").run()
    assert not at.exception
    ranked = at.dataframe[0].value
    assert set(ranked["tag"].iloc[:2]) == {"fist", "thumbs up"}


def test_smear_page_shows_numbers_and_restricting_changes_them():
    at = open_page("ui/pages/smear.py")
    knn = metric(at, "10-NN tag agreement")
    assert 0.0 <= knn <= 1.0
    table = at.dataframe[0].value
    assert list(table["tags"])[:2] == [14, 3]
    at.multiselect(key="smear_subset").set_value(["fist", "ball"]).run()
    assert not at.exception
    assert list(at.dataframe[0].value["tags"])[1] == 2
    text = "\n".join(c.value for c in at.caption)
    assert "Controlled:" in text and "Not controlled:" in text


def headline(at) -> str:
    found = [m.value for m in at.markdown if "class='presenter-headline'" in m.value]
    assert len(found) == 1, found
    return found[0].split(">", 1)[1].rsplit("<", 1)[0]


@pytest.mark.parametrize("step", range(1, 8))
def test_every_presenter_step_renders_from_the_url(step):
    at = open_page("ui/pages/presenter.py", step=str(step), source="demo:hands", embedder="pixels")
    assert at.title[0].value.startswith(f"{step}.")
    assert any(f"Step {step} of 7" in m.value for m in at.markdown)
    line = headline(at)
    assert line.endswith(".") and 40 < len(line) < 120  # one sentence, large type
    assert at.query_params["step"] == str(step)
    assert at.query_params["source"] == "demo:hands"
    if step < 7:
        at.button(key="presenter_next").click().run()
        assert at.title[0].value.startswith(f"{step + 1}.")
        assert at.query_params["step"] == str(step + 1)
        assert headline(at) != line


def test_presenter_keys_for_a_clicker_and_the_arrows():
    at = open_page("ui/pages/presenter.py", step="3", source="demo:hands", embedder="hog")
    shortcuts = {b.key: b.proto.shortcut for b in at.button if b.key.startswith("presenter_")}
    assert shortcuts == {"presenter_prev": "pageup", "presenter_next": "pagedown", "presenter_right": "right",
                         "presenter_space": "space", "presenter_left": "left"}
    for key, expected in (("presenter_right", 4), ("presenter_space", 5), ("presenter_left", 4),
                          ("presenter_prev", 3)):
        at.button(key=key).click().run()
        assert not at.exception
        assert at.query_params["step"] == str(expected) and at.title[0].value.startswith(f"{expected}.")
    at.query_params["step"] = "7"
    at.run()
    assert at.button(key="presenter_next").disabled and at.button(key="presenter_space").disabled


@pytest.fixture(scope="module", autouse=True)
def _leave_no_cached_sets():
    """Tests elsewhere read the first cached vectors: leave the process-wide caches as this module found them."""
    from ui import compute

    yield
    compute._stores.clear()


@pytest.fixture
def fresh_caches():
    """Empty process-wide caches before and after (other tests read the first cached vectors)."""
    from ui import compute

    compute._stores.clear()
    yield
    compute._stores.clear()


def test_presenter_title_step_picks_the_set_and_embedder_for_every_page(fresh_caches):
    at = open_page("ui/pages/presenter.py", step="1", source="demo:hands", embedder="hog")
    at.selectbox(key="presenter_set").set_value("demo:digits").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.query_params["source"] == "demo:digits"
    assert at.selectbox(key="fse_demo").value == "digits"  # the (collapsed) sidebar follows
    at.selectbox(key="presenter_embedder").set_value("pixels").run()
    assert at.query_params["embedder"] == "pixels" and at.selectbox(key="fse_embedder").value == "pixels"
    assert any("1,797 images" in c.value for c in at.caption)  # the digits set is the one loaded and shown


def test_presenter_warm_up_fills_the_story_pages_caches(monkeypatch, fresh_caches):
    from explorer.story import contrastive
    from explorer.story import smear as story

    calls = {"measures": 0, "head": 0}
    measures, head = story.tag_measures, contrastive.held_out_comparison

    def from_ui() -> bool:  # the pages' own requests (restrict/compare call tag_measures on subsets too)
        return f"{os.sep}ui{os.sep}" in sys._getframe(2).f_code.co_filename

    def counted_measures(*a, **kw):
        calls["measures"] += from_ui()
        return measures(*a, **kw)

    def counted_head(*a, **kw):
        calls["head"] += from_ui()
        return head(*a, **kw)

    monkeypatch.setattr(story, "tag_measures", counted_measures)
    monkeypatch.setattr(contrastive, "held_out_comparison", counted_head)
    at = open_page("ui/pages/presenter.py", step="2", source="demo:hands", embedder="hog")
    assert calls == {"measures": 1, "head": 1}  # every step prepared on arrival, once
    for _ in range(5):
        at.button(key="presenter_next").click().run()
    assert calls == {"measures": 1, "head": 1}  # next only draws
    at.switch_page("ui/pages/smear.py").run()
    at.switch_page("ui/pages/contrastive.py").run()
    at.button(key="head_train").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.metric  # the held-out numbers are shown ...
    assert calls == {"measures": 1, "head": 1}  # ... from the presenter's computations


def test_presenter_refuses_a_bookmark_outside_the_demos():
    at = open_page("ui/pages/presenter.py", step="2", source="/etc", embedder="pixels")
    assert any("demo" in e.value for e in at.error)


def test_image_text_model_says_what_it_does_not_know_and_measures_zero_shot():
    at = open_page("ui/pages/contrastive.py")
    at.selectbox(key="fse_embedder").set_value("pixels").run()
    at.radio(key="text_encoder").set_value("hashed").run()
    at.text_input(key="text_phrase").set_value("asdfgh").run()
    assert not at.exception, [e.value for e in at.exception]
    warning = "\n".join(w.value for w in at.warning)
    assert "knows none of the words" in warning and "asdfgh" in warning
    assert not at.dataframe and not at.get("plotly_chart")  # no ranking, no star pretending to know
    at.text_input(key="text_phrase").set_value("thumbs banana").run()
    assert "banana" in "\n".join(i.value for i in at.info)
    ranked = at.dataframe[0].value
    assert ranked["tag"].iloc[0] == "thumbs up" and list(ranked.columns) == ["rank", "tag", "score"]
    at.slider(key="zero_shot_k").set_value(3).run()
    at.button(key="zero_shot_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "measure" in d.value.columns)  # a row per measure, a column per encoder
    hashed = table.set_index("measure")["hashed"]
    assert float(hashed["chance"]) == pytest.approx(1 / 14, abs=5e-4) and len(hashed["never-seen tags"].split(", ")) == 3
    assert hashed["never-seen vs chance"] in ("above chance", "at chance", "below chance")
    text = "\n".join(m.value for m in at.markdown)
    assert f"**{hashed['never-seen vs chance']}**" in text
    # issue 19: the methods compared on the same split; ConSE says what it needs (pixels vectors here)
    methods = next(d.value for d in at.dataframe if "H" in d.value.columns)
    row = methods[(methods["method"] == "projections") & (methods["text encoder"] == "hashed")].iloc[0]
    assert row["held-out tags"] == hashed["never-seen tags"] and row["chance"] == pytest.approx(1 / 14)
    assert row["H"] == pytest.approx(2 * row["seen top-1"] * row["unseen top-1 (all tags)"]
                                     / (row["seen top-1"] + row["unseen top-1 (all tags)"]))
    assert "conse" not in set(methods["method"]) and any("efficientnet-lite0" in i.value for i in at.info)
