"""What the accounts service is asked to capture or release, per outcome and policy."""
from datetime import date, datetime, timedelta, timezone

import pytest

from services.enrolments.domain import (
    CaptureAt,
    EnrolmentCancelled,
    EnrolmentStatus,
    FundingCaptureRequested,
    FundingReleaseRequested,
    Outcome,
    ReleaseReason,
    ValidationError,
)

from .builders import COMMAND_AT, HOURS, PRICE, REQUESTED_AT, STARTED_AT, in_status, policy, requested, reserved

S = EnrolmentStatus
UTC = timezone.utc

# Planned start Wed 22 July 2026, 2 working days before: Mon 20 (Tue 21 is National Day), Fri 17.
START_22 = date(2026, 7, 22)
LAST_FREE_INSTANT = datetime(2026, 7, 17, 21, 59, 59, tzinfo=UTC)  # 23:59:59 Brussels
FIRST_LATE_INSTANT = datetime(2026, 7, 17, 22, 0, tzinfo=UTC)


def funded(pol, planned_start=START_22):
    e = requested(pol, planned_start=planned_start, planned_end=planned_start + timedelta(days=7))
    e.on_budget_reserved(reserved(), REQUESTED_AT)
    e.pull_events()
    return e


def saga_commands(e):
    return [(type(x).__name__, getattr(x, "amount_cents", None), getattr(x, "reason", None))
            for x in e.pending_events if isinstance(x, (FundingCaptureRequested, FundingReleaseRequested))]


def test_free_cancellation_until_the_cut_off_releases_everything():
    pol = policy()
    e = funded(pol)
    e.cancel(now=LAST_FREE_INSTANT, policy=pol, reason="learner ill")
    cancelled = e.pending_events[0]
    assert isinstance(cancelled, EnrolmentCancelled)
    assert (cancelled.late, cancelled.release_hold, cancelled.reason) == (False, True, "learner ill")
    assert saga_commands(e) == [("FundingReleaseRequested", None, ReleaseReason.CANCELLED)]


def test_cancellation_after_the_cut_off_is_allowed_but_late():
    pol = policy()  # default: a late cancellation still releases everything
    e = funded(pol)
    e.cancel(now=FIRST_LATE_INSTANT, policy=pol, reason="learner ill")
    assert e.status is S.CANCELLED and e.late_cancellation
    assert e.pending_events[0].late is True
    assert saga_commands(e) == [("FundingReleaseRequested", None, ReleaseReason.CANCELLED)]


def test_late_cancellation_captures_the_policy_share_first():
    pol = policy(late_cancellation_capture_percent=25)
    e = funded(pol)
    e.cancel(now=FIRST_LATE_INSTANT, policy=pol, reason="no reason")
    assert saga_commands(e) == [("FundingCaptureRequested", PRICE // 4, None),
                                ("FundingReleaseRequested", None, ReleaseReason.CANCELLED)]
    assert {x.aggregate_version for x in e.pending_events} == {e.version}


def test_full_capture_on_late_cancellation_needs_no_release():
    pol = policy(late_cancellation_capture_percent=100)
    e = funded(pol)
    e.cancel(now=FIRST_LATE_INSTANT, policy=pol, reason="no reason")
    assert saga_commands(e) == [("FundingCaptureRequested", PRICE, None)]


def test_cancellation_needs_a_reason():
    pol = policy()
    e = funded(pol)
    with pytest.raises(ValidationError) as err:
        e.cancel(now=LAST_FREE_INSTANT, policy=pol, reason="")
    assert err.value.field == "reason" and e.status is S.FUNDED


def test_drop_out_captures_pro_rata_and_releases_the_rest():
    pol = policy()
    e = in_status(S.STARTED, pol)
    e.pull_events()
    e.drop_out(now=COMMAND_AT, policy=pol, hours_attended=10, dropout_date=date(2026, 7, 24))
    assert e.status is S.DROPPED_OUT and e.hours_attended == 10 and e.end_date == date(2026, 7, 24)
    assert saga_commands(e) == [("FundingCaptureRequested", PRICE * 10 // HOURS, None),
                                ("FundingReleaseRequested", None, ReleaseReason.DROPPED_OUT)]


def test_drop_out_on_day_one_with_zero_hours_releases_everything():
    pol = policy()
    e = in_status(S.STARTED, pol)
    e.pull_events()
    e.drop_out(now=STARTED_AT, policy=pol, hours_attended=0)
    assert saga_commands(e) == [("FundingReleaseRequested", None, ReleaseReason.DROPPED_OUT)]


def test_capture_at_start_policy():
    pol = policy(capture_at=CaptureAt.START)
    e = in_status(S.FUNDED, pol)
    e.pull_events()
    e.start(now=STARTED_AT, policy=pol)
    assert saga_commands(e) == [("FundingCaptureRequested", PRICE, None)]
    e.pull_events()
    e.complete(now=COMMAND_AT, policy=pol, hours_attended=HOURS, outcome=Outcome.ATTENDED)
    assert saga_commands(e) == []  # already paid at start


def test_completion_records_hours_and_outcome():
    pol = policy()
    e = in_status(S.STARTED, pol)
    e.pull_events()
    e.complete(now=COMMAND_AT, policy=pol, hours_attended=36, outcome="FAILED", completion_date=date(2026, 7, 31))
    assert (e.hours_attended, e.outcome, e.end_date) == (36, Outcome.FAILED, date(2026, 7, 31))
    completed = e.pending_events[0]
    assert (completed.hours_attended, completed.outcome, completed.completion_date) == (36, Outcome.FAILED, date(2026, 7, 31))
    assert saga_commands(e) == [("FundingCaptureRequested", PRICE, None)]


@pytest.mark.parametrize(
    "kwargs, field, message",
    [
        ({"hours_attended": 0}, "hours_attended", "must be between 1 and the offer's 40 hours"),
        ({"hours_attended": 41}, "hours_attended", "must be between 1 and the offer's 40 hours"),
        ({"hours_attended": 2.5}, "hours_attended", "must be an integer"),
        ({"outcome": "GREAT"}, "outcome", "must be one of PASSED, FAILED, ATTENDED"),
        ({"completion_date": date(2026, 8, 4)}, "completion_date", "must not be in the future"),
        ({"completion_date": date(2026, 7, 16)}, "completion_date", "must not be before the start date"),
    ],
)
def test_completion_validation_names_the_field(kwargs, field, message):
    pol = policy()
    e = in_status(S.STARTED, pol)
    args = {"hours_attended": 40, "outcome": "PASSED", **kwargs}
    with pytest.raises(ValidationError) as err:
        e.complete(now=COMMAND_AT, policy=pol, **args)
    assert (err.value.field, err.value.message) == (field, message)
    assert e.status is S.STARTED


def test_drop_out_hours_bounds():
    pol = policy()
    e = in_status(S.STARTED, pol)
    with pytest.raises(ValidationError, match="hours_attended: must be between 0 and the offer's 40 hours"):
        e.drop_out(now=COMMAND_AT, policy=pol, hours_attended=-1)


@pytest.mark.parametrize(
    "start_date, message",
    [(date(2026, 7, 18), "must not be in the future"),
     (date(2026, 7, 5), "must not be before the enrolment was requested")],
)
def test_start_date_validation(start_date, message):
    pol = policy()
    e = in_status(S.FUNDED, pol)
    with pytest.raises(ValidationError) as err:
        e.start(now=STARTED_AT, policy=pol, start_date=start_date)
    assert (err.value.field, err.value.message) == ("start_date", message)
