"""Every page and presenter step on demo:hands, in Chromium, at the screen sizes people use.

Checks, at 1280x800, 1440x900 and 1920x1080 (and the presenter also at a 1280x720 projector):
- no two texts of a chart overlap (the SVG text boxes inside each Plotly chart, rotated labels as drawn);
- no content is wider than its block (text, pictures, charts and tables stay inside their column);
- no text is smaller than 12 px;
- a presenter step fits the screen: nothing below the fold.

One server, one browser, one page: each page is opened once (through the sidebar, in one session) and the
window resized around it, which redraws the charts without rerunning the script. Screenshots go to
``$LAYOUT_SHOTS`` (default /tmp/fse-layout-shots), never into the repository.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from browser_helpers import app_server, click_first_point, offline_page, wait_for_map

pytestmark = pytest.mark.browser

SIZES = [(1280, 800), (1440, 900), (1920, 1080)]
PRESENTER_SIZES = SIZES + [(1280, 720)]
PAGES = ["Distances", "Pair inspector", "Positive & negative pairs", "Contrastive head", "Why hands smear",
         "Export"]  # and the Map, the first page
PRESENTER_STEPS = 7
SHOTS = Path(os.environ.get("LAYOUT_SHOTS", "/tmp/fse-layout-shots"))
MIN_TEXT_PX = 12
TIMES: list[tuple[str, float, float]] = []  # (page, seconds since the previous page was done, clock)

# Idle: for ``quietMs`` on end (1.2 s after opening a page), the script has not run and no progress box was in the page (background work,
# such as the pairs page's augmented twins, reruns the page until it is done).
IDLE = """(quietMs) => {
  const busy = !!(document.querySelector('[data-testid=stStatusWidget]') ||
                  document.querySelector('[data-testid=stMain] [data-testid=stProgress]'));
  const now = performance.now();
  if (busy || window.__fseQuietSince === undefined) { window.__fseQuietSince = busy ? undefined : now; return false; }
  return now - window.__fseQuietSince > quietMs;
}"""

# Returns a list of problems (strings) on the page as drawn now. Text boxes of a chart are compared as
# the quadrilaterals they are drawn in (getBBox through the screen transform), with a separating-axis
# test, so two -45 degree tick labels whose bounding rectangles touch but whose letters do not pass.
PROBLEMS_JS = r"""
(minPx) => {
  const problems = [];
  const visible = el => { const cs = getComputedStyle(el); const r = el.getBoundingClientRect();
    return cs.display !== 'none' && cs.visibility !== 'hidden' && +cs.opacity > 0 && r.width > 1 && r.height > 1; };
  const quad = el => { const b = el.getBBox(), m = el.getScreenCTM();
    if (!m || b.width === 0 || b.height === 0) return null;
    const p = (x, y) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f];
    return [p(b.x, b.y), p(b.x + b.width, b.y), p(b.x + b.width, b.y + b.height), p(b.x, b.y + b.height)]; };
  const apart = (a, b) => { for (const poly of [a, b]) for (let i = 0; i < 4; i++) {
      const [x1, y1] = poly[i], [x2, y2] = poly[(i + 1) % 4];
      const nx = y2 - y1, ny = x1 - x2, len = Math.hypot(nx, ny) || 1;
      const pa = a.map(([x, y]) => (x * nx + y * ny) / len), pb = b.map(([x, y]) => (x * nx + y * ny) / len);
      if (Math.max(...pa) <= Math.min(...pb) + 1 || Math.max(...pb) <= Math.min(...pa) + 1) return true; }
    return false; };
  const main = document.querySelector('[data-testid=stMain]');
  // 1. overlapping texts inside each chart
  main.querySelectorAll('.js-plotly-plot').forEach((plot, k) => {
    const texts = [];
    plot.querySelectorAll('.main-svg text').forEach(t => {
      if (!t.textContent.trim() || !visible(t)) return;
      const q = quad(t); if (q) texts.push([t.textContent.trim().slice(0, 40), q]);
    });
    for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++)
      if (!apart(texts[i][1], texts[j][1])) problems.push(`chart ${k}: "${texts[i][0]}" overlaps "${texts[j][0]}"`);
  });
  // 2. content wider than its block: text, pictures, canvases and charts end inside the element
  //    container (the block holding one widget) unless something between scrolls it
  const content = el => el.tagName === 'IMG' || el.tagName === 'CANVAS' || el.tagName === 'INPUT' ||
    el.classList.contains('main-svg') || [...el.childNodes].some(c => c.nodeType === 3 && c.textContent.trim());
  main.querySelectorAll('[data-testid=stElementContainer]').forEach(box => {
    if (!visible(box) || box.scrollWidth <= box.clientWidth + 1) return;
    const right = box.getBoundingClientRect().right;
    box.querySelectorAll('*').forEach(el => {
      if (el.closest('svg') && !el.classList.contains('main-svg')) return;
      if (!content(el) || !visible(el) || el.getBoundingClientRect().right <= right + 1) return;
      for (let a = el.parentElement; a && a !== box; a = a.parentElement)
        if (['auto', 'scroll'].includes(getComputedStyle(a).overflowX)) return;
      problems.push(`wider than its block: <${el.tagName.toLowerCase()}> "${(el.textContent || el.src || '').trim().slice(0, 40)}" ` +
                    `ends at ${Math.round(el.getBoundingClientRect().right)} px, its block at ${Math.round(right)} px`);
    });
  });
  // 3. small text, in the page and in the charts
  main.querySelectorAll('*').forEach(el => {
    const own = el.tagName === 'text' || el.tagName === 'tspan' ||
      [...el.childNodes].some(c => c.nodeType === 3 && c.textContent.trim());
    if (!own || !el.textContent.trim() || !visible(el)) return;
    let px = parseFloat(getComputedStyle(el).fontSize);
    if (el.closest('svg')) { const m = el.getScreenCTM();  // Plotly shrinks text to fit a bar by scaling it
      if (m) px *= Math.sqrt(Math.abs(m.a * m.d - m.b * m.c)); }
    if (px < minPx - 0.01) problems.push(`${px.toFixed(1)} px text: "${el.textContent.trim().slice(0, 40)}"`);
  });
  return [...new Set(problems)];
}
"""
FULL_HEIGHT_JS = "() => document.querySelector('[data-testid=stMain]').scrollHeight"
# The lowest bottom edge of anything drawn in the main area (scrolled to the top), against the window height.
FOLD_JS = """() => { const m = document.querySelector('[data-testid=stMain]'); m.scrollTop = 0;
  let bottom = 0;
  m.querySelectorAll('[data-testid=stElementContainer]').forEach(el => { const r = el.getBoundingClientRect();
    if (r.height > 1 && getComputedStyle(el).display !== 'none') bottom = Math.max(bottom, r.bottom); });
  return [Math.ceil(bottom), window.innerHeight]; }"""



# Stable when every chart's drawn width and the main area's height read the same twice, 150 ms apart.
SHAPE_JS = """() => [...document.querySelectorAll('.js-plotly-plot .main-svg')].map(s => s.getBoundingClientRect().width)
  .join() + '|' + document.querySelector('[data-testid=stMain]').scrollHeight"""


def _settle(page, *, script: bool = True, quiet_ms: int = 1200) -> None:
    """Wait until the script has finished (``script``: and stayed idle ``quiet_ms``) and the charts have
    stopped resizing."""
    if script:
        page.wait_for_timeout(300)
        page.evaluate("() => { window.__fseQuietSince = undefined; }")
        page.wait_for_function(IDLE, arg=quiet_ms, timeout=180_000, polling=100)
    shape = None
    for _ in range(20):
        page.wait_for_timeout(150)
        now = page.evaluate(SHAPE_JS)
        if now == shape:
            return
        shape = now


def _shoot(page, name: str, size: tuple[int, int], *, full: bool) -> None:
    """What the screen shows; with ``full``, also the whole page (the viewport stretched to its height)."""
    w, h = size
    page.screenshot(path=str(SHOTS / f"{name}-{w}x{h}.png"))
    height = page.evaluate(FULL_HEIGHT_JS)
    if full and height > h + 2:
        page.set_viewport_size({"width": w, "height": height})
        _settle(page, script=False)
        page.screenshot(path=str(SHOTS / f"{name}-{w}x{h}-full.png"))


def _check(page, name: str, sizes, *, fold: bool = False) -> list[str]:
    """The problems of the page as drawn at each of ``sizes``; screenshots of each (the whole page at 1440x900)."""
    problems = []
    for w, h in sizes:
        page.set_viewport_size({"width": w, "height": h})
        if fold:  # the presenter reruns to fit a new window size and says which size it fitted
            page.locator(f'[data-fit="{w}x{h}"]').wait_for(timeout=60_000)
        _settle(page, script=fold, quiet_ms=200)  # a refit is one rerun, no background work
        problems += [f"{name} at {w}x{h}: {p}" for p in page.evaluate(PROBLEMS_JS, MIN_TEXT_PX)]
        if fold:
            bottom, shown = page.evaluate(FOLD_JS)
            if bottom > shown:
                problems.append(f"{name} at {w}x{h}: drawn down to {bottom} px, {bottom - shown} px below the fold")
        _shoot(page, name, (w, h), full=(w, h) == (1440, 900))
    TIMES.append((name, round(time.monotonic() - TIMES[-1][2], 1) if TIMES else 0.0, time.monotonic()))
    return problems


FOCUS_JS = """() => { const a = document.activeElement, cs = getComputedStyle(a);
  return [a.getAttribute('data-testid') || a.tagName, cs.outlineStyle, cs.outlineWidth, cs.boxShadow]; }"""


def _no_focus_frame(page) -> list[str]:
    """A mouse click on the step focuses the main area (the clicker's keys need it) but draws no frame."""
    page.mouse.click(page.viewport_size["width"] // 2, page.viewport_size["height"] - 40)
    page.keyboard.press("Shift")  # a key press makes Chromium show focus-visible frames
    who, style, width, shadow = page.evaluate(FOCUS_JS)
    framed = style not in ("none", "hidden") and width not in ("0px", "") or shadow not in ("none", "")
    return [f"presenter: a click leaves a focus frame on {who} ({style} {width}, {shadow})"] if framed else []


def _map_panels(page) -> list[str]:
    """The map's side panel after a click (the neighbours) and after a box selection (the picture grid),
    at the two laptop sizes, where the panel is narrowest."""
    click_first_point(page)
    page.get_by_text("nearest neighbours").first.wait_for(timeout=60_000)
    # The pointer leaves the map, as a reader's does to look at the panel: the map component keeps its chart
    # (no redraw after a click), so a resting pointer would keep Plotly's hover box over the legend.
    page.mouse.move(2, 2)
    _settle(page)
    problems = _check(page, "map-clicked", SIZES[:2])
    page.locator('.modebar-btn[data-title="Box Select"]').first.click()
    area = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    page.mouse.move(area["x"] + 0.2 * area["width"], area["y"] + 0.2 * area["height"])
    page.mouse.down()
    page.mouse.move(area["x"] + 0.7 * area["width"], area["y"] + 0.7 * area["height"], steps=8)
    page.mouse.up()
    page.get_by_text("images selected").first.wait_for(timeout=60_000)
    _settle(page)
    return problems + _check(page, "map-selected", SIZES[:2])


def test_every_page_and_presenter_step_is_readable_at_laptop_and_projector_sizes(browser_ok, tmp_path):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with app_server(tmp_path) as (url, _), sync_playwright() as p, \
            offline_page(p, width=1440, height=900) as (page, _blocked):
        page.goto(url)
        wait_for_map(page, min_points=448)
        _settle(page)
        TIMES.append(("start", 0.0, time.monotonic()))
        problems += _check(page, "map", SIZES)
        problems += _map_panels(page)
        nav = page.locator('[data-testid=stSidebarNav]')
        for title in PAGES:
            nav.get_by_text(title, exact=True).click()
            page.get_by_role("heading").first.wait_for()
            _settle(page)
            problems += _check(page, title.lower().replace(" ", "-").replace("&", "and"), SIZES)
        page.goto(url + "/presenter?step=1")
        page.get_by_text("Step 1 of").wait_for(timeout=60_000)
        for step in range(1, PRESENTER_STEPS + 1):
            if step > 1:
                page.get_by_role("button", name="next ▶").click()
                page.get_by_text(f"Step {step} of").wait_for(timeout=120_000)
            _settle(page)
            problems += _check(page, f"presenter-{step}", PRESENTER_SIZES, fold=True)
            if step == 2:
                problems += _no_focus_frame(page)
    (SHOTS / "problems.txt").write_text("\n".join(problems) + "\n")
    (SHOTS / "seconds.txt").write_text("".join(f"{name} {seconds}\n" for name, seconds, _ in TIMES))
    assert not problems, "\n".join(problems[:60]) + (f"\n… and {len(problems) - 60} more (all in "
                                                       f"{SHOTS / 'problems.txt'})" if len(problems) > 60 else "")
