"""The funding saga's decisions: reserve, reject (every reason), release, capture."""
from dataclasses import replace
from datetime import date

import pytest

from services.accounts.domain import (
    CapturePoint,
    EducationLevel,
    LabourStatus,
    PolicyKind,
    PolicyNotInForce,
    Rejected,
    RejectionReason,
    ReleaseReason,
    Reserved,
    WalletKind,
    WalletRef,
    capture_reservation,
    credit_yearly_budget,
    decide_reservation,
    record_development_plan,
    policy_for_request,
    policy_in_force,
    release_reservation,
    reserve_for_enrolment,
)
from services.accounts.domain.events import (
    BudgetCredited,
    BudgetReserved,
    ReservationCaptured,
    ReservationRejected,
    ReservationReleased,
)
from services.accounts.domain.funding import rejection_event
from tests.unit.accounts.builders import CATALOG, account, at, profile, request

BUDGET = WalletRef(WalletKind.TRAINING_BUDGET)
BUDGET_POLICY = policy_in_force(PolicyKind.TRAINING_BUDGET, date(2025, 1, 1))


def budget_account(person_id="p-1"):
    acc = account(person_id)
    credit_yearly_budget(acc, policy=BUDGET_POLICY, year=2025, now=at(date(2025, 1, 1)))  # EUR 500
    acc.take_events()
    return acc


def reserve(acc, req, person=None):
    return reserve_for_enrolment(acc, req, policy_for_request(CATALOG, req), person or profile(acc.person_id),
                                 at(req.decision_date))


def test_training_budget_reservation_then_capture_at_start():
    acc = budget_account()
    decision = reserve(acc, request(price_cents=20000))
    assert isinstance(decision, Reserved)
    assert (decision.amount, decision.wallet, decision.capture_point) == (20000, BUDGET, CapturePoint.START)
    assert decision.policy_version_id == "training-budget-2025"
    [event] = acc.take_events()
    assert isinstance(event, BudgetReserved) and event.reservation_id == decision.reservation_id
    assert (event.enrolment_id, event.amount, event.instrument) == ("e-1", 20000, "TRAINING_BUDGET")
    assert acc.available(BUDGET) == 30000

    # completion is not this policy's capture point; start is
    assert capture_reservation(acc, enrolment_id="e-1", idempotency_key="done", milestone=CapturePoint.COMPLETION,
                               now=at(date(2025, 10, 1))) is None
    captured = capture_reservation(acc, enrolment_id="e-1", idempotency_key="start", milestone=CapturePoint.START,
                                   now=at(date(2025, 10, 1)))
    assert isinstance(captured, ReservationCaptured) and captured.amount == 20000
    assert (acc.balance(BUDGET), acc.available(BUDGET)) == (30000, 30000)
    # redelivery of the start event changes nothing
    assert capture_reservation(acc, enrolment_id="e-1", idempotency_key="start", milestone=CapturePoint.START,
                               now=at(date(2025, 10, 2))) is None
    acc.check_invariants()


@pytest.mark.parametrize("reason", list(ReleaseReason)[:4])
def test_release_on_cancellation_no_show_drop_out_or_timeout(reason):
    acc = budget_account()
    reserve(acc, request(price_cents=20000))
    acc.take_events()
    event = release_reservation(acc, enrolment_id="e-1", idempotency_key="cancel", reason=reason,
                                now=at(date(2025, 9, 20)))
    assert isinstance(event, ReservationReleased) and (event.amount, event.reason) == (20000, reason.value)
    assert acc.available(BUDGET) == 50000
    assert release_reservation(acc, enrolment_id="e-1", idempotency_key="cancel", reason=reason,
                               now=at(date(2025, 9, 21))) is None
    assert release_reservation(acc, enrolment_id="e-1", idempotency_key="cancel-2", reason=reason,
                               now=at(date(2025, 9, 21))) is None


def test_insufficient_funds():
    acc = budget_account()
    decision = reserve(acc, request(price_cents=50001))
    assert isinstance(decision, Rejected) and decision.reason is RejectionReason.INSUFFICIENT_FUNDS
    [event] = acc.take_events()
    assert isinstance(event, ReservationRejected) and event.reason == "INSUFFICIENT_FUNDS"
    assert acc.held(BUDGET) == 0


def test_unknown_person():
    req = request(person_id="ghost")
    decision = decide_reservation(None, req, policy_for_request(CATALOG, req))
    assert decision.reason is RejectionReason.UNKNOWN_PERSON
    event = rejection_event(req, decision, at(date(2025, 9, 15)))
    assert (event.account_id, event.person_id, event.reason) == ("", "ghost", "UNKNOWN_PERSON")
    other = budget_account("p-2")
    assert decide_reservation(other, req, policy_for_request(CATALOG, req)).reason is RejectionReason.UNKNOWN_PERSON


def test_instrument_not_accepted():
    acc = budget_account()
    d1 = reserve(acc, request("e-1", instrument="TRAINING_CHEQUE", accepted=("TRAINING_BUDGET",)))
    d2 = reserve(acc, request("e-2", instrument="CAREER_CHEQUE"))
    assert d1.reason is d2.reason is RejectionReason.INSTRUMENT_NOT_ACCEPTED


def test_not_eligible_when_the_provider_is_not_accredited_or_no_policy_is_in_force():
    acc = budget_account()
    assert reserve(acc, request("e-1", provider_accredited=False)).reason is RejectionReason.NOT_ELIGIBLE
    old = request("e-2", requested_on=date(2024, 6, 1))  # no training-budget policy before 2025
    rejected = reserve(acc, old)
    assert rejected.reason is RejectionReason.NOT_ELIGIBLE and "no TRAINING_BUDGET policy" in rejected.detail
    with pytest.raises(PolicyNotInForce):
        decide_reservation(acc, replace(old, event_id="evt-other"), BUDGET_POLICY)  # not in force then


def test_no_double_financing():
    acc = budget_account()
    first = reserve(acc, request("e-1", price_cents=10000))
    second = reserve(acc, request("e-1", event_id="evt-again", instrument="TRAINING_CHEQUE", price_cents=10000))
    assert isinstance(first, Reserved)
    assert isinstance(second, Rejected) and second.reason is RejectionReason.DOUBLE_FINANCING
    assert first.reservation_id in second.detail
    assert len(acc.holds_for_enrolment("e-1")) == 1
    # after a capture it is still funded
    capture_reservation(acc, enrolment_id="e-1", idempotency_key="s", milestone=CapturePoint.START,
                        now=at(date(2025, 10, 1)))
    assert reserve(acc, request("e-1", event_id="evt-3")).reason is RejectionReason.DOUBLE_FINANCING
    # after a release a new request may fund the enrolment again
    reserve(acc, request("e-9"))
    release_reservation(acc, enrolment_id="e-9", idempotency_key="x", reason=ReleaseReason.TIMEOUT,
                        now=at(date(2025, 10, 1)))
    assert isinstance(reserve(acc, request("e-9", event_id="evt-9b")), Reserved)


def test_a_redelivered_request_gets_the_first_answer_and_nothing_new_happens():
    acc = budget_account()
    req = request(price_cents=20000)
    first = reserve(acc, req)
    acc.take_events()
    entries = acc.entries
    assert reserve(acc, req) == first and acc.entries == entries and acc.take_events() == []
    # also for a rejection, even if funds arrived meanwhile
    big = request("e-2", price_cents=90000)
    rejected = reserve(acc, big)
    credit_yearly_budget(acc, policy=BUDGET_POLICY, year=2026, now=at(date(2026, 1, 1)))
    assert reserve(acc, big) == rejected


def test_an_account_that_can_fund_ten_funds_exactly_ten_of_200_requests():
    acc = budget_account()  # EUR 500
    decisions = [reserve(acc, request(f"e-{i}", price_cents=5000)) for i in range(200)]
    assert sum(isinstance(d, Reserved) for d in decisions) == 10
    assert {d.reason for d in decisions if isinstance(d, Rejected)} == {RejectionReason.INSUFFICIENT_FUNDS}
    assert acc.available(BUDGET) == 0
    acc.check_invariants()


class TestTrainingCheques:
    def test_half_the_price_up_to_250_euro_per_school_year(self):
        acc = account()
        d1 = reserve(acc, request("e-1", instrument="TRAINING_CHEQUE", price_cents=30000))
        assert isinstance(d1, Reserved) and d1.amount == 15000 and d1.allowance_credit == 25000
        assert d1.wallet == WalletRef(WalletKind.TRAINING_CHEQUE, "2025-2026")
        assert [type(e) for e in acc.take_events()] == [BudgetCredited, BudgetReserved]
        d2 = reserve(acc, request("e-2", instrument="TRAINING_CHEQUE", price_cents=30000))
        assert d2.amount == 10000 and d2.allowance_credit == 0  # capped: only EUR 100 left this year
        d3 = reserve(acc, request("e-3", instrument="TRAINING_CHEQUE", price_cents=30000))
        assert d3.reason is RejectionReason.INSUFFICIENT_FUNDS
        # the next school year has a fresh allowance
        d4 = reserve(acc, request("e-4", instrument="TRAINING_CHEQUE", price_cents=30000,
                                  planned_start=date(2026, 9, 1), requested_on=date(2026, 8, 1)))
        assert d4.amount == 15000 and d4.wallet.period == "2026-2027"
        acc.check_invariants()

    def test_eligibility_by_education_level_labour_status_and_training_database(self):
        acc = account()
        high = profile(education_level=EducationLevel.HIGH)
        req = request(instrument="TRAINING_CHEQUE")
        assert reserve(acc, req, high).reason is RejectionReason.NOT_ELIGIBLE
        record_development_plan(acc, offer_ids=[req.offer_id], recorded_on=date(2025, 3, 1),
                                idempotency_key="pop-1", now=at(date(2025, 3, 1)))
        assert isinstance(reserve(acc, replace(req, event_id="evt-pop"), high), Reserved)
        jobseeker = profile(labour_status=LabourStatus.JOBSEEKER)
        rejected = reserve(acc, request("e-2", instrument="TRAINING_CHEQUE"), jobseeker)
        assert rejected.reason is RejectionReason.NOT_ELIGIBLE
        outside = request("e-3", instrument="TRAINING_CHEQUE", in_training_database=False)
        assert "training database" in reserve(acc, outside).detail
        req = request("e-4", instrument="TRAINING_CHEQUE")
        unknown_attributes = decide_reservation(acc, req, policy_for_request(CATALOG, req), None)
        assert unknown_attributes.reason is RejectionReason.NOT_ELIGIBLE


class TestTrainingLeave:
    def test_125_hours_per_school_year_captured_as_attended_at_completion(self):
        acc = account()
        d1 = reserve(acc, request("e-1", instrument="TRAINING_LEAVE", hours=100))
        assert isinstance(d1, Reserved) and d1.amount == 100 and d1.capture_point is CapturePoint.COMPLETION
        d2 = reserve(acc, request("e-2", instrument="TRAINING_LEAVE", hours=30))
        assert d2.reason is RejectionReason.INSUFFICIENT_FUNDS and "25 h" in d2.detail
        assert capture_reservation(acc, enrolment_id="e-1", idempotency_key="s", milestone=CapturePoint.START,
                                   now=at(date(2025, 10, 1))) is None
        captured = capture_reservation(acc, enrolment_id="e-1", idempotency_key="c", milestone=CapturePoint.COMPLETION,
                                       now=at(date(2026, 2, 1)), amount=80)
        assert (captured.amount, captured.released_rest) == (80, 20)
        wallet = WalletRef(WalletKind.TRAINING_LEAVE, "2025-2026")
        assert acc.available(wallet) == 45
        assert isinstance(reserve(acc, request("e-3", instrument="TRAINING_LEAVE", hours=45)), Reserved)
        acc.check_invariants()

    def test_nothing_attended_releases_the_hours(self):
        acc = account()
        reserve(acc, request("e-1", instrument="TRAINING_LEAVE", hours=40))
        event = capture_reservation(acc, enrolment_id="e-1", idempotency_key="c", milestone=CapturePoint.COMPLETION,
                                    now=at(date(2026, 2, 1)), amount=0)
        assert isinstance(event, ReservationReleased) and event.reason == "NOTHING_ATTENDED"

    def test_only_for_offers_that_qualify_and_for_employees(self):
        acc = account()
        assert reserve(acc, request("e-1", instrument="TRAINING_LEAVE", eligible_for_training_leave=False)).reason \
            is RejectionReason.NOT_ELIGIBLE
        inactive = profile(labour_status=LabourStatus.INACTIVE)
        rejected = reserve(acc, request("e-2", instrument="TRAINING_LEAVE"), inactive)
        assert rejected.reason is RejectionReason.NOT_ELIGIBLE


def test_a_closed_account_funds_nothing():
    from services.accounts.domain import close_account

    acc = budget_account()
    close_account(acc, on_date=date(2025, 9, 1), reason="deceased", idempotency_key="d", now=at(date(2025, 9, 2)))
    assert reserve(acc, request()).reason is RejectionReason.NOT_ELIGIBLE
