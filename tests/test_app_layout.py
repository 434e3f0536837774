"""AppTest runs of the map page's layout promises: a projection choice survives a source change."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from ui import paths  # noqa: E402
from map_helpers import chart_specs  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(paths.ENV_VAR, raising=False)


def test_projection_box_and_map_agree_after_a_source_change_that_hides_the_map():
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.selectbox(key="map_method").set_value("pca").run()
    assert "PCA" in "\n".join(m.value for m in at.markdown)
    at.radio(key="fse_kind").set_value("upload").run()  # nothing uploaded yet: the page stops before the map
    assert not [s for s in at.selectbox if s.key == "map_method"]
    at.radio(key="fse_kind").set_value("demo").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="map_method").value == "pca"  # the box says what the map is ...
    assert "**PCA** axes show" in "\n".join(m.value for m in at.markdown)  # ... and the map is PCA
    assert at.slider(key="map_perplexity").disabled


def _chart_specs(at) -> list[dict]:
    return chart_specs(at)  # st.plotly_chart specs and the map component's figure


def _swatches(spec: dict) -> dict[str, str]:
    """tag -> colour of the swatch leading each y-axis label (tag matrices, per-tag bars)."""
    import re

    text = spec["layout"].get("yaxis", {}).get("ticktext") or []
    found = (re.match(r"<span style='color:(#[0-9A-Fa-f]{6})'>■</span> (.*)", t) for t in text)
    return {m.group(2): m.group(1) for m in found if m}


def test_a_tag_has_one_colour_on_the_map_distances_and_smear_pages():
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.selectbox(key="map_method").set_value("pca").run()
    map_spec = next(s for s in _chart_specs(at) if any(t.get("name") == "fist" for t in s["data"]))
    on_map = {t["name"]: t["marker"]["color"] for t in map_spec["data"] if t.get("name") not in (None, "neighbours")}
    assert len(on_map) == 14
    at.switch_page("ui/pages/distances.py").run()
    on_distances = {}
    for spec in _chart_specs(at):
        on_distances.update(_swatches(spec))
    at.switch_page("ui/pages/smear.py").run()
    on_smear = {}
    for spec in _chart_specs(at):
        on_smear.update(_swatches(spec))
    assert len(on_distances) == len(on_smear) == 14
    assert on_distances == on_smear == {t: c for t, c in on_map.items() if t in on_smear}
    # demo:hands' kind column sorts hands and objects into two families of the palette
    from explorer import palette

    assert on_map["fist"] in palette.WARM and on_map["cup"] in palette.COOL
