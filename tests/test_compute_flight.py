"""Issue 20: ui.compute asks each question once (single-flight on the cache key) and stops background
measures soon after the last visitor who wanted them has left."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from explorer.distances import knn
from explorer.singleflight import wait_until
from ui import compute


class FakeRuntime:
    def __init__(self):
        self.active = {"s1"}

    def is_active_session(self, session_id):
        return session_id in self.active


@pytest.fixture
def runtime(monkeypatch):
    import streamlit.runtime as rt
    import streamlit.runtime.scriptrunner as sr

    fake = FakeRuntime()
    monkeypatch.setattr(rt.Runtime, "exists", classmethod(lambda cls: True))
    monkeypatch.setattr(rt.Runtime, "instance", classmethod(lambda cls: fake))
    ctx = type("Ctx", (), {"session_id": "s1"})()
    monkeypatch.setattr(sr, "get_script_run_ctx", lambda suppress_warning=False: ctx)
    monkeypatch.setattr(compute, "get_script_run_ctx", lambda suppress_warning=False: ctx)
    return fake


def test_concurrent_sessions_asking_the_same_key_compute_it_once(capfd):
    calls, results = [], []
    key = ("flight-test", time.time())

    def slow():
        calls.append(1)
        time.sleep(0.4)
        return np.ones(3)

    threads = [threading.Thread(target=lambda: results.append(compute.memo("projection", key, slow)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and len(results) == 4 and all(r is results[0] for r in results)
    assert compute.memo("projection", key, slow) is results[0] and len(calls) == 1  # then a plain lookup
    assert capfd.readouterr().err.count("fse compute projection ") == 1  # one line in the server's log


def test_background_measures_stop_when_their_visitor_leaves(runtime):
    X = np.random.default_rng(0).normal(size=(50_000, 64)).astype(np.float32)
    blocks = []

    def measures():
        blocks.append(time.monotonic())
        return knn(X, 10, max_block_bytes=2 << 20)  # hundreds of small blocks: many seconds on 2 cores

    key = ("map-measures-test", time.time())
    done, _ = compute.background("other", key, measures)
    assert not done
    _, running, _ = compute._jobs()
    future = running[("other", key)][0]
    assert wait_until(lambda: blocks, 10)
    time.sleep(0.3)
    assert not future.done()  # tens of seconds of work left
    runtime.active.clear()  # the tab closed
    left = time.monotonic()
    with pytest.raises(Exception) as stopped:
        future.result(timeout=10)
    assert type(stopped.value).__name__ == "Cancelled" and time.monotonic() - left < 3.0
    runtime.active.add("s1")  # someone asks again: the job starts over
    done, _ = compute.background("other", key, lambda: "again")
    assert wait_until(lambda: compute.background("other", key, lambda: "again")[0], 10)


def test_a_refused_vector_file_is_parsed_once_per_session(monkeypatch):
    """Issue 20: a failing upload was parsed again on every rerun (two messages, two temporary folders)."""
    import streamlit as st

    from explorer.io.sources import LoadError
    from ui import sets

    parsed = []

    def refuse(ref):
        parsed.append(ref)
        raise LoadError("bad.parquet: 1,000,000 rows, over the limit of 100,000 rows")

    monkeypatch.setattr(sets, "_load_npz", refuse)
    st.session_state.clear()
    ref = f"upload:{time.time()}/bad.parquet"
    for _ in range(3):  # three reruns of the page
        with pytest.raises(LoadError, match="over the limit of 100,000 rows"):
            sets._load_vectors_once(ref)
    assert parsed == [ref]


class Vectors:
    """The two things a click's lookup reads from a record: its content key and its vectors."""

    def __init__(self, vectors: np.ndarray):
        self.key, self.vectors = f"click-test-{time.time()}", vectors

    def __len__(self) -> int:
        return len(self.vectors)


def test_a_click_does_not_wait_for_the_heavy_slot_of_background_measures(runtime):
    """At 1M points the map's measures hold the heavy slot for seconds; the first click builds the set's
    neighbour index and must not queue behind them (it took the measures' whole length before)."""
    release = threading.Event()
    key = ("slot-holder-test", time.time())
    done, _ = compute.background("other", key, lambda: release.wait(30))
    try:
        _, running, _ = compute._jobs()
        assert wait_until(lambda: not running[("other", key)][0].done(), 5)
        time.sleep(0.2)  # the job has its slot
        ws = Vectors(np.random.default_rng(1).normal(size=(500, 8)).astype(np.float32))
        answer = []
        asker = threading.Thread(target=lambda: answer.append(compute.neighbours_of(ws, 3, 5)))
        asker.start()
        asker.join(5)
        assert answer, "the click waited for the background job's heavy slot"
        idx, _ = answer[0]
        expected = knn(ws.vectors, 5, metric="cosine", exclude_self=True)[0][3]
        assert list(idx) == list(expected)
    finally:
        release.set()
