"""The app in a real headless Chromium with networking limited to localhost: map, click, drag-and-drop."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser_helpers import (REPO, app_server, browser_missing_reason, click_first_point, offline_page,
                             wait_for_map)

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "artifacts"


@pytest.fixture(scope="module")
def browser_ok():
    reason = browser_missing_reason()
    if reason:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


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
        page.get_by_text("Drop images or a ZIP").first.wait_for(timeout=30_000)
        for tag, seed in (("3", 1), ("7", 2)):
            files = _photos(tmp_path, shared, tag, 5, seed)
            dropzone = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
            expect(dropzone).to_have_count(1, timeout=30_000)  # the previous batch's uploader is gone
            dropzone.set_input_files([str(f) for f in files])
            page.get_by_text(files[0].name).first.wait_for(timeout=30_000)
            tag_box = page.get_by_label("Tag for these files")
            tag_box.fill(f"digit {tag}")
            tag_box.press("Enter")
            page.get_by_role("button", name="Add to set").click()
            page.get_by_text(f"digit {tag}: 5 image(s)").wait_for(timeout=60_000)
        page.get_by_text("10 images · 2 tags").wait_for(timeout=60_000)
        wait_for_map(page, min_points=10)
        page.wait_for_timeout(800)
        legend = page.locator(".js-plotly-plot .legendtext").evaluate_all("els => els.map(e => e.textContent)")
        assert {"digit 3", "digit 7"} <= set(legend)
        assert page.locator(".js-plotly-plot .scatterlayer .point").count() >= 10
        page.screenshot(path=str(ARTIFACTS / "browser-3-uploads.png"), full_page=True)

        assert blocked == [], f"the page tried to reach the network: {blocked[:5]}"
