"""Funding saga reactions: BudgetReserved / ReservationRejected, idempotent and never raising."""
import pytest

from services.enrolments.domain import (
    EnrolmentFunded,
    EnrolmentRejected,
    EnrolmentStatus,
    FundingReleaseRequested,
    ReleaseReason,
)

from .builders import REQUESTED_AT, in_status, rejected, requested, reserved

S = EnrolmentStatus


def test_budget_reserved_funds_a_requested_enrolment():
    e = requested()
    e.pull_events()
    assert e.on_budget_reserved(reserved(amount=120_000), REQUESTED_AT) is True
    assert e.status is S.FUNDED and e.reservation_id == "RES-1" and e.reserved_cents == 120_000
    [event] = e.pending_events
    assert isinstance(event, EnrolmentFunded)
    assert (event.reservation_id, event.amount_cents, event.aggregate_version) == ("RES-1", 120_000, 2)


def test_duplicate_budget_reserved_changes_nothing():
    e = requested()
    e.on_budget_reserved(reserved(), REQUESTED_AT)
    e.pull_events()
    assert e.on_budget_reserved(reserved(), REQUESTED_AT) is False
    assert e.status is S.FUNDED and e.version == 2 and e.pending_events == []


@pytest.mark.parametrize("status", [S.FUNDED, S.STARTED, S.COMPLETED, S.DROPPED_OUT, S.NO_SHOW])
def test_redelivered_reservation_is_ignored_in_any_later_status(status):
    e = in_status(status)
    e.pull_events()
    version = e.version
    assert e.on_budget_reserved(reserved(), REQUESTED_AT) is False
    assert e.status is status and e.version == version and e.pending_events == []


def test_reservation_rejected_rejects_and_is_idempotent():
    e = requested()
    e.pull_events()
    assert e.on_reservation_rejected(rejected(), REQUESTED_AT) is True
    assert e.status is S.REJECTED and e.rejection_reason == "insufficient budget"
    [event] = e.pull_events()
    assert isinstance(event, EnrolmentRejected) and event.reason == "insufficient budget"
    assert e.on_reservation_rejected(rejected(), REQUESTED_AT) is False
    assert e.version == 2 and e.pending_events == []


@pytest.mark.parametrize("status", [S.FUNDED, S.STARTED, S.CANCELLED, S.COMPLETED])
def test_late_rejection_is_ignored(status):
    e = in_status(status)
    e.pull_events()
    assert e.on_reservation_rejected(rejected(), REQUESTED_AT) is False
    assert e.status is status and e.pending_events == []


@pytest.mark.parametrize("status", [S.CANCELLED, S.REJECTED])
def test_budget_reserved_after_cancellation_or_rejection_is_released_once(status):
    e = in_status(status)  # cancelled/rejected while still REQUESTED: no hold yet
    e.pull_events()
    assert e.on_budget_reserved(reserved(), REQUESTED_AT) is True
    assert e.status is status
    [event] = e.pull_events()
    assert isinstance(event, FundingReleaseRequested)
    assert (event.reservation_id, event.reason) == ("RES-1", ReleaseReason.NOT_NEEDED)
    assert e.on_budget_reserved(reserved(), REQUESTED_AT) is False  # redelivery
    assert e.pending_events == []


def test_cancelled_in_requested_says_no_hold_to_release_yet():
    e = in_status(S.CANCELLED)
    cancelled = e.pending_events[-1]
    assert cancelled.release_hold is False
    assert not any(isinstance(x, FundingReleaseRequested) for x in e.pending_events)


def test_a_second_reservation_is_never_kept():
    e = in_status(S.FUNDED)
    e.pull_events()
    assert e.on_budget_reserved(reserved(reservation_id="RES-2"), REQUESTED_AT) is True
    assert e.status is S.FUNDED and e.reservation_id == "RES-1"
    [event] = e.pull_events()
    assert isinstance(event, FundingReleaseRequested) and event.reservation_id == "RES-2"
    assert e.on_budget_reserved(reserved(reservation_id="RES-2"), REQUESTED_AT) is False


