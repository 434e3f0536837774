"""Issue 20: one computation per question (explorer.singleflight), cancellable waits, heavy slots."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from explorer.distances import knn
from explorer.singleflight import Cancelled, SingleFlight, cancel_scope, wait_until


def run_threads(n, target):
    results, errors = [None] * n, [None] * n

    def one(i):
        try:
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 (collected for the assertions)
            errors[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results, errors


def test_concurrent_callers_with_the_same_key_share_one_computation():
    flight = SingleFlight()
    started = threading.Event()
    calls = []

    def compute():
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return np.arange(3)

    results, errors = run_threads(6, lambda i: flight.run(("map", "demo"), compute))
    assert errors == [None] * 6 and len(calls) == 1 and flight.computed[("map", "demo")] == 1
    assert all(r is results[0] for r in results)  # the very same object
    # another key is another computation
    flight.run(("map", "other"), lambda: 1)
    assert flight.computed[("map", "other")] == 1


def test_an_error_is_everyones_answer_but_an_abandoned_leader_hands_over():
    flight = SingleFlight(retry_on=(KeyboardInterrupt,))
    gate = threading.Event()

    def boom():
        gate.wait(2)
        raise ValueError("no answer")

    results, errors = run_threads(3, lambda i: flight.run("k", boom) if i == 0 else
                                  (time.sleep(0.1), gate.set(), flight.run("k", boom))[2])
    assert all(isinstance(e, ValueError) for e in errors)
    attempts = []

    def leader_leaves():
        attempts.append(1)
        time.sleep(0.3)
        if len(attempts) == 1:
            raise KeyboardInterrupt  # what the app's "browser gone" check raises, for this test
        return "answer"

    results, errors = run_threads(3, lambda i: flight.run("j", leader_leaves) if i == 0 else
                                  (time.sleep(0.1), flight.run("j", leader_leaves))[1])
    assert isinstance(errors[0], KeyboardInterrupt) and results[1:] == ["answer", "answer"]
    assert len(attempts) == 2  # one new leader, not one computation per waiting caller


def test_a_waiting_caller_whose_visitor_left_stops_waiting_within_a_poll():
    flight = SingleFlight()
    release = threading.Event()
    threading.Thread(target=lambda: flight.run("slow", lambda: release.wait(5)), daemon=True).start()
    assert wait_until(lambda: flight.in_flight("slow"), 2)
    here = [True]
    threading.Timer(0.2, lambda: here.__setitem__(0, False)).start()
    start = time.monotonic()
    with pytest.raises(Cancelled):
        flight.run("slow", lambda: None, alive=lambda: here[0], poll=0.05)
    assert time.monotonic() - start < 1.0
    release.set()


def test_heavy_work_takes_a_slot_and_a_lookup_never_waits_for_one():
    flight = SingleFlight(heavy_slots=1)
    release = threading.Event()
    threading.Thread(target=lambda: flight.run("tsne", lambda: release.wait(5)), daemon=True).start()
    assert wait_until(lambda: flight.in_flight("tsne"), 2)
    start = time.monotonic()
    assert flight.run("lookup", lambda: "cached", heavy=False) == "cached"  # no slot: no queue
    assert time.monotonic() - start < 0.1
    second = threading.Thread(target=lambda: flight.run("pca", lambda: "pca"), daemon=True)
    second.start()
    time.sleep(0.2)
    assert flight.computed["pca"] == 0  # waiting for the one slot
    release.set()
    second.join(2)
    assert flight.computed["pca"] == 1


def test_nested_heavy_work_does_not_deadlock():
    flight = SingleFlight(heavy_slots=1)

    def projection():  # a heavy step that needs another heavy step (vectors), computed by another caller
        return flight.run("vectors", lambda: 2, heavy=True) * 10

    results, errors = run_threads(4, lambda i: flight.run("proj", projection) if i % 2 else
                                  flight.run("vectors", lambda: (time.sleep(0.1), 2)[1]))
    assert errors == [None] * 4 and sorted(results) == [2, 2, 20, 20]


def test_a_cancel_scope_stops_a_neighbour_search_deep_inside_a_computation():
    X = np.random.default_rng(0).normal(size=(3000, 64)).astype(np.float32)
    calls, passed = [], []

    def check():
        calls.append(1)
        if len(calls) > 2:
            raise Cancelled("gone")
        passed.append(1)

    with cancel_scope(check), pytest.raises(Cancelled):
        knn(X, 5, max_block_bytes=1 << 20)
    assert len(calls) > 10 and len(passed) == 2  # many blocks, two computed: every later one stopped at once
    knn(X[:50], 5)  # outside the scope nothing is checked


def test_waiting_callers_see_the_leaders_progress():
    flight = SingleFlight()
    seen = []

    def compute():
        for frame in range(3):
            flight.publish("tsne", frame)
            time.sleep(0.15)
        return "final"

    leader = threading.Thread(target=lambda: flight.run("tsne", compute))
    leader.start()
    assert wait_until(lambda: flight.in_flight("tsne"), 2)
    assert flight.run("tsne", compute, on_progress=seen.append, poll=0.02) == "final"
    leader.join(2)
    assert seen and seen == sorted(seen) and set(seen) <= {0, 1, 2} and flight.computed["tsne"] == 1
