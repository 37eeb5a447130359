"""Deadlines fire by themselves on a fake clock, across a weekend and a Belgian holiday.

Planned start Fri 17 July 2026; Sat/Sun 18-19; Mon 20 (1); Tue 21 National Day; Wed 22 (2);
Thu 23 (3) -> the start may be declared until the end of Thu 23 July (Brussels), i.e. until
22:00 UTC.
"""
from datetime import date, datetime, timedelta, timezone

import pytest

from services.common.clock import FakeClock
from services.enrolments.domain import (
    DeadlineKind,
    DropoutReason,
    EnrolmentDroppedOut,
    EnrolmentNoShow,
    EnrolmentStatus,
    FundingReleaseRequested,
    IllegalTransition,
    Outcome,
    ReleaseReason,
    due_deadlines,
    fire_deadlines,
    next_deadline,
)

from .builders import NO_SHOW_DUE, REQUESTED_AT, STARTED_AT, in_status, policy

S = EnrolmentStatus
UTC = timezone.utc


def test_no_show_deadline_skips_weekend_and_national_day():
    deadline = next_deadline(in_status(S.FUNDED), policy())
    assert deadline.kind is DeadlineKind.NO_SHOW
    assert deadline.last_day == date(2026, 7, 23)
    assert deadline.due_at == NO_SHOW_DUE


def test_without_the_holiday_the_deadline_is_a_day_earlier():
    pol = policy(holidays=frozenset())
    assert next_deadline(in_status(S.FUNDED, pol), pol).last_day == date(2026, 7, 22)


def test_no_show_fires_by_itself_on_the_clock():
    pol = policy()
    clock = FakeClock(REQUESTED_AT)
    e = in_status(S.FUNDED, pol)
    e.pull_events()
    clock.set(datetime(2026, 7, 21, 12, 0, tzinfo=UTC))  # National Day, still in time
    assert fire_deadlines(e, clock.now(), pol) == []
    clock.set(NO_SHOW_DUE - timedelta(seconds=1))          # last second of Thu 23 in Brussels
    assert due_deadlines(e, clock.now(), pol) == []
    assert fire_deadlines(e, clock.now(), pol) == [] and e.status is S.FUNDED
    clock.advance(timedelta(seconds=1))
    assert [d.kind for d in due_deadlines(e, clock.now(), pol)] == [DeadlineKind.NO_SHOW]
    assert e.status is S.FUNDED  # due_deadlines is pure
    [fired] = fire_deadlines(e, clock.now(), pol)
    assert fired.kind is DeadlineKind.NO_SHOW and e.status is S.NO_SHOW
    no_show, release = e.pull_events()
    assert isinstance(no_show, EnrolmentNoShow)
    assert (no_show.planned_start, no_show.deadline, no_show.occurred_at) == (date(2026, 7, 17), date(2026, 7, 23), NO_SHOW_DUE)
    assert isinstance(release, FundingReleaseRequested)
    assert (release.reservation_id, release.reason) == ("RES-1", ReleaseReason.NO_SHOW)
    # firing again (sweeper retry) changes nothing
    assert fire_deadlines(e, clock.now() + timedelta(days=3), pol) == [] and e.pending_events == []
    assert next_deadline(e, pol) is None


def test_start_declared_in_time_cancels_the_no_show_deadline():
    pol = policy()
    e = in_status(S.FUNDED, pol)
    e.start(now=NO_SHOW_DUE - timedelta(minutes=5), policy=pol, start_date=date(2026, 7, 17))
    assert e.status is S.STARTED
    assert fire_deadlines(e, NO_SHOW_DUE + timedelta(hours=1), pol) == []
    assert next_deadline(e, pol).kind is DeadlineKind.COMPLETION_TIMEOUT


def test_an_overdue_deadline_refuses_commands_even_before_the_sweeper_ran():
    pol = policy()
    e = in_status(S.FUNDED, pol)
    e.pull_events()
    with pytest.raises(IllegalTransition, match="the start had to be declared by 2026-07-23"):
        e.start(now=NO_SHOW_DUE, policy=pol)
    with pytest.raises(IllegalTransition, match="NO_SHOW"):
        e.cancel(now=NO_SHOW_DUE + timedelta(days=1), policy=pol, reason="too late")
    assert e.status is S.FUNDED and e.pending_events == []


def test_a_saturday_planned_start_counts_from_monday():
    pol = policy(holidays=frozenset())
    e = in_status(S.FUNDED, pol)
    e.planned_start = date(2026, 7, 18)
    assert next_deadline(e, pol).last_day == date(2026, 7, 22)  # Mon 20, Tue 21, Wed 22


def test_winter_time_due_instant():
    pol = policy()
    e = in_status(S.FUNDED, pol)
    e.planned_start = date(2026, 12, 22)  # Tue; Wed 23, Thu 24, (Fri 25 Christmas), Mon 28
    deadline = next_deadline(e, pol)
    assert deadline.last_day == date(2026, 12, 28)
    assert deadline.due_at == datetime(2026, 12, 28, 23, 0, tzinfo=UTC)  # UTC+1 in winter


def test_completion_timeout_drops_out_and_releases_the_whole_hold():
    pol = policy()  # 20 working days after planned end Fri 31 July 2026
    e = in_status(S.STARTED, pol)
    e.pull_events()
    deadline = next_deadline(e, pol)
    assert deadline.kind is DeadlineKind.COMPLETION_TIMEOUT
    assert deadline.last_day == date(2026, 8, 28)  # 4 weeks; 15 August falls on a Saturday
    assert fire_deadlines(e, deadline.due_at - timedelta(seconds=1), pol) == []
    e_fired = fire_deadlines(e, deadline.due_at, pol)
    assert [d.kind for d in e_fired] == [DeadlineKind.COMPLETION_TIMEOUT]
    assert e.status is S.DROPPED_OUT
    dropped, release = e.pull_events()
    assert isinstance(dropped, EnrolmentDroppedOut)
    assert (dropped.reason, dropped.dropout_date, dropped.hours_attended) == (
        DropoutReason.COMPLETION_NOT_DECLARED, date(2026, 7, 31), None)
    assert release.reason is ReleaseReason.COMPLETION_TIMEOUT


def test_completion_after_the_timeout_is_refused():
    pol = policy()
    e = in_status(S.STARTED, pol)
    due = next_deadline(e, pol).due_at
    with pytest.raises(IllegalTransition, match="completion had to be declared by 2026-08-28"):
        e.complete(now=due, policy=pol, hours_attended=40, outcome=Outcome.PASSED)


def test_completion_timeout_can_be_disabled_by_policy():
    pol = policy(completion_timeout_working_days=None)
    e = in_status(S.STARTED, pol)
    assert next_deadline(e, pol) is None
    assert fire_deadlines(e, datetime(2030, 1, 1, tzinfo=UTC), pol) == []


def test_requested_enrolments_have_no_deadline():
    assert next_deadline(in_status(S.REQUESTED), policy()) is None


def test_started_enrolment_uses_its_own_policy_version():
    pol = policy()
    e = in_status(S.STARTED, pol)
    with pytest.raises(ValueError, match="uses policy 2025.1"):
        e.complete(now=STARTED_AT, policy=policy(version="other"), hours_attended=1, outcome="PASSED")
