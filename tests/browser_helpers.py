"""Start the app as a real server and drive it with Debian's Chromium (shared by the browser test and bench)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
MAP_POINTS = ".js-plotly-plot .scatterlayer .point, .js-plotly-plot canvas.gl-canvas"


def browser_missing_reason() -> str:
    """Why the browser tests cannot run here ("" when they can)."""
    if not Path(CHROMIUM).exists():
        return f"chromium not found at {CHROMIUM} (sudo apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (python) is not installed"
    return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(cache_dir: Path, *, env: dict | None = None, timeout: float = 120.0, script: str = "app.py",
               repo: Path = REPO):
    """Run ``streamlit run app.py`` (or ``script``) of the checkout ``repo`` (this one unless a benchmark
    serves an older one) on a free localhost port, its log in ``cache_dir/server.log``; yields (url, seconds
    until healthy). ``server_pid(url)`` finds its process."""
    port = free_port()
    full_env = {**os.environ, "EXPLORER_CACHE_DIR": str(cache_dir), **(env or {})}
    cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    log = open(cache_dir / "server.log", "wb")
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=repo, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}; see {cache_dir / 'server.log'}")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"streamlit not healthy after {timeout:.0f} s")
            time.sleep(0.2)
        yield url, time.monotonic() - start
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def server_pid(url: str) -> int:
    """The process id of the streamlit server ``app_server`` runs at ``url`` (from /proc)."""
    port = urlparse(url).port
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"streamlit" in b" ".join(cmd) and str(port).encode() in cmd:
                return int(entry.name)
    raise LookupError(f"no streamlit process on port {port}")


@contextmanager
def offline_page(playwright, *, width: int = 1500, height: int = 1000):
    """A Chromium page whose every request to anything but localhost is aborted; yields (page, blocked)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    blocked: list[str] = []

    def guard(route):
        host = urlparse(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    try:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.route("**/*", guard)
        page = context.new_page()
        yield page, blocked
    finally:
        browser.close()


def wait_for_map(page, timeout_ms: int = 120_000, *, min_points: int = 1, final: bool = True) -> None:
    """Wait until the map has drawn at least ``min_points`` points (``final``: the finished layout).

    t-SNE redraws the chart while it optimises, so a point seen once may vanish with the next frame; the
    measures under the map are written only after the final layout, so ``final`` waits for them too.
    """
    if final:
        page.get_by_text("Map faithfulness").first.wait_for(timeout=timeout_ms)
    page.wait_for_function(f"document.querySelectorAll({MAP_POINTS!r}).length >= {int(min_points)}",
                           timeout=timeout_ms)


def click_first_point(page) -> None:
    """Hover then click the centre of the first SVG point (Plotly reads clicks from its drag layer)."""
    point = page.locator(".js-plotly-plot .scatterlayer .point").first
    box = point.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)


def saved_synthetic_set(store_dir: Path, n: int, *, groups: int, dims: int, noise: float, name: str,
                        source_format: str = "vec {}") -> str:
    """Save ``n`` clustered synthetic vectors (``groups`` tags) as a set; returns its token for ``?set=``."""
    import numpy as np

    from explorer.io.setstore import SetStore
    from explorer.workset import WorkSet, vectors_set_key

    rng = np.random.default_rng(0)
    labels = rng.integers(0, groups, n)
    vectors = (rng.normal(size=(groups, dims))[labels] + rng.normal(scale=noise, size=(n, dims))).astype(np.float32)
    ids = [f"v{i:06d}" for i in range(n)]
    key = vectors_set_key(ids, "synthetic", vectors)
    record = WorkSet(name=name, key=key, set_key=key, images=None, ids=ids,
                     sources=[source_format.format(i) for i in range(n)],
                     columns={"tag": [f"group {t}" for t in labels]}, vectors=vectors, embedder_name="synthetic")
    return SetStore(store_dir).save(record)
