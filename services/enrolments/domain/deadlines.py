"""Deadlines are part of the enrolment state machine and fire by themselves.

=====================  ==========  ==========================================================
deadline               in status   due when the local day after this one begins (UTC instant)
=====================  ==========  ==========================================================
``NO_SHOW``            FUNDED      ``no_show_working_days`` working days after planned start
``COMPLETION_TIMEOUT`` STARTED     ``completion_timeout_working_days`` after the planned end
=====================  ==========  ==========================================================

"N working days after D" is the N-th Monday-Friday non-holiday strictly after D; the provider
may still act during that whole (Belgian) day, and the deadline is due at the next local
midnight. An enrolment has at most one open deadline at a time, so the repository can store
``next_deadline(e, policy).due_at`` as an indexed field and a sweeper can load exactly the
enrolments whose deadline has passed and call ``fire_deadlines``.

The ``policy`` passed in must be the version the enrolment was requested under
(``PolicyBook.get(enrolment.policy_version)``).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from .policy import EnrolmentPolicy
from .states import EnrolmentStatus
from .working_days import add_working_days

if TYPE_CHECKING:
    from .enrolment import Enrolment


class DeadlineKind(StrEnum):
    NO_SHOW = "NO_SHOW"
    COMPLETION_TIMEOUT = "COMPLETION_TIMEOUT"


@dataclass(frozen=True)
class Deadline:
    kind: DeadlineKind
    last_day: date        # the last (local) day on which the provider can still act
    due_at: datetime      # aware UTC: the instant the deadline fires

    def describe(self) -> str:
        what = "the start" if self.kind is DeadlineKind.NO_SHOW else "the completion"
        return f"{what} had to be declared by {self.last_day.isoformat()}"


def next_deadline(enrolment: "Enrolment", policy: EnrolmentPolicy) -> Deadline | None:
    """The one open deadline of the enrolment, or None (e.g. REQUESTED or terminal)."""
    if enrolment.status is EnrolmentStatus.FUNDED:
        last = add_working_days(enrolment.planned_start, policy.no_show_working_days, policy.holidays)
        return Deadline(DeadlineKind.NO_SHOW, last, policy.end_of_day(last))
    if enrolment.status is EnrolmentStatus.STARTED and policy.completion_timeout_working_days is not None:
        last = add_working_days(enrolment.planned_end, policy.completion_timeout_working_days, policy.holidays)
        return Deadline(DeadlineKind.COMPLETION_TIMEOUT, last, policy.end_of_day(last))
    return None


def due_deadlines(enrolment: "Enrolment", now: datetime, policy: EnrolmentPolicy) -> list[Deadline]:
    """The deadlines that have passed at ``now`` and not fired yet (pure; changes nothing)."""
    deadline = next_deadline(enrolment, policy)
    return [deadline] if deadline is not None and now >= deadline.due_at else []


def fire_deadlines(enrolment: "Enrolment", now: datetime, policy: EnrolmentPolicy) -> list[Deadline]:
    """Apply every due deadline to the enrolment and return those fired (idempotent).

    NO_SHOW -> status NO_SHOW, ``EnrolmentNoShow`` + release of the hold.
    COMPLETION_TIMEOUT -> DROPPED_OUT (reason COMPLETION_NOT_DECLARED) + release of the hold.
    Events are stamped with ``now`` (when the sweeper noticed), the deadline's day is in them.
    """
    fired: list[Deadline] = []
    for deadline in due_deadlines(enrolment, now, policy):
        if deadline.kind is DeadlineKind.NO_SHOW:
            enrolment._mark_no_show(now, deadline.last_day)
        else:
            enrolment._time_out_completion(now)
        fired.append(deadline)
    return fired
