"""Results shipped for the built-in demo (explorer.io.shipped): they are what this code computes, found only by
their content key, and the app's first open draws them instead of computing them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorer.embedders import get_embedder
from explorer.io.load import embed_workset, load_workset
from explorer.io.shipped import MapParams, find_shipped, save_shipped, shipped_projection
from explorer.measures import trustworthiness
from explorer.projection import Projection, project

APP = str(Path(__file__).resolve().parents[1] / "app.py")
REBUILD = "stale: rebuild it with `python scripts/build_shipped_demo.py`"


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def demo():
    """The default demo embedded by this code now, not from the shipped file."""
    from ui.state import DEFAULT_EMBEDDER, DEFAULT_SOURCE
    return embed_workset(load_workset(DEFAULT_SOURCE), get_embedder(DEFAULT_EMBEDDER), use_shipped=False)


def test_shipped_vectors_are_this_codes_vectors_of_the_default_demo(demo):
    shipped = find_shipped(demo.key)
    assert shipped is not None, f"no shipped results for the default demo's key: assets/precomputed is {REBUILD}"
    assert shipped.vectors is not None and shipped.vectors.shape == demo.vectors.shape
    np.testing.assert_allclose(shipped.vectors, demo.vectors, rtol=0, atol=1e-6, err_msg=REBUILD)
    # and loading the demo through the normal path takes them (the same numbers, read-only, not recomputed)
    loaded = embed_workset(load_workset("demo:hands"), get_embedder("hog"))
    assert loaded.key == demo.key and not loaded.vectors.flags.writeable


def test_shipped_map_is_a_tsne_of_these_vectors_as_good_as_a_fresh_one(demo):
    from ui.compute import map_params
    from ui.map_view import DEFAULT_METHOD
    params = map_params(DEFAULT_METHOD, 2, 30.0, 0)  # the map page's defaults
    shipped = shipped_projection(demo.key, params)
    assert shipped is not None, f"no shipped map for the map page's default settings {params}: {REBUILD}"
    assert shipped.coords.shape == (len(demo.ids), 2) and np.isfinite(shipped.coords).all()
    fresh = project(demo.vectors, method="tsne", n_components=2, random_state=0, perplexity=30.0)
    assert shipped.params["perplexity"] == fresh.params["perplexity"]
    t_shipped = trustworthiness(demo.vectors, shipped.coords, k=10)
    t_fresh = trustworthiness(demo.vectors, fresh.coords, k=10)
    assert abs(t_shipped - t_fresh) < 0.01, (t_shipped, t_fresh)


def test_round_trip_and_misses(tmp_path):
    coords = np.arange(8, dtype=np.float32).reshape(4, 2)
    params = MapParams("tsne", 2, 30.0, 0)
    proj = Projection(coords=coords, method="tsne", params={"perplexity": 30.0}, notes=["a note"],
                      excluded={3: "zero vector"})
    save_shipped(tmp_path / "a.npz", "key-a", vectors=np.ones((4, 3), np.float32), maps={params: proj})
    found = shipped_projection("key-a", params, tmp_path)
    assert found is not None and np.array_equal(found.coords, coords)
    assert found.notes == ["a note"] and found.excluded == {3: "zero vector"}
    found.coords[0, 0] = 99  # a copy: the next visitor gets the shipped map unchanged
    assert shipped_projection("key-a", params, tmp_path).coords[0, 0] == 0
    assert shipped_projection("key-a", MapParams("tsne", 2, 50.0, 0), tmp_path) is None
    assert find_shipped("key-b", tmp_path) is None


def test_a_damaged_file_is_a_miss_not_a_crash(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "other.npz").write_bytes(b"")
    assert find_shipped("anything", tmp_path) is None


def test_first_open_draws_the_shipped_map():
    pytest.importorskip("streamlit.testing.v1")
    from streamlit.testing.v1 import AppTest

    from ui.state import LAST_MAP_KEY
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    last = at.session_state[LAST_MAP_KEY]
    shipped = find_shipped(last.key)
    assert shipped is not None, "the first open's set is not the one the shipped results are for"
    drawn = next(iter(shipped.maps.values()))
    np.testing.assert_array_equal(last.coords, drawn.coords)
