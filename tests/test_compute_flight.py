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


def test_a_caller_whose_look_missed_just_before_the_value_was_stored_computes_nothing(monkeypatch, capfd):
    """A second visitor's first look can miss just before the first one's value is stored; it then leads an
    empty flight and finds the value stored. It computed nothing, so the log must not say it did (the
    two-visitor browser test counts those lines: tag colours were once 'computed' twice)."""
    key = ("late-look-test", time.time())
    assert compute.memo("other", key, lambda: "coloured") == "coloured"
    get, missed = compute._Store.get, []

    def late_get(self, k):
        if k == ("other", key) and not missed:  # this look happened before the value was stored
            missed.append(k)
            return False, None
        return get(self, k)

    monkeypatch.setattr(compute._Store, "get", late_get)
    assert compute.memo("other", key, lambda: "computed again") == "coloured" and missed
    assert capfd.readouterr().err.count("fse compute other ") == 1


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


def test_a_visitor_arriving_as_a_background_job_finishes_finds_it_or_its_value(monkeypatch):
    """The map measures were once computed twice: a finished job's value was stored by the visitor who
    collected it (taken out of the running jobs, then stored), and a second visitor asking in between found
    neither. Here the value's storing is held open while two more visitors ask: no second computation."""
    key = ("collect-race-test", time.time())
    calls, storing, release = [], threading.Event(), threading.Event()
    put = compute._Store.put

    def held_put(self, k, value):
        if k == ("other", key) and not release.is_set():
            storing.set()
            release.wait(10)
        put(self, k, value)

    monkeypatch.setattr(compute._Store, "put", held_put)

    def measures():
        calls.append(1)
        return "measured"

    assert compute.background("other", key, measures) == (False, None)
    pool, running, _ = compute._jobs()

    def collected() -> bool:
        return compute.background("other", key, measures)[0]

    first = threading.Thread(target=wait_until, args=(collected, 10))  # a visitor polling until it is done
    assert wait_until(lambda: calls, 10)
    first.start()
    assert wait_until(storing.is_set, 10)  # the value is being stored (by the job, or by the first visitor)
    second = compute.background("other", key, measures)  # arrives meanwhile
    release.set()
    first.join(10)
    pool.submit(lambda: None).result(10)  # one worker: every job asked for so far has run
    assert len(calls) == 1, "a second visitor computed the finished job again"
    assert second in ((False, None), (True, "measured"))
    assert compute.background("other", key, measures) == (True, "measured") and ("other", key) not in running


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
