"""The one way tests wait for something another thread or process does: ``eventually(check)``."""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def eventually(check: Callable[[], T], *, timeout_s: float = 30.0, pause_s: float = 0.1,
               what: str | Callable[[], str] = "the condition") -> T:
    """Call ``check`` until it returns something truthy and return that; fail after ``timeout_s``,
    naming ``what`` (a callable is asked at that moment, e.g. for what was seen so far).
    The timeout only bounds a broken run: tests never assert on how long it took."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what() if callable(what) else what}")
        time.sleep(pause_s)
