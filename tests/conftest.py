"""Shared pytest fixtures: where the real photo sets live, and the generated hostile corpus."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))  # lets tests import helpers such as hostile_corpus

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
