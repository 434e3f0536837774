"""Work stops when nobody is waiting: a check that long computations call, which ends a script run whose
browser has gone away.

Streamlit stops a run at its next UI call once the browser disconnects, but k-NN, t-SNE and embedding
can run for minutes without one. :func:`abandon_check` captures the current session on the script thread
and returns a function safe to call from any thread (worker threads included): it raises Streamlit's own
``StopException`` once the session is no longer active, so the run ends quietly, nothing half-computed is
cached (``ui.compute.memo`` stores only finished results) and the memory is freed. Outside a running
server (AppTest, scripts, the CLI) the check does nothing.
"""

from __future__ import annotations

from typing import Callable


def _never() -> None:
    return None


def abandon_check() -> Callable[[], None]:
    """A no-argument check for the current session: raises StopException once its browser has left."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None or not Runtime.exists():
        return _never
    runtime, session_id = Runtime.instance(), ctx.session_id

    def check() -> None:
        if not runtime.is_active_session(session_id):
            from streamlit.runtime.scriptrunner import StopException

            raise StopException()

    return check
