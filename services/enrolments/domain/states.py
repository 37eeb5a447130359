"""Enrolment statuses and the transition table (see ``enrolment`` for the full story)."""
from __future__ import annotations

from enum import StrEnum


class EnrolmentStatus(StrEnum):
    REQUESTED = "REQUESTED"
    FUNDED = "FUNDED"
    REJECTED = "REJECTED"
    STARTED = "STARTED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    NO_SHOW = "NO_SHOW"
    DROPPED_OUT = "DROPPED_OUT"


S = EnrolmentStatus
TERMINAL: frozenset[EnrolmentStatus] = frozenset({S.REJECTED, S.COMPLETED, S.CANCELLED, S.NO_SHOW, S.DROPPED_OUT})


class Action(StrEnum):
    FUND = "fund"
    REJECT = "reject"
    START = "start"
    COMPLETE = "complete"
    CANCEL = "cancel"
    DROP_OUT = "drop out"
    NO_SHOW = "mark as no-show"
    COMPLETION_TIMEOUT = "time out"


TRANSITIONS: dict[Action, tuple[frozenset[EnrolmentStatus], EnrolmentStatus]] = {
    Action.FUND: (frozenset({S.REQUESTED}), S.FUNDED),
    Action.REJECT: (frozenset({S.REQUESTED}), S.REJECTED),
    Action.START: (frozenset({S.FUNDED}), S.STARTED),
    Action.COMPLETE: (frozenset({S.STARTED}), S.COMPLETED),
    Action.CANCEL: (frozenset({S.REQUESTED, S.FUNDED}), S.CANCELLED),
    Action.DROP_OUT: (frozenset({S.STARTED}), S.DROPPED_OUT),
    Action.NO_SHOW: (frozenset({S.FUNDED}), S.NO_SHOW),
    Action.COMPLETION_TIMEOUT: (frozenset({S.STARTED}), S.DROPPED_OUT),
}

#: why an action is refused in a status (part of IllegalTransition.reason)
STATUS_EXPLAINED = {
    S.REQUESTED: "funding has not been confirmed yet",
    S.FUNDED: "the start has not been declared yet",
    S.REJECTED: "its funding was rejected",
    S.STARTED: "the training has started",
    S.COMPLETED: "it is already completed",
    S.CANCELLED: "it was cancelled",
    S.NO_SHOW: "the start was not declared in time (no-show)",
    S.DROPPED_OUT: "the learner dropped out",
}
TRANSITION_HINTS = {
    (Action.CANCEL, S.STARTED): "; declare a drop-out instead",
    (Action.START, S.REQUESTED): "; wait for the funding to be confirmed",
}
