"""A large map in the real app (density layer under sampled points): it is drawn once, the browser reports a
zoom and an un-zoom, and nothing else — the relayouts of the first draw and of resizes (a view Python already
has) cost no rerun. Headless Chromium, localhost only."""

from __future__ import annotations

import pytest

from browser_helpers import app_server, offline_page, saved_synthetic_set
from explorer.largemap import LARGE_MAP_ABOVE

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
N_POINTS = LARGE_MAP_ABOVE + 1_000
IDLE_JS = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"
DRAWN_JS = """() => { const gd = document.querySelector('.fse-plot');
    return !!gd && !!gd.dataset.mapId && !!gd._fullData && gd._fullData.some(t => t.type === 'heatmap'); }"""
ZOOM_JS = """(factor) => { const gd = document.querySelector('.fse-plot'), xa = gd._fullLayout.xaxis.range,
    ya = gd._fullLayout.yaxis.range, cx = (xa[0] + xa[1]) / 2, cy = (ya[0] + ya[1]) / 2,
    hx = (xa[1] - xa[0]) / factor, hy = (ya[1] - ya[0]) / factor;
    window.Plotly.relayout(gd, {'xaxis.range': [cx - hx, cx + hx], 'yaxis.range': [cy - hy, cy + hy]}); }"""




def test_a_large_map_sends_zooms_but_not_the_views_python_already_has(browser_ok, tmp_path):
    from playwright.sync_api import sync_playwright

    token = saved_synthetic_set(tmp_path / "sets", N_POINTS, groups=5, dims=4, noise=0.5, name="large.npz")
    views: list[str] = []  # the view events the page sent ('"x":null' zoomed out, '"x":[' a region)

    def watch(ws) -> None:
        def sent(payload) -> None:
            text = payload if isinstance(payload, str) else bytes(payload).decode("latin-1")
            if '"seq"' in text and ('"x":null' in text or '"x":[' in text):
                views.append("out" if '"x":null' in text else "in")
        ws.on("framesent", sent)

    with app_server(tmp_path) as (url, _), sync_playwright() as p, offline_page(p) as (page, blocked):
        page.on("websocket", watch)
        page.goto(f"{url}/?set={token}&method=pca&dims=2&show=dots&k=10")
        page.wait_for_function(DRAWN_JS, timeout=180_000)
        assert page.get_by_text(f"{N_POINTS:,} points:").count()  # the large map's note
        page.get_by_text("Map faithfulness").first.wait_for(timeout=180_000)
        page.wait_for_function(IDLE_JS, timeout=60_000)
        page.set_viewport_size({"width": 1400, "height": 1000})  # a resize relayouts the map too
        page.wait_for_timeout(1_500)
        assert views == [], f"views sent before any zoom: {views}"
        page.evaluate(ZOOM_JS, 40)
        page.wait_for_function("Number(document.querySelector('.fse-plot').dataset.regionPoints) > 0", timeout=60_000)
        page.evaluate("() => window.Plotly.relayout(document.querySelector('.fse-plot'), "
                      "{'xaxis.autorange': true, 'yaxis.autorange': true})")
        page.wait_for_function("document.querySelector('.fse-plot').dataset.regionPoints === '0'", timeout=60_000)
        assert views == ["in", "out"]
        assert not blocked
