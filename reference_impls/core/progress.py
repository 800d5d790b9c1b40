"""Progress reporting and cancellation, passed to every demo's run()."""

from __future__ import annotations

from typing import Callable, Optional


class Cancelled(Exception):
    """Raised inside a demo when its caller asked it to stop."""


class Progress:
    """`report(fraction, message)` forwards to the caller's callback; `check()` raises
    `Cancelled` when the caller's `should_stop()` says so. The harness calls `check()`
    before every network evaluation, so a cancel takes effect quickly.
    `stage(start, end)` maps the next reports into that part of the whole run.
    """

    def __init__(self, callback: Optional[Callable[[float, str], None]] = None,
                 should_stop: Optional[Callable[[], bool]] = None):
        self.callback = callback
        self.should_stop = should_stop
        self.fraction = 0.0
        self.span = (0.0, 1.0)

    def stage(self, start: float, end: float) -> "Progress":
        self.span = (start, end)
        return self

    def report(self, fraction: float, message: str = "") -> None:
        lo, hi = self.span
        self.fraction = max(self.fraction, lo + (hi - lo) * max(0.0, min(1.0, fraction)))
        if self.callback:
            self.callback(self.fraction, message)
        self.check()

    def check(self) -> None:
        if self.should_stop and self.should_stop():
            raise Cancelled("cancelled by the user")
