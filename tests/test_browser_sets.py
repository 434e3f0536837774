"""Sets that come back, in a real headless Chromium: reload, a second browser, an unknown link, adding a
batch without a blank map, and screenshots of the map with a selection and with the neighbour panel."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_helpers import MAP_POINTS, REPO, app_server, click_first_point, offline_page, wait_for_map

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "artifacts"
PER_TAG = 12


def _photos(shared: Path, tag: str, n: int) -> list[str]:
    folder = shared / "sign-language-digits" / tag
    return [str(p) for p in sorted(p for p in folder.iterdir() if p.is_file())[:n]]


def _add_batch(page, files: list[str], tag: str) -> None:
    from playwright.sync_api import expect

    dropzone = page.locator('[data-testid="stFileUploaderDropzoneInput"]:not([webkitdirectory])')
    expect(dropzone).to_have_count(1, timeout=60_000)
    dropzone.set_input_files(files)
    page.get_by_text(Path(files[0]).name).first.wait_for(timeout=60_000)
    tag_box = page.get_by_label("Tag for these files")
    tag_box.fill(tag)
    tag_box.press("Enter")
    add = page.get_by_role("button", name="Add to set")
    try:
        add.click(timeout=60_000)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "sets-failed-add.png"))
        (ARTIFACTS / "sets-failed-add.txt").write_text(page.url + "\n" + page.inner_text("body") + "\n"
                                                       + "\n".join(getattr(page, "errors", [])))
        raise


def _map_state(page) -> tuple[list[str], list[tuple[float, float]]]:
    """(legend names, sorted rounded point coordinates) of the map chart on screen."""
    legend = page.locator(".js-plotly-plot .legendtext").evaluate_all("els => els.map(e => e.textContent)")
    points = page.evaluate("""() => {
        const gd = document.querySelector('.js-plotly-plot');
        const out = [];
        for (const t of gd._fullData) { if (t.name === 'neighbours' || t.name === 'selected' || !t.x) continue;
            const x = Array.from(t.x), y = Array.from(t.y);
            for (let i = 0; i < x.length; i++) out.push([Math.round(x[i] * 1000) / 1000, Math.round(y[i] * 1000) / 1000]); }
        return out; }""")
    return sorted(set(legend)), sorted(map(tuple, points))


def _images_loaded(page) -> None:
    page.wait_for_function("""() => { const imgs = Array.from(document.querySelectorAll('[data-testid="stMain"] img'));
        return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }""", timeout=60_000)
    page.wait_for_timeout(500)


def _settled(page, count_text: str) -> None:
    page.get_by_text(count_text).first.wait_for(timeout=180_000)
    wait_for_map(page, 180_000, min_points=2)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000)
    page.wait_for_timeout(800)


def test_uploaded_photos_come_back_on_reload_in_another_browser_and_grow_without_a_blank_map(
        browser_ok, shared_data, tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with app_server(tmp_path) as (url, _), sync_playwright() as p, offline_page(p) as (page, blocked):
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)[:1000]))
        page.on("console", lambda m: page.errors.append(m.text[:500]) if m.type == "error" else None)
        page.goto(url)
        page.get_by_text("448 images").first.wait_for(timeout=120_000)
        page.get_by_text("Your images (drag & drop)").click()
        page.get_by_text("Images or ZIPs").first.wait_for(timeout=60_000)
        _add_batch(page, _photos(shared_data, "3", PER_TAG), "three")
        page.get_by_text(f"three: {PER_TAG} images", exact=True).wait_for(timeout=120_000)
        _add_batch(page, _photos(shared_data, "7", PER_TAG), "seven")
        _settled(page, f"{2 * PER_TAG} images · 2 tags")
        assert "set=" in page.url
        legend, points = _map_state(page)
        assert legend == ["seven", "three"] and len(points) == 2 * PER_TAG
        link = page.url

        page.reload()
        _settled(page, f"{2 * PER_TAG} images · 2 tags")
        assert _map_state(page) == (legend, points)  # same set, same tags, same map
        assert page.get_by_text(f"seven: {PER_TAG} images", exact=True).count() == 1

        other = page.context.browser.new_context(viewport={"width": 1500, "height": 1000})
        second = other.new_page()
        second.goto(link)
        _settled(second, f"{2 * PER_TAG} images · 2 tags")
        assert _map_state(second) == (legend, points)
        second.goto(url + "/?set=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        second.get_by_text("could not be opened").first.wait_for(timeout=60_000)
        second.get_by_text("448 images").first.wait_for(timeout=120_000)
        other.close()
        page.bring_to_front()
        page.reload()  # a hidden tab may have been frozen while the other browser was in front
        _settled(page, f"{2 * PER_TAG} images · 2 tags")

        # Adding a batch: some map stays on screen the whole time, sampled every 100 ms in the page. A chart
        # being swapped for the next frame may show no points for one or two samples; never for longer.
        page.evaluate(f"""() => {{ window.__samples = 0; window.__run = 0; window.__longest = 0;
            window.__timer = setInterval(() => {{ window.__samples++;
                const none = document.querySelectorAll({MAP_POINTS!r}).length === 0;
                window.__run = none ? window.__run + 1 : 0;
                window.__longest = Math.max(window.__longest, window.__run); }}, 100); }}""")
        _add_batch(page, _photos(shared_data, "5", PER_TAG), "five")
        _settled(page, f"{3 * PER_TAG} images · 3 tags")
        samples, longest = page.evaluate("() => { clearInterval(window.__timer); return [window.__samples, window.__longest]; }")
        assert samples > 10 and longest <= 3, f"no map for {longest} samples in a row (of {samples}) while adding a batch"
        assert len(_map_state(page)[1]) == 3 * PER_TAG
        page.screenshot(path=str(ARTIFACTS / "sets-1-after-adding-a-batch.png"), full_page=True)

        click_first_point(page)
        page.get_by_text("nearest neighbours").first.wait_for(timeout=60_000)
        _images_loaded(page)
        page.screenshot(path=str(ARTIFACTS / "sets-2-neighbour-panel.png"), full_page=True)
        assert "focus=" in page.url

        page.locator('.modebar-btn[data-title="Box Select"]').first.click()
        box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
        page.mouse.move(box["x"] + 5, box["y"] + 5)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6, steps=8)
        page.mouse.up()
        page.get_by_text("images selected").first.wait_for(timeout=60_000)
        page.get_by_text("Download names (CSV)").first.wait_for(timeout=30_000)
        _images_loaded(page)
        page.screenshot(path=str(ARTIFACTS / "sets-3-selection-panel.png"), full_page=True)
        assert blocked == [], f"the page tried to reach the network: {blocked[:5]}"
