"""Bench the app on large sets in a real browser: 20k and 100k vectors opened from their saved-set link.

Run: python bench/bench_scale.py [--sizes 20000 100000] [--dim 512]
For each size, n clustered vectors (dim 512, 20 tags) are saved in the set store (explorer.io.setstore)
as an .npz-style set, then the real app is opened on ``?set=TOKEN&method=pca`` in headless Chromium:
  first map  — page opened -> the PCA map's points are drawn,
  idle       — page opened -> the map's measures are shown and nothing runs any more,
  click      — a click on a point -> its nearest neighbours are listed beside the map.
The floor, measured in the same run: a trivial one-chart Streamlit app drawing the same number of
points (page opened -> points drawn). Also prints the server's peak memory and the machine's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from browser_helpers import MAP_POINTS, app_server, browser_missing_reason, offline_page  # noqa: E402

FLOOR_APP = '''
import numpy as np, plotly.graph_objects as go, streamlit as st
xy = np.load({path!r})
st.markdown("## Floor")
st.plotly_chart(go.Figure(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", marker=dict(size=3))))
'''
IDLE_JS = "!document.querySelector('[data-testid=\"stStatusWidget\"]')"


def make_set(n: int, dim: int, seed: int = 0):
    """A WorkSet of n clustered unit-ish vectors with 20 tags (no pictures, like an .npz)."""
    from explorer.workset import WorkSet, vectors_set_key

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, dim)).astype(np.float32)
    labels = rng.integers(0, 20, n)
    vectors = centres[labels] + rng.normal(scale=0.8, size=(n, dim)).astype(np.float32)
    ids = [f"v{i:06d}" for i in range(n)]
    key = vectors_set_key(ids, "synthetic", vectors)
    return WorkSet(name=f"synthetic-{n}.npz", key=key, set_key=key, images=None, ids=ids,
                   sources=[f"vector {i}" for i in range(n)], columns={"tag": [f"cluster {t:02d}" for t in labels]},
                   vectors=vectors, embedder_name="synthetic")


def peak_rss_mb(port: int) -> float | None:
    """VmHWM of the streamlit process serving ``port`` (Linux /proc), in MB."""
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            if b"streamlit" in b" ".join(cmd) and str(port).encode() in cmd:
                for line in (proc / "status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            continue
    return None


def click_a_point(page) -> None:
    """Click the first point of the map's first trace (works for WebGL charts, which have no DOM points)."""
    xy = page.evaluate("""() => {
        const gd = document.querySelector('.js-plotly-plot'); const t = gd._fullData[0];
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
        return [box.left + xa._offset + xa.l2p(t.x[0]), box.top + ya._offset + ya.l2p(t.y[0])]; }""")
    page.mouse.move(*xy)
    page.wait_for_timeout(300)
    page.mouse.click(*xy)


def bench_floor(p, n: int, tmp: Path) -> float:
    xy = np.random.default_rng(1).normal(size=(n, 2)).astype(np.float32)
    np.save(tmp / "xy.npy", xy)
    script = tmp / "floor_app.py"
    script.write_text(FLOOR_APP.format(path=str(tmp / "xy.npy")))
    with app_server(tmp, script=str(script)) as (url, _), offline_page(p) as (page, _):
        t = time.monotonic()
        page.goto(url)
        page.wait_for_function(f"document.querySelectorAll({MAP_POINTS!r}).length >= 1", timeout=300_000)
        return time.monotonic() - t


def bench_app(p, n: int, dim: int, tmp: Path) -> dict:
    from explorer.io.setstore import SetStore

    os.environ["EXPLORER_CACHE_DIR"] = str(tmp)
    token = SetStore(tmp / "sets").save(make_set(n, dim))
    out = {}
    with app_server(tmp) as (url, _), offline_page(p) as (page, _):
        port = int(url.rsplit(":", 1)[1])
        t = time.monotonic()
        page.goto(f"{url}/?set={token}&method=pca&dims=2&show=dots&k=10")
        page.wait_for_function(f"document.querySelectorAll({MAP_POINTS!r}).length >= 1", timeout=600_000)
        out["first map"] = time.monotonic() - t
        page.get_by_text("Map faithfulness").first.wait_for(timeout=1_800_000)
        page.wait_for_function(IDLE_JS, timeout=600_000)
        out["idle"] = time.monotonic() - t
        page.wait_for_timeout(1000)
        t = time.monotonic()
        click_a_point(page)
        page.get_by_text("nearest neighbours").first.wait_for(timeout=600_000)
        out["click -> neighbours"] = time.monotonic() - t
        out["server peak MB"] = peak_rss_mb(port)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--dim", type=int, default=512)
    args = parser.parse_args()
    reason = browser_missing_reason()
    if reason:
        sys.exit(f"cannot run: {reason}")
    from playwright.sync_api import sync_playwright

    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min)")
    with sync_playwright() as p:
        for n in args.sizes:
            floor = bench_floor(p, n, Path(tempfile.mkdtemp()))
            app = bench_app(p, n, args.dim, Path(tempfile.mkdtemp()))
            print(f"\n{n:,} vectors x {args.dim}:")
            print(f"  floor (one-chart app, {n:,} points): {floor:6.1f} s")
            print(f"  set link -> first map (PCA):   {app['first map']:6.1f} s   ({app['first map'] / floor:.1f}x floor)")
            print(f"  set link -> page idle:         {app['idle']:6.1f} s   ({app['idle'] / floor:.1f}x floor)")
            print(f"  click -> neighbours:           {app['click -> neighbours']:6.1f} s")
            if app["server peak MB"]:
                print(f"  server peak memory:            {app['server peak MB']:6.0f} MB")
            print(f"  load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min)")


if __name__ == "__main__":
    main()
