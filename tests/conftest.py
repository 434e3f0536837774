"""Shared pytest fixtures: where the real photo sets live, the generated hostile corpus, a stand-in for the
Streamlit server's runtime and the browser check."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))  # lets tests import helpers such as hostile_corpus

from browser_helpers import browser_missing_reason  # noqa: E402

SHARED_DATA = TESTS.parents[0].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only real photo sets (../shared/data); tests using them skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real photo data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def hostile_folder(tmp_path_factory):
    """(root, Expected) for the generated hostile folder; see tests/hostile_corpus.py."""
    import hostile_corpus

    base = tmp_path_factory.mktemp("hostile")
    expected = hostile_corpus.build_folder(base / "root", base / "outside")
    return base / "root", expected


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With REQUIRE_PRETRAINED=1 (CI), a test skipped for want of torch/efficientnet fails instead."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or os.environ.get("REQUIRE_PRETRAINED") != "1":
        return
    reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if any(word in reason.lower() for word in ("torch", "efficientnet", "pretrained")):
        report.outcome = "failed"
        report.longrepr = f"REQUIRE_PRETRAINED=1 but the test was skipped: {reason}"


@pytest.fixture(scope="session")
def browser_ok():
    """Skips a browser test where Chromium or Playwright is missing; fails instead with REQUIRE_BROWSER=1 (CI)."""
    reason = browser_missing_reason()
    if reason:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


class FakeRuntime:
    """Stands in for Streamlit's ``Runtime``: the sessions in ``active`` have a browser open."""

    def __init__(self):
        self.active = {"s1"}

    def is_active_session(self, session_id):
        return session_id in self.active


@pytest.fixture
def runtime(monkeypatch):
    """A server whose session "s1" runs this test (ui.liveness and ui.compute see it); clearing the returned
    FakeRuntime's ``active`` closes its browser."""
    import streamlit.runtime as rt
    import streamlit.runtime.scriptrunner as sr

    from ui import compute

    fake = FakeRuntime()
    ctx = type("Ctx", (), {"session_id": "s1"})()
    monkeypatch.setattr(rt.Runtime, "exists", classmethod(lambda cls: True))
    monkeypatch.setattr(rt.Runtime, "instance", classmethod(lambda cls: fake))
    monkeypatch.setattr(sr, "get_script_run_ctx", lambda suppress_warning=False: ctx)
    monkeypatch.setattr(compute, "get_script_run_ctx", lambda suppress_warning=False: ctx)
    return fake
