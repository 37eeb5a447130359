"""Injectable clocks: domain and service code never reads the wall clock directly.

Every component that needs "now" takes a ``Clock``; production wires ``SystemClock``, tests
wire ``FakeClock`` and move time explicitly. All datetimes are timezone-aware UTC.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant as an aware UTC datetime."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FakeClock:
    """A clock that only moves when told to; thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2025, 1, 6, 9, 0, tzinfo=timezone.utc)
        if start.tzinfo is None:
            raise ValueError("FakeClock start must be timezone-aware")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("a clock never goes backwards")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        with self._lock:
            if instant < self._now:
                raise ValueError("a clock never goes backwards")
            self._now = instant.astimezone(timezone.utc)


class AcceleratedClock:
    """Simulated time for demonstrations (``make run`` simulates a year in minutes).

    Simulated time is ``start`` at the real instant ``epoch`` and runs ``speed`` times faster
    than real time. Every service of one demo gets the same ``start``, ``epoch`` and ``speed``,
    so their clocks agree across processes; deadlines and expiries still fire by themselves.
    """

    def __init__(self, start: datetime, epoch: datetime, speed: float, real: Clock | None = None) -> None:
        if start.tzinfo is None or epoch.tzinfo is None:
            raise ValueError("start and epoch must be timezone-aware")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start, self.epoch, self.speed = start, epoch, speed
        self.real = real or SystemClock()

    def now(self) -> datetime:
        elapsed = self.real.now() - self.epoch
        return self.start + elapsed * self.speed


def clock_from_settings(settings) -> Clock:
    """The clock a service runs on: the system clock, or the demo's accelerated clock when the
    settings name one (``sim_start``, ``sim_epoch``, ``sim_speed``)."""
    if getattr(settings, "sim_start", None) is None:
        return SystemClock()
    return AcceleratedClock(settings.sim_start, settings.sim_epoch or settings.sim_start, settings.sim_speed)
