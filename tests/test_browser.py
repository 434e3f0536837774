"""The app in a real headless Chromium with networking limited to localhost: map, click, drag-and-drop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser_helpers import (REPO, app_server, click_first_point, offline_page,
                             wait_for_map)

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "artifacts"



def _photos(tmp_path: Path, shared: Path, tag: str, n: int, seed: int) -> list[Path]:
    """n real photos of one sign-language digit if the shared data is here, else drawn PNGs."""
    folder = shared / "sign-language-digits" / tag
    out = []
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.is_file())[:n]
        for p in files:
            dest = tmp_path / f"digit{tag}_{p.name}"
            dest.write_bytes(p.read_bytes())
            out.append(dest)
        return out
    rng = np.random.default_rng(seed)
    for i in range(n):
        dest = tmp_path / f"drawn{tag}_{i}.png"
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(dest)
        out.append(dest)
    return out


def test_map_click_and_drop_offline(browser_ok, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    shared = REPO.parent / "shared" / "data"
    with app_server(tmp_path) as (url, _), sync_playwright() as p, offline_page(p) as (page, blocked):
        page.goto(url)
        page.get_by_text("448 images").first.wait_for(timeout=60_000)
        wait_for_map(page, min_points=448)
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "browser-1-first-start.png"))
        assert page.locator(".js-plotly-plot .scatterlayer .point").count() >= 448

        click_first_point(page)
        page.get_by_text("nearest neighbours").first.wait_for(timeout=60_000)
        page.get_by_text("look closer").first.wait_for(timeout=30_000)
        assert page.get_by_role("button", name="look closer").count() == 10
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "browser-2-neighbours.png"), full_page=True)

        page.get_by_text("Your images (drag & drop)").click()
        page.get_by_text("Images or ZIPs").first.wait_for(timeout=30_000)
        for tag, seed in (("3", 1), ("7", 2)):
            files = _photos(tmp_path, shared, tag, 5, seed)
            dropzone = page.locator('[data-testid="stFileUploaderDropzoneInput"]:not([webkitdirectory])')
            expect(dropzone).to_have_count(1, timeout=30_000)  # the previous batch's uploader is gone
            dropzone.set_input_files([str(f) for f in files])
            page.get_by_text(files[0].name).first.wait_for(timeout=30_000)
            tag_box = page.get_by_label("Tag for these files")
            tag_box.fill(f"digit {tag}")
            tag_box.press("Enter")
            page.get_by_role("button", name="Add to set").click()
            page.get_by_text(f"digit {tag}: 5 images", exact=True).wait_for(timeout=60_000)
        page.get_by_text("10 images · 2 tags").wait_for(timeout=60_000)
        wait_for_map(page, min_points=10)
        page.wait_for_timeout(800)
        legend = page.locator(".js-plotly-plot .legendtext").evaluate_all("els => els.map(e => e.textContent)")
        assert {"digit 3", "digit 7"} <= set(legend)
        assert page.locator(".js-plotly-plot .scatterlayer .point").count() >= 10
        page.screenshot(path=str(ARTIFACTS / "browser-3-uploads.png"), full_page=True)

        assert blocked == [], f"the page tried to reach the network: {blocked[:5]}"


# Visible text (and input values) in the main area drawn under 16 px: nothing on a presenter step may be.
SMALL_TEXT_JS = """() => {
  const root = document.querySelector('[data-testid="stMain"]') || document.body;
  const shown = (el) => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const out = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const n = walker.currentNode, text = n.textContent.trim(), el = n.parentElement;
    if (text && shown(el) && parseFloat(getComputedStyle(el).fontSize) < 16)
      out.push(text.slice(0, 30) + ' @' + getComputedStyle(el).fontSize);
  }
  for (const el of root.querySelectorAll('input, textarea'))
    if (el.value && shown(el) && parseFloat(getComputedStyle(el).fontSize) < 16)
      out.push('[input] ' + el.value.slice(0, 30) + ' @' + getComputedStyle(el).fontSize);
  return out;
}"""


def _presenter_step(page, n: int) -> str:
    """Wait until step ``n`` is drawn and the script has finished; its headline."""
    page.get_by_text(f"Step {n} of 7", exact=True).wait_for(timeout=120_000)
    page.get_by_role("heading", name=f"{n}.").first.wait_for(timeout=60_000)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    page.wait_for_timeout(300)
    return page.locator(".presenter-headline").first.inner_text()


def test_presenter_goes_through_every_step_with_a_clicker(browser_ok, tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with app_server(tmp_path) as (url, _), sync_playwright() as p, \
            offline_page(p, width=1920, height=1080) as (page, blocked):
        page.goto(url + "/presenter?step=1&source=demo:hands&embedder=hog")
        headlines = {1: _presenter_step(page, 1)}
        sidebar_right = page.evaluate(
            "document.querySelector('[data-testid=\"stSidebar\"]').getBoundingClientRect().right")
        assert sidebar_right <= 1, f"the sidebar is open (right edge at {sidebar_right} px)"
        for n in range(1, 8):
            if n > 1:
                page.keyboard.press("PageDown")
                headlines[n] = _presenter_step(page, n)
            assert page.evaluate(SMALL_TEXT_JS) == [], f"step {n} has text under 16 px"
            page.screenshot(path=str(ARTIFACTS / f"presenter-step-{n}.png"))
        assert all(h.endswith(".") for h in headlines.values()) and len(set(headlines.values())) == 7
        for n in range(6, 0, -1):
            page.keyboard.press("PageUp")
            assert _presenter_step(page, n) == headlines[n]
        for key, n in (("ArrowRight", 2), ("Space", 3), ("ArrowLeft", 2)):
            page.keyboard.press(key)
            assert _presenter_step(page, n) == headlines[n]
        assert "step=2" in page.url and "source=demo%3Ahands" in page.url.replace(":", "%3A")
        assert blocked == [], f"the page tried to reach the network: {blocked[:5]}"
