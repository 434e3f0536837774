"""The map's search box in a real headless Chromium: a tag and a phrase ring their images on the map."""

from __future__ import annotations


import pytest

from browser_helpers import app_server, offline_page, wait_for_map

pytestmark = pytest.mark.browser

# The rows the "search matches" trace rings, read from the Plotly chart the page drew (_fullData: the
# decoded arrays; data holds them base64-encoded).
RINGED_JS = """() => { const gd = document.querySelector('.js-plotly-plot');
  const t = gd && gd._fullData ? gd._fullData.find(d => d.name === 'search matches') : null;
  return t ? Array.from(t.customdata) : []; }"""



def test_search_box_rings_the_matches(browser_ok, tmp_path):
    from playwright.sync_api import sync_playwright

    with app_server(tmp_path) as (url, _), sync_playwright() as p, offline_page(p) as (page, blocked):
        page.goto(url)
        wait_for_map(page, min_points=448)  # demo:hands, hog: no torch needed
        box = page.get_by_role("textbox", name="Search the map")
        box.fill("fist")
        box.press("Enter")
        page.get_by_text("Tag match").first.wait_for(timeout=60_000)
        page.wait_for_function(f"({RINGED_JS})().length === 10", timeout=60_000)
        fist_rows = page.evaluate(RINGED_JS)
        fist_dots = page.evaluate("() => Array.from(document.querySelector('.js-plotly-plot')._fullData"
                                  ".find(d => d.name === 'fist').customdata)")
        assert len(set(fist_rows)) == 10 and set(fist_rows) <= set(fist_dots)  # ringed: images tagged fist

        box.fill("a closed fist")
        box.press("Enter")
        page.get_by_text("Text match by trained image-text model").first.wait_for(timeout=120_000)
        page.wait_for_function(f"({RINGED_JS})().length === 10 && ({RINGED_JS})().join() !== {fist_rows!r}.join()",
                               timeout=60_000)
        assert "closed" in page.get_by_text("Unknown words").first.inner_text(timeout=30_000)
        assert blocked == [], f"the page tried to reach the network: {blocked[:5]}"
