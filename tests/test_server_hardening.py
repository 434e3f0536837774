"""Issue 13 against a running server: the Host allow-list (DNS rebinding) and no autolinks from a crafted URL."""

from __future__ import annotations

import asyncio
import urllib.parse

import pytest

from browser_helpers import app_server, browser_missing_reason, offline_page


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with app_server(tmp_path_factory.mktemp("srv")) as (url, _):
        yield url


async def _open_websocket(url: str, host: str) -> str:
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    request = HTTPRequest(url.replace("http://", "ws://") + "/_stcore/stream", headers={"Host": host})
    try:
        conn = await websocket_connect(request, subprotocols=["streamlit"])
    except HTTPClientError as exc:
        return f"refused {exc.code}"
    conn.close()
    return "open"


@pytest.mark.parametrize("host, outcome", [("localhost:8501", "open"), ("127.0.0.1", "open"),
                                           ("evil.example", "refused 403"), ("rebind.evil.example:80", "refused 403")])
def test_a_websocket_with_a_foreign_host_header_is_refused(server, host, outcome):
    assert asyncio.run(_open_websocket(server, host)) == outcome


def test_a_crafted_bookmark_shows_its_text_without_a_single_link(server, tmp_path):
    reason = browser_missing_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    source = 'demo:visit www.evil.com or https://evil.com/x or me@evil.com "quoted"'
    with sync_playwright() as p, offline_page(p) as (page, _):
        page.goto(server + "/presenter?step=1&embedder=hog&source=" + urllib.parse.quote(source))
        page.get_by_text("A presenter bookmark can name a built-in demo only").first.wait_for(timeout=90_000)
        alert = page.locator("[data-testid='stAlertContainer']").first
        shown = alert.inner_text().replace("\u2060", "")
        assert source.removeprefix("demo:") in shown  # every character shows, as typed
        assert page.locator("a[href*='evil']").count() == 0  # ... and none of it is a link
        alert.screenshot(path=str(tmp_path / "bookmark-error.png"))
