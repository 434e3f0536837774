"""A folder of tag sub-folders chosen in the directory uploader, in Chromium: three tags with their counts on the map.

Streamlit's directory uploader sends each file with its path below the chosen folder's parent
(``photos/rock/1.png``, from the browser's ``webkitRelativePath``); Playwright's ``set_input_files`` with a
folder does what a user choosing that folder does.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser_helpers import app_server, offline_page, wait_for_map

pytestmark = pytest.mark.browser
COUNTS = {"rock": 4, "paper": 3, "scissors": 2}



def _folder(root: Path) -> Path:
    """photos/<tag>/<n>.png for each tag of COUNTS (each tag its own colour and stripes), plus a stray note."""
    rng = np.random.default_rng(0)
    for k, (tag, n) in enumerate(COUNTS.items()):
        (root / "photos" / tag).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 60, (48, 48, 3), dtype=np.uint8)
            pixels[:, :, k] += 150
            pixels[:: 3 + k] = 255
            Image.fromarray(pixels).save(root / "photos" / tag / f"{i}.png")
    (root / "photos" / "notes.txt").write_text("not an image")
    return root / "photos"


@contextmanager
def sync_playwright_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, offline_page(p, width=1440, height=900) as (page, _blocked):
        yield page


def test_a_folder_of_three_tag_folders_lands_on_the_map_with_its_counts(browser_ok, tmp_path):
    folder = _folder(tmp_path / "drop")
    with app_server(tmp_path) as (url, _), sync_playwright_page() as page:
        page.goto(url)
        wait_for_map(page, min_points=10)
        page.get_by_text("Your images (drag & drop)").click()
        folder_input = page.locator('[data-testid="stFileUploaderDropzoneInput"][webkitdirectory]')
        folder_input.wait_for(state="attached", timeout=30_000)
        folder_input.set_input_files(str(folder))
        # before "Add to set": the tags and their counts, and the skipped file by name
        for tag, n in COUNTS.items():
            page.get_by_text(f"{tag}: {n} images to add", exact=True).wait_for(timeout=30_000)
        page.get_by_text("notes.txt").first.wait_for()
        page.get_by_role("button", name="Add to set").click()
        wait_for_map(page, min_points=sum(COUNTS.values()))
        page.get_by_text(f"{sum(COUNTS.values())} images · 3 tags").first.wait_for(timeout=60_000)
        legend = page.locator(".js-plotly-plot .legendtext").evaluate_all("els => els.map(e => e.textContent)")
        assert sorted(legend) == sorted(COUNTS)
        shown = page.evaluate("""() => document.querySelector('.js-plotly-plot')._fullData
                                 .filter(t => t.showlegend).map(t => [t.name, t._length])""")
        assert dict(shown) == COUNTS
