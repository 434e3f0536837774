"""Benchmark: 1, 4 and 8 headless-browser visitors on the demo at once, on one server at 127.0.0.1.

For each number of visitors a fresh server with an empty cache is started, and every visitor opens the
app at the same moment (one Chromium, one browser context per visitor), waits for the demo map, then
clicks ``--clicks`` points one after the other. Printed per round: time to first map (median and max
over the visitors), click latency (median and p95: from the click to the end of the rerun it started),
errors (exceptions on the page, timeouts), the server's peak memory (VmHWM of the streamlit process) and
how many computations of each kind the server log shows (one per question when single-flight works).

Targets (issue 20): the 8-visitor first map <= 1.5 x the 1-visitor one; p95 click <= 3 x the 1-visitor
median. Report ``uptime`` with the figures: on a shared 2-core machine they move with the load.

    python bench/bench_load.py [--visitors 1,4,8] [--clicks 5] [--source demo:hands]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser_helpers import (CHROMIUM, CHROMIUM_ARGS, MAP_POINTS, app_server,  # noqa: E402
                             browser_missing_reason, server_pid)

STATUS = '[data-testid="stStatusWidget"]'
HERE = Path(__file__).resolve().parents[1]
TIMEOUT_MS = 240_000


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds the process has used (from /proc/PID/stat)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_mb(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(match.group(1)) // 1024 if match else None


async def settle(page) -> None:
    """Wait until Streamlit's "running" widget has come and gone (the rerun a click started is over)."""
    try:
        await page.wait_for_selector(STATUS, state="attached", timeout=1500)
    except Exception:  # a fast rerun may finish before the widget is seen
        pass
    await page.wait_for_selector(STATUS, state="detached", timeout=TIMEOUT_MS)


async def visitor(browser, url: str, clicks: int, start: asyncio.Event, out: dict) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 950})
    page = await context.new_page()
    page.on("pageerror", lambda exc: out["errors"].append(f"page error: {exc}"))
    await start.wait()
    t0 = time.monotonic()
    try:
        await page.goto(url, timeout=TIMEOUT_MS)
        await page.wait_for_function(f"document.querySelectorAll({MAP_POINTS!r}).length > 0", timeout=TIMEOUT_MS)
        out["first_map"].append(time.monotonic() - t0)
        await settle(page)
        points = page.locator(".js-plotly-plot .scatterlayer .point")
        count = await points.count()
        for i in range(clicks):
            if count == 0:
                out["errors"].append("no SVG points to click")
                break
            box = await points.nth((i * 37) % count).bounding_box()
            if box is None:
                continue
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            await page.mouse.move(x, y)
            await page.wait_for_timeout(150)
            t = time.monotonic()
            await page.mouse.click(x, y)
            await settle(page)
            out["clicks"].append(time.monotonic() - t)
        if await page.locator('[data-testid="stException"]').count():
            out["errors"].append("an exception box on the page")
    except Exception as exc:  # a timeout or a crash is an error of this round, not of the bench
        out["errors"].append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    finally:
        await context.close()


async def one_round(url: str, visitors: int, clicks: int) -> dict:
    from playwright.async_api import async_playwright

    out = {"first_map": [], "clicks": [], "errors": []}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        start = asyncio.Event()
        tasks = [asyncio.create_task(visitor(browser, url, clicks, start, out)) for _ in range(visitors)]
        await asyncio.sleep(1.0)  # every context ready, then all open the page at once
        start.set()
        await asyncio.gather(*tasks)
        await browser.close()
    return out


def computations(log: Path) -> dict[str, int]:
    """Computations the server logged (ui/compute: one "fse compute KIND KEY" line per computation)."""
    counts: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = re.search(r"fse compute (\w+)", line)
        if match:
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return counts


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", default="1,4,8")
    parser.add_argument("--clicks", type=int, default=5)
    parser.add_argument("--source", default="", help="a URL query, e.g. demo:hands (default: the app's demo)")
    parser.add_argument("--repo", default=str(HERE), help="the checkout whose app is served (an older one for "
                        "the figures before single-flight)")
    args = parser.parse_args()
    reason = browser_missing_reason()
    if reason:
        print(f"cannot bench: {reason}")
        return 1
    print(f"load at start: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"on {os.cpu_count()} cores")
    rows = []
    for n in [int(v) for v in args.visitors.split(",")]:
        with tempfile.TemporaryDirectory() as tmp, app_server(Path(tmp), repo=Path(args.repo)) as (url, _):
            pid = server_pid(url)
            idle, cpu0, t0 = peak_mb(pid), cpu_seconds(pid), time.monotonic()
            query = f"/?source={args.source}" if args.source else "/"
            result = asyncio.run(one_round(url + query, n, args.clicks))
            peak, cpu, wall = peak_mb(pid), cpu_seconds(pid) - cpu0, time.monotonic() - t0
            done = computations(Path(tmp) / "server.log")
        first, clicks = result["first_map"], result["clicks"]
        row = {"visitors": n, "first_med": statistics.median(first) if first else float("nan"),
               "first_max": max(first) if first else float("nan"),
               "click_med": statistics.median(clicks) if clicks else float("nan"),
               "click_p95": p95(clicks) if clicks else float("nan"), "errors": result["errors"],
               "idle": idle, "peak": peak, "computed": done, "cpu": cpu, "wall": wall}
        rows.append(row)
        print(f"{n} visitor(s): first map median {row['first_med']:.1f} s, max {row['first_max']:.1f} s; "
              f"click median {row['click_med']:.2f} s, p95 {row['click_p95']:.2f} s ({len(clicks)} clicks); "
              f"errors {len(row['errors'])}; server memory {idle} MB at start, peak {peak} MB; server CPU {cpu:.0f} s "
              f"of {wall:.0f} s wall ({os.cpu_count()} cores; the rest went to the browsers and other work); "
              f"computations {done}")
        for error in row["errors"][:5]:
            print(f"    error: {error}")
    one = next((r for r in rows if r["visitors"] == 1), None)
    if one is not None:
        for r in rows:
            if r["visitors"] == 1:
                continue
            print(f"{r['visitors']} visitors: first map (max) {r['first_max'] / one['first_med']:.2f} x the 1-visitor one "
                  f"(target <= 1.5); p95 click {r['click_p95'] / one['click_med']:.2f} x the 1-visitor median "
                  f"(target <= 3)")
    print(f"load at end: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
