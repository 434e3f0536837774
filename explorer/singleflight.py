"""One computation per question, and heavy work that never makes a lookup wait.

A shared server is asked the same question by many visitors at once (six sessions opening the demo
computed the same map six times: 33 s each instead of 6 s). :class:`SingleFlight` runs a computation
once per key: the first caller (the *leader*) computes, callers with the same key that arrive meanwhile
wait for its result instead of computing it again. Heavy computations also take one of a few *slots*
(a semaphore, ``heavy_slots``): on a 2-core server one visitor's t-SNE leaves a core free, and a caller
whose answer is already cached (a lookup) never touches the semaphore, so it never queues behind work.

Leaving is cooperative: a waiting caller polls its ``alive()`` check and raises :class:`Cancelled` once its
visitor has gone (the computation goes on for the others). When the leader's computation is abandoned
(its own visitor left: it raised one of ``retry_on``), the callers still waiting do not inherit that
cancellation: one of them becomes the new leader. Any other exception is the answer for everyone.

Nested computations are fine: a leader holding a slot that waits for another key gives its slot back
while it waits (so the other key's leader can run) and takes one again afterwards.

Pure Python (threads), no Streamlit: ``ui/compute.py`` wires it to the app's caches.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import contextmanager
from typing import Any, Callable, Hashable, Iterator

POLL_SECONDS = 0.2  # how often a waiting caller checks whether its visitor is still there


class Cancelled(Exception):
    """The caller's visitor left while it waited (for a slot or for another caller's computation)."""


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.waiters = 0
        self.progress: Any = None  # the leader's latest published progress (e.g. a t-SNE frame)
        self.progress_at = 0       # how many times it was published


def _always() -> bool:
    return True


class SingleFlight:
    """Run ``compute`` once per key among concurrent callers; see the module docstring.

    heavy_slots : heavy computations running at once in this process (the rest wait, cancellably).
    retry_on : exception types meaning "the leader was abandoned", not "the question has no answer".
    on_compute : called with the key each time a computation starts (a log line; tests count them).
    """

    def __init__(self, *, heavy_slots: int = 1, retry_on: tuple[type[BaseException], ...] = (Cancelled,),
                 on_compute: Callable[[Hashable], None] | None = None) -> None:
        if heavy_slots < 1:
            raise ValueError(f"heavy_slots must be at least 1, got {heavy_slots!r}")
        self.heavy_slots = int(heavy_slots)
        self.retry_on = tuple(retry_on) + (Cancelled,)
        self.on_compute = on_compute
        self.computed: Counter = Counter()  # key -> computations started (for tests and logs)
        self._lock = threading.Lock()
        self._flights: dict[Hashable, _Flight] = {}
        self._slots = threading.Semaphore(self.heavy_slots)
        self._held = threading.local()  # slots this thread holds (nested heavy work takes no second one)

    # ----- public API -------------------------------------------------------------------------------

    def run(self, key: Hashable, compute: Callable[[], Any], *, alive: Callable[[], bool] | None = None,
            heavy: bool = True, on_wait: Callable[[], None] | None = None,
            on_progress: Callable[[Any], None] | None = None, poll: float = POLL_SECONDS) -> Any:
        """``compute()``'s value for ``key``, computed once among the callers asking at the same time.

        alive : False once this caller's visitor has gone (checked while waiting; Cancelled then).
        heavy : take a slot for the computation (lookups and light steps pass ``False``).
        on_wait : called once when this caller waits for another caller's computation (say so on the page).
        on_progress : while waiting, called (in this caller's thread) with each value the leader
            :meth:`publish` es, e.g. intermediate t-SNE layouts, so every waiting visitor sees them too.
        """
        alive = alive or _always
        while True:
            with self._lock:
                flight = self._flights.get(key)
                leader = flight is None
                if leader:
                    flight = self._flights[key] = _Flight()
                else:
                    flight.waiters += 1
            if leader:
                return self._lead(key, flight, compute, alive, heavy, poll)
            if on_wait is not None:
                on_wait()
            seen = 0
            with self._released():
                while not flight.done.wait(poll):
                    if not alive():
                        raise Cancelled("the visitor left while waiting for a computation")
                    if on_progress is not None and flight.progress_at != seen:
                        seen = flight.progress_at
                        on_progress(flight.progress)
            if flight.error is None:
                return flight.value
            if not isinstance(flight.error, self.retry_on):
                raise flight.error
            # the leader was abandoned: ask again (this caller may become the leader)

    def publish(self, key: Hashable, progress: Any) -> None:
        """The leader of ``key`` shares intermediate ``progress`` with the callers waiting for it."""
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                flight.progress = progress
                flight.progress_at += 1

    def in_flight(self, key: Hashable) -> bool:
        """True while a computation of ``key`` runs."""
        with self._lock:
            return key in self._flights

    @contextmanager
    def slot(self, alive: Callable[[], bool] | None = None, poll: float = POLL_SECONDS) -> Iterator[None]:
        """Hold one heavy slot (re-entrant in a thread); Cancelled if the visitor leaves while waiting."""
        alive = alive or _always
        held = getattr(self._held, "n", 0)
        if held:
            self._held.n = held + 1
            try:
                yield
            finally:
                self._held.n -= 1
            return
        while not self._slots.acquire(timeout=poll):
            if not alive():
                raise Cancelled("the visitor left while waiting for a free slot")
        self._held.n = 1
        try:
            yield
        finally:
            self._held.n = 0
            self._slots.release()

    # ----- internals --------------------------------------------------------------------------------

    def _lead(self, key, flight: _Flight, compute, alive, heavy: bool, poll: float) -> Any:
        try:
            if heavy:
                with self.slot(alive, poll):
                    value = self._compute(key, compute)
            else:
                value = self._compute(key, compute)
            flight.value = value
            return value
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()

    def _compute(self, key, compute) -> Any:
        self.computed[key] += 1
        if self.on_compute is not None:
            self.on_compute(key)
        return compute()

    @contextmanager
    def _released(self) -> Iterator[None]:
        """While this thread waits for another key, the slot it holds (if any) is free for that key's leader."""
        held = getattr(self._held, "n", 0)
        if not held:
            yield
            return
        self._held.n = 0
        self._slots.release()
        try:
            yield
        finally:
            self._slots.acquire()
            self._held.n = held


# ----- cancellation that reaches code which takes no check argument ----------------------------------

_SCOPE = threading.local()


@contextmanager
def cancel_scope(check: Callable[[], None]) -> Iterator[None]:
    """Within this block (this thread), :func:`current_check` returns ``check`` (a function that raises to
    stop), so long loops deep inside a computation (``explorer.distances.knn``'s blocks) stop when the
    visitors who wanted it have gone, without every layer passing a callback down."""
    outer = getattr(_SCOPE, "check", None)
    _SCOPE.check = check
    try:
        yield
    finally:
        _SCOPE.check = outer


def current_check() -> Callable[[], None] | None:
    """The check of the innermost :func:`cancel_scope` of this thread, or None."""
    return getattr(_SCOPE, "check", None)


def checkpoint() -> None:
    """Call the current scope's check (raises when the work is no longer wanted); nothing outside a scope."""
    check = current_check()
    if check is not None:
        check()


def wait_until(predicate: Callable[[], bool], timeout: float, poll: float = 0.01) -> bool:
    """True once ``predicate()`` holds, False after ``timeout`` seconds (for tests and benchmarks)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(poll)
    return predicate()
