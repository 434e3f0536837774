"""AppTest runs of the map page's layout promises: a projection choice survives a source change."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit.testing.v1")
from streamlit.testing.v1 import AppTest  # noqa: E402

from ui import paths  # noqa: E402

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
