"""Every (status, command) pair: legal ones move as the table says, illegal ones are refused
with a readable reason and change nothing."""
from datetime import datetime, timedelta, timezone

import pytest

from services.enrolments.domain import (
    TERMINAL,
    TRANSITIONS,
    Action,
    EnrolmentCancelled,
    EnrolmentCompleted,
    EnrolmentDroppedOut,
    EnrolmentStarted,
    EnrolmentStatus,
    FundingCaptureRequested,
    FundingReleaseRequested,
    IllegalTransition,
    ValidationError,
    fire_deadlines,
)

from .builders import COMMAND_AT, STARTED_AT, in_status, policy

S = EnrolmentStatus
A = Action

EXPECTED_TABLE = {
    A.FUND: ({S.REQUESTED}, S.FUNDED),
    A.REJECT: ({S.REQUESTED}, S.REJECTED),
    A.START: ({S.FUNDED}, S.STARTED),
    A.COMPLETE: ({S.STARTED}, S.COMPLETED),
    A.CANCEL: ({S.REQUESTED, S.FUNDED}, S.CANCELLED),
    A.DROP_OUT: ({S.STARTED}, S.DROPPED_OUT),
    A.NO_SHOW: ({S.FUNDED}, S.NO_SHOW),
    A.COMPLETION_TIMEOUT: ({S.STARTED}, S.DROPPED_OUT),
}

COMMANDS = {
    A.START: (STARTED_AT, lambda e, p, now: e.start(now=now, policy=p)),
    A.COMPLETE: (COMMAND_AT, lambda e, p, now: e.complete(now=now, policy=p, hours_attended=38, outcome="PASSED")),
    A.CANCEL: (STARTED_AT - timedelta(days=10), lambda e, p, now: e.cancel(now=now, policy=p, reason="moved abroad")),
    A.DROP_OUT: (COMMAND_AT, lambda e, p, now: e.drop_out(now=now, policy=p, hours_attended=12)),
}
FIRST_EVENT = {A.START: EnrolmentStarted, A.COMPLETE: EnrolmentCompleted,
               A.CANCEL: EnrolmentCancelled, A.DROP_OUT: EnrolmentDroppedOut}


def test_transition_table_is_the_documented_one():
    assert {a: (set(f), t) for a, (f, t) in TRANSITIONS.items()} == EXPECTED_TABLE
    assert TERMINAL == {S.REJECTED, S.COMPLETED, S.CANCELLED, S.NO_SHOW, S.DROPPED_OUT}
    for action, (sources, _) in TRANSITIONS.items():
        assert not sources & TERMINAL, f"{action} leaves a terminal status"


CASES = [(status, action) for action in COMMANDS for status in S]


@pytest.mark.parametrize("status, action", CASES, ids=[f"{a.name}-from-{s}" for s, a in CASES])
def test_command_in_every_status(status, action):
    pol = policy()
    e = in_status(status, pol)
    e.pull_events()
    version = e.version
    now, command = COMMANDS[action]
    allowed, target = EXPECTED_TABLE[action]
    if status in allowed:
        command(e, pol, now)
        assert e.status is target
        assert e.version == version + 1
        assert isinstance(e.pending_events[0], FIRST_EVENT[action])
        assert all(ev.aggregate_version == e.version for ev in e.pending_events)
    else:
        with pytest.raises(IllegalTransition) as err:
            command(e, pol, now)
        assert err.value.status == status and err.value.action == str(action)
        assert f"cannot {action} enrolment ENR-1: it is {status}" in err.value.reason
        assert "allowed only when" in err.value.reason
        assert e.status is status and e.version == version and e.pending_events == []


def test_reasons_are_helpful():
    pol = policy()
    with pytest.raises(IllegalTransition, match="declare a drop-out instead"):
        in_status(S.STARTED, pol).cancel(now=COMMAND_AT, policy=pol, reason="x")
    with pytest.raises(IllegalTransition, match="funding has not been confirmed yet"):
        in_status(S.REQUESTED, pol).start(now=STARTED_AT, policy=pol)
    with pytest.raises(IllegalTransition, match="the start was not declared in time"):
        in_status(S.NO_SHOW, pol).start(now=STARTED_AT, policy=pol)


FAR_FUTURE = datetime(2027, 6, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("status", list(S))
def test_deadlines_in_every_status(status):
    pol = policy()
    e = in_status(status, pol)
    version = e.version
    fired = fire_deadlines(e, FAR_FUTURE, pol)
    if status is S.FUNDED:
        assert e.status is S.NO_SHOW and len(fired) == 1
    elif status is S.STARTED:
        assert e.status is S.DROPPED_OUT and len(fired) == 1
    else:
        assert fired == [] and e.status is status and e.version == version


def test_failed_validation_changes_nothing():
    pol = policy()
    e = in_status(S.STARTED, pol)
    e.pull_events()
    with pytest.raises(ValidationError) as err:
        e.complete(now=COMMAND_AT, policy=pol, hours_attended=0, outcome="BRILLIANT")
    assert err.value.fields == ("hours_attended", "outcome")
    assert e.status is S.STARTED and e.version == 3 and e.pending_events == []


def test_a_whole_happy_path_emits_capture_on_completion():
    pol = policy()
    e = in_status(S.COMPLETED, pol)
    kinds = [type(x).__name__ for x in e.pending_events]
    assert kinds == ["EnrolmentRequested", "EnrolmentFunded", "EnrolmentStarted",
                     "EnrolmentCompleted", "FundingCaptureRequested"]
    assert [x.aggregate_version for x in e.pending_events] == [1, 2, 3, 4, 4]
    assert [x.event_id for x in e.pending_events][-2:] == ["ENR-1:4:0", "ENR-1:4:1"]
    capture = e.pending_events[-1]
    assert isinstance(capture, FundingCaptureRequested)
    assert (capture.reservation_id, capture.amount_cents) == ("RES-1", 120_000)
    assert not any(isinstance(x, FundingReleaseRequested) for x in e.pending_events)
