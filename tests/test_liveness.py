"""Issue 13: work for a browser that has gone away stops (k-NN, t-SNE, embedding) and nothing half-done is cached."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.runtime.scriptrunner import StopException

from explorer.distances import knn
from ui import liveness
from ui import status
from ui.compute import memo


def test_outside_a_server_the_check_does_nothing():
    liveness.abandon_check()()  # AppTest, scripts and the CLI run without a Runtime


def test_the_check_raises_once_the_session_is_gone(runtime):
    check = liveness.abandon_check()
    check()
    runtime.active.clear()  # the browser closed
    with pytest.raises(StopException):
        check()


def test_knn_is_abandoned_between_blocks(runtime):
    X = np.random.default_rng(0).normal(size=(2000, 8)).astype(np.float32)
    calls, check = [], liveness.abandon_check()

    def should_stop():
        calls.append(1)
        if len(calls) == 3:
            runtime.active.clear()  # the browser leaves while the third block is about to run
        check()

    with pytest.raises(StopException):
        knn(X, 5, max_block_bytes=2000 * 4 * 50, n_jobs=1, should_stop=should_stop)
    assert len(calls) == 3  # of 40 blocks: the rest never ran


def test_progress_box_stops_embedding_and_memo_keeps_nothing(runtime):
    def compute():
        with status.progress_box("Embedding") as progress:
            for i in range(10):
                if i == 4:
                    runtime.active.clear()
                progress(i, 10, "embedding")
        return "finished"

    with pytest.raises(StopException):
        memo("other", ("liveness-test",), compute)
    runtime.active.add("s1")
    assert memo("other", ("liveness-test",), lambda: "recomputed") == "recomputed"
