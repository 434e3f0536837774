"""The progress-callback protocol shared by every long-running step."""

from __future__ import annotations

from typing import Callable, Optional

# progress(done, total, message): ``done`` of ``total`` units finished; ``message`` says what is happening.
ProgressCallback = Callable[[int, int, str], None]


def report(progress: Optional[ProgressCallback], done: int, total: int, message: str = "") -> None:
    """Call ``progress`` if one was given; long steps call this so callers may pass ``None``."""
    if progress is not None:
        progress(done, total, message)
