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

    Simulated time is ``start`` until the real instant ``epoch``, then runs ``speed`` times faster
    than real time until it reaches ``until`` (if given); from there on it runs at real speed,
    so the platform stays at the end of the simulated year instead of racing into the next ones.
    Every service of one demo gets the same ``start``, ``epoch``, ``speed`` and ``until``, so
    their clocks agree across processes; deadlines and expiries still fire by themselves.
    """

    def __init__(self, start: datetime, epoch: datetime, speed: float, real: Clock | None = None,
                 until: datetime | None = None) -> None:
        if start.tzinfo is None or epoch.tzinfo is None or (until is not None and until.tzinfo is None):
            raise ValueError("start, epoch and until must be timezone-aware")
        if speed <= 0:
            raise ValueError("speed must be positive")
        if until is not None and until < start:
            raise ValueError("until must not be before start")
        self.start, self.epoch, self.speed, self.until = start, epoch, speed, until
        self.real = real or SystemClock()

    def now(self) -> datetime:
        # Before the epoch simulated time stands still at ``start`` (the demo's set-up phase).
        elapsed = max(self.real.now() - self.epoch, timedelta(0))
        simulated = self.start + elapsed * self.speed
        if self.until is None or simulated <= self.until:
            return simulated
        fast_phase = (self.until - self.start) / self.speed
        return self.until + (elapsed - fast_phase)


def clock_from_settings(settings) -> Clock:
    """The clock a service runs on: the system clock, or the demo's accelerated clock when the
    settings name one (``sim_start``, ``sim_epoch``, ``sim_speed``, ``sim_until``)."""
    if getattr(settings, "sim_start", None) is None:
        return SystemClock()
    return AcceleratedClock(settings.sim_start, settings.sim_epoch or settings.sim_start, settings.sim_speed,
                            until=getattr(settings, "sim_until", None))
