"""Carrying out the planned year (``plan.py``) day by day through a ``Platform`` port.

``Simulation.run_until(today)`` does, in day order, everything planned for the days up to
``today`` it has not done yet, each thing once. A fast loop calls it several times per simulated
day and a slow one skips days and catches up: the calls the platform receives are the same. No
decision is made here; the platform's answers only decide what is left to do (an enrolment the
platform rejected, or that a deadline closed first, needs no more declarations).

The only thing repeated is a declaration the platform is not ready for yet (the funding saga
of an enrolment still REQUESTED on its planned day): it is tried again on the next call.
"""
from __future__ import annotations

import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from .plan import Item, Plan, PlannedCheque, PlannedEnrolment, Step

TERMINAL = frozenset({"REJECTED", "CANCELLED", "NO_SHOW", "COMPLETED", "DROPPED_OUT"})


class Refused(Exception):
    """The platform said no to a declaration (FAILED_PRECONDITION), e.g. a deadline had passed."""


class Platform(Protocol):
    """What the demo asks of the platform (``grpc_platform.GrpcPlatform`` over the public APIs)."""

    def post(self, provider_id: str, enrolments: list[PlannedEnrolment]) -> list[str | None]:
        """One bulk upload; per row the enrolment id, or None for a row the platform refused."""
    def status(self, e: PlannedEnrolment, enrolment_id: str) -> tuple[str, str]:
        """The enrolment's status (``FUNDED``, ``REJECTED``, ...) and its rejection reason."""
    def cancel(self, e: PlannedEnrolment, enrolment_id: str) -> None: ...
    def start(self, e: PlannedEnrolment, enrolment_id: str) -> None: ...
    def drop_out(self, e: PlannedEnrolment, enrolment_id: str) -> None: ...
    def complete(self, e: PlannedEnrolment, enrolment_id: str) -> None: ...
    def buy_cheque(self, c: PlannedCheque) -> str:
        """The cheque id; raises ``Refused`` when the counter says no."""
    def record_guidance(self, c: PlannedCheque, cheque_id: str, session: int) -> None: ...


@dataclass
class Tally:
    """What happened, as the platform answered."""
    posted: int = 0
    rows_refused: int = 0
    rejected: Counter = field(default_factory=Counter)   # funding rejections by reason
    cancelled: int = 0
    started: int = 0
    completed: int = 0
    dropped_out: int = 0
    no_shows_left_to_deadline: int = 0
    declared_too_late: int = 0       # refused because a deadline closed the enrolment first
    refusals: Counter = field(default_factory=Counter)   # why, by step
    cheques_bought: int = 0
    cheques_refused: int = 0
    guidance_sessions: int = 0


class Simulation:
    """``workers`` > 1: the steps of different enrolments and cheques of one day are carried out
    at the same time (as providers and counters work side by side), each item's in order; the
    days stay in order and a day's uploads come first. The platform gets the same calls."""

    def __init__(self, plan: Plan, platform: Platform, workers: int = 1) -> None:
        self.plan, self.platform = plan, platform
        self.tally = Tally()
        self._lock = threading.Lock()   # the tally and the waiting list, when workers > 1
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="demo-day") if workers > 1 else None
        self.next_day = plan.first_day
        self._enrolment_ids: dict[str, str] = {}   # reference -> enrolment id
        self._closed: set[str] = set()             # references with nothing left to declare
        self._cheque_ids: dict[str, str] = {}      # person id -> cheque id
        self._waiting: list[tuple[Step, PlannedEnrolment]] = []

    @property
    def finished(self) -> bool:
        return self.next_day >= self.plan.end_day

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def run_until(self, today: date) -> None:
        """Carry out what is planned for every day up to ``today`` (and before the plan's end)."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
        self._each([[(step, e)] for step, e in waiting])
        while self.next_day <= today and not self.finished:
            steps = self.plan.on(self.next_day)
            self._post([e for step, e in steps if step is Step.POST])
            by_item: dict[int, list[tuple[Step, Item]]] = {}
            for step, item in steps:
                if step is not Step.POST:
                    by_item.setdefault(id(item), []).append((step, item))
            self._each(list(by_item.values()))
            self.next_day += timedelta(days=1)

    def _each(self, groups: list[list[tuple[Step, Item]]]) -> None:
        """Each group's steps in order; the groups side by side when there are workers (the
        first error is raised once all are done)."""
        def steps(group: list[tuple[Step, Item]]) -> None:
            for step, item in group:
                self._do(step, item)
        if self._pool is None or len(groups) < 2:
            for group in groups:
                steps(group)
        else:
            futures = [self._pool.submit(steps, group) for group in groups]
            wait(futures)
            for future in futures:
                future.result()

    def _count(self, name: str, reason: str | None = None) -> None:
        with self._lock:
            if reason is None:
                setattr(self.tally, name, getattr(self.tally, name) + 1)
            else:
                getattr(self.tally, name)[reason] += 1

    def _post(self, enrolments: list[PlannedEnrolment]) -> None:
        by_provider: dict[str, list[PlannedEnrolment]] = {}
        for e in enrolments:
            by_provider.setdefault(e.provider_id, []).append(e)
        for provider_id, rows in sorted(by_provider.items()):
            for e, enrolment_id in zip(rows, self.platform.post(provider_id, rows)):
                if enrolment_id is None:
                    self.tally.rows_refused += 1
                    self._closed.add(e.reference)
                else:
                    self._enrolment_ids[e.reference] = enrolment_id
                    self.tally.posted += 1

    def _do(self, step: Step, item: Item) -> None:
        if isinstance(item, PlannedCheque):
            self._cheque(step, item)
        else:
            self._declare(step, item)

    def _cheque(self, step: Step, c: PlannedCheque) -> None:
        if step is Step.BUY_CHEQUE:
            try:
                self._cheque_ids[c.person_id] = self.platform.buy_cheque(c)
                self._count("cheques_bought")
            except Refused:
                self._count("cheques_refused")
            return
        cheque_id = self._cheque_ids.get(c.person_id)
        if cheque_id is None:
            return
        session = c.sessions.index(self.next_day)
        try:
            self.platform.record_guidance(c, cheque_id, session)
            self._count("guidance_sessions")
        except Refused as refused:
            self._refused(step, str(refused))

    def _refused(self, step: Step, why: str) -> None:
        self._count("declared_too_late")
        self._count("refusals", f"{step}: {_general(why)}")

    def _declare(self, step: Step, e: PlannedEnrolment) -> None:
        enrolment_id = self._enrolment_ids.get(e.reference)
        if enrolment_id is None or e.reference in self._closed:
            return
        status, reason = self.platform.status(e, enrolment_id)
        if status == "REQUESTED":        # the funding saga has not answered yet: next time
            with self._lock:
                self._waiting.append((step, e))
            return
        if status in TERMINAL:
            self._closed.add(e.reference)
            if status == "REJECTED":
                self._count("rejected", reason.split(":")[0] or "UNKNOWN")
            elif step is not Step.CHECK:
                self._refused(step, f"already {status}")   # e.g. a deadline closed it first
            return
        wanted = {Step.CANCEL: "FUNDED", Step.CHECK: "FUNDED", Step.START: "FUNDED",
                  Step.DROP_OUT: "STARTED", Step.COMPLETE: "STARTED"}[step]
        if status != wanted:
            return
        try:
            if step is Step.CANCEL:
                self.platform.cancel(e, enrolment_id)
                self._count("cancelled")
            elif step is Step.CHECK:
                self._count("no_shows_left_to_deadline")
            elif step is Step.START:
                self.platform.start(e, enrolment_id)
                self._count("started")
                return
            elif step is Step.DROP_OUT:
                self.platform.drop_out(e, enrolment_id)
                self._count("dropped_out")
            else:
                self.platform.complete(e, enrolment_id)
                self._count("completed")
        except Refused as refused:
            self._refused(step, str(refused))
        self._closed.add(e.reference)


_ID = re.compile(r"\s*\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


def _general(why: str) -> str:
    """The platform's reason without the enrolment's id and dates, so that the summary counts
    refusals of the same kind together ("the start had to be declared by DATE ...")."""
    return _DATE.sub("DATE", _ID.sub("", why))
