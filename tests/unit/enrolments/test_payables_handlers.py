"""Payment-term use cases on the in-memory repository: a confirmed capture makes one payable,
payments are idempotent on their reference (also racing), listings put overdue first and keep
providers apart, a suspension freezes payables and a reinstatement releases them."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta, timezone

import pytest

from llr.accounts.v1 import events_pb2 as accounts_pb
from services.common.auth import Principal, Role
from services.common.envelope import unwrap, wrap
from services.common.errors import AlreadyExists, FailedPrecondition, NotFound, PermissionDenied
from services.enrolments.domain.payables import PayableStatus
from services.enrolments.service.handlers import EnrolmentRow

from .test_handlers import PROVIDER, REGISSEUR, START, World

PAYMENTS = Principal("pay-1", "payment-system", Role.SERVICE)
PROVIDER_B = Principal("prv-b", "prv-b", Role.PROVIDER)


def accounts_event(world: World, payload, event_id: str) -> None:
    world.service.on_accounts_event(wrap(payload, aggregate_type="account", aggregate_id="acc", aggregate_version=2,
                                         producer="test", occurred_at=START, event_id=event_id))


def at(world: World, day: date, hour: int = 8) -> None:
    world.clock.set(max(world.clock.now(), datetime.combine(day, time(hour), tzinfo=timezone.utc)))


def completed(world: World, ref: str, start: str = "2026-07-17", principal: Principal = PROVIDER,
              person: str = "person-1", captured: int = 120_000, drop_out_hours: int | None = None) -> str:
    """An enrolment posted on ``start``, funded, started that day, completed (or dropped out) 14
    days later, and its capture confirmed by the accounts service; the clock ends on that day."""
    first = date.fromisoformat(start)
    at(world, first, 7)
    offer = world.offer if principal is PROVIDER else world.offer_b
    row = EnrolmentRow(person_id=person, offer_id=offer.offer_id, planned_start=start,
                       planned_end=(first + timedelta(days=14)).isoformat(), instrument="TRAINING_BUDGET",
                       provider_reference=ref)
    e = world.service.create_enrolment(principal, request_id=f"req-{ref}", row=row).enrolment
    accounts_event(world, accounts_pb.BudgetReserved(enrolment_id=e.enrolment_id, reservation_id=f"res-{ref}",
                                                     amount=120_000), f"reserved-{ref}")
    world.service.start(principal, request_id=f"s-{ref}", enrolment_id=e.enrolment_id)
    at(world, first + timedelta(days=14))
    if drop_out_hours is None:
        world.service.complete(principal, request_id=f"c-{ref}", enrolment_id=e.enrolment_id, hours_attended=40,
                               outcome="PASSED")
    else:
        world.service.drop_out(principal, request_id=f"d-{ref}", enrolment_id=e.enrolment_id,
                               hours_attended=drop_out_hours)
    accounts_event(world, accounts_pb.ReservationCaptured(enrolment_id=e.enrolment_id, reservation_id=f"res-{ref}",
                                                          amount=captured, unit="EUR_CENT"), f"captured-{ref}")
    return e.enrolment_id


@pytest.fixture
def world() -> World:
    w = World()
    w.service.accredit_provider(REGISSEUR, request_id="a-2", provider_id="prv-b", name="Provider B",
                                mandated_career_centre=False)
    w.offer_b = w.service.create_offer(PROVIDER_B, request_id="o-1", title="Welding", price_cents=120_000, hours=40,
                                       earliest_start="2026-07-01", latest_start="2026-09-30",
                                       instruments=["TRAINING_BUDGET"])
    return w


def payables(world: World, who: Principal = REGISSEUR, **kw):
    views, _ = world.service.payables.list_payables(who, page_size=0, page_token="", **kw)
    return views


def test_a_confirmed_capture_makes_one_payable_due_after_the_term(world):
    enrolment_id = completed(world, "REF-1")
    accounts_event(world, accounts_pb.ReservationCaptured(enrolment_id=enrolment_id, reservation_id="res-REF-1",
                                                          amount=120_000, unit="EUR_CENT"), "captured-REF-1")
    [view] = payables(world)
    assert (view.payable.enrolment_id, view.payable.amount_cents, view.payable.completion_date.isoformat(),
            view.payable.due_date.isoformat(), view.status) == (enrolment_id, 120_000, "2026-07-31", "2026-08-30",
                                                                PayableStatus.OPEN)
    created = [e for e in world.published() if e.event_type.endswith("PayableCreated")]
    assert len(created) == 1 and unwrap(created[0]).due_date == "2026-08-30"


def test_a_drop_out_owes_what_was_captured_and_hours_owe_nothing(world):
    completed(world, "REF-1", captured=30_000, drop_out_hours=10)
    e = world.post("REF-2", person="person-2", start="2026-08-03", end="2026-08-10").enrolment
    accounts_event(world, accounts_pb.ReservationCaptured(enrolment_id=e.enrolment_id, amount=16, unit="HOUR"), "h")
    assert [v.payable.amount_cents for v in payables(world)] == [30_000]


def test_record_payment_is_idempotent_on_its_reference(world):
    completed(world, "REF-1")
    [view] = payables(world)
    pid = view.payable.payable_id
    pay = world.service.payables.record_payment
    first = pay(PAYMENTS, reference="BANK-1", payable_id=pid, amount_cents=20_000, paid_on="")
    again = pay(PAYMENTS, reference="BANK-1", payable_id=pid, amount_cents=20_000, paid_on="")
    assert first == again and first.payable.paid_cents == 20_000
    at(world, date(2026, 8, 3))     # the payment system retries a day later, still without a date
    assert pay(PAYMENTS, reference="BANK-1", payable_id=pid, amount_cents=20_000, paid_on="").payable == first.payable
    with pytest.raises(AlreadyExists, match="BANK-1"):
        pay(PAYMENTS, reference="BANK-1", payable_id=pid, amount_cents=20_001, paid_on="")
    with pytest.raises(FailedPrecondition, match="overpayment"):
        pay(PAYMENTS, reference="BANK-2", payable_id=pid, amount_cents=100_001, paid_on="")
    # a refused payment leaves its reference free
    paid = pay(REGISSEUR, reference="BANK-2", payable_id=pid, amount_cents=100_000, paid_on="")
    assert (paid.status, paid.payable.term_days) == (PayableStatus.PAID, 3)
    with pytest.raises(PermissionDenied):
        pay(PROVIDER, reference="BANK-3", payable_id=pid, amount_cents=1, paid_on="")
    with pytest.raises(NotFound):
        pay(PAYMENTS, reference="BANK-4", payable_id="pay-nope", amount_cents=1, paid_on="")
    recorded = [e for e in world.published() if e.event_type.endswith("PaymentRecorded")]
    assert [unwrap(e).reference for e in recorded] == ["BANK-1", "BANK-2"]


def test_racing_payments_with_one_reference_pay_once(world):
    completed(world, "REF-1")
    completed(world, "REF-2", start="2026-08-03", person="person-2")
    ids = [v.payable.payable_id for v in payables(world)]

    def pay(i: int):
        try:
            return world.service.payables.record_payment(PAYMENTS, reference="BANK-1", payable_id=ids[i % 2],
                                                         amount_cents=1_000 + i % 2, paid_on="")
        except AlreadyExists:
            return None
    with ThreadPoolExecutor(8) as pool:
        answers = [a for a in pool.map(pay, range(32)) if a is not None]
    assert len({a.payable.payable_id for a in answers}) == 1
    assert sum(v.payable.paid_cents for v in payables(world)) in (1_000, 1_001)


def test_overdue_first_then_by_due_date_and_providers_apart(world):
    a1 = completed(world, "REF-1", start="2026-07-17")                              # due 30 Aug
    b1 = completed(world, "REF-B1", start="2026-08-03", principal=PROVIDER_B)       # due 16 Sept
    a2 = completed(world, "REF-2", start="2026-08-18", person="person-2")           # due 1 Oct
    a3 = completed(world, "REF-3", start="2026-09-02", person="person-3")           # due 16 Oct
    pid = {v.payable.enrolment_id: v.payable.payable_id for v in payables(world)}
    world.service.payables.record_payment(PAYMENTS, reference="BANK-1", payable_id=pid[a3], amount_cents=120_000,
                                          paid_on="2026-09-16")
    at(world, date(2026, 9, 20))
    listed = [(v.payable.enrolment_id, v.status) for v in payables(world)]
    assert listed == [(a1, PayableStatus.OVERDUE), (b1, PayableStatus.OVERDUE), (a2, PayableStatus.OPEN),
                      (a3, PayableStatus.PAID)]
    assert [v.days_overdue for v in payables(world)][:2] == [21, 4]
    assert [v.payable.enrolment_id for v in payables(world, PROVIDER)] == [a1, a2, a3]
    assert [v.payable.enrolment_id for v in payables(world, PROVIDER_B)] == [b1]
    with pytest.raises(PermissionDenied):
        payables(world, PROVIDER, provider_id="prv-b")
    assert [v.payable.enrolment_id for v in payables(world, status="OVERDUE")] == [a1, b1]
    assert [v.payable.enrolment_id for v in payables(world, status="OPEN")] == [a2]
    assert [v.payable.enrolment_id for v in payables(world, status="PAID", provider_id="prv-a")] == [a3]


def test_paging_keeps_the_order(world):
    for i in range(5):
        completed(world, f"REF-{i}", start=(date(2026, 7, 17) + timedelta(days=15 * i)).isoformat(),
                  person=f"person-{i}")
    at(world, date(2026, 10, 20))    # the first four are overdue
    first = payables(world)
    pay = world.service.payables.record_payment
    pay(PAYMENTS, reference="B", payable_id=first[2].payable.payable_id, amount_cents=120_000, paid_on="")
    expected = [v.payable.payable_id for v in payables(world)]
    seen, token = [], ""
    while True:
        page, token = world.service.payables.list_payables(REGISSEUR, page_size=2, page_token=token)
        seen += [v.payable.payable_id for v in page]
        if not token:
            break
    assert seen == expected and len(seen) == 5
    O = PayableStatus
    assert [v.status for v in payables(world)] == [O.OVERDUE, O.OVERDUE, O.OVERDUE, O.PAID, O.OPEN]


def test_suspension_freezes_and_reinstatement_releases(world):
    completed(world, "REF-1")
    [view] = payables(world)
    world.service.suspend_provider(REGISSEUR, request_id="s-1", provider_id="prv-a", reason="fraud inquiry")
    at(world, date(2026, 9, 20))
    [frozen] = payables(world)
    assert frozen.status is PayableStatus.FROZEN
    with pytest.raises(FailedPrecondition, match="frozen: provider prv-a is suspended \\(fraud inquiry\\)"):
        world.service.payables.record_payment(PAYMENTS, reference="BANK-1", payable_id=view.payable.payable_id,
                                              amount_cents=1, paid_on="")
    world.service.reinstate_provider(REGISSEUR, request_id="r-1", provider_id="prv-a")
    [released] = payables(world)
    assert released.status is PayableStatus.OVERDUE
    paid = world.service.payables.record_payment(PAYMENTS, reference="BANK-1", payable_id=view.payable.payable_id,
                                                 amount_cents=120_000, paid_on="")
    assert paid.status is PayableStatus.PAID
    kinds = [e.event_type.rsplit(".", 1)[1] for e in world.published() if e.aggregate_type == "provider"]
    assert kinds[-4:] == ["ProviderSuspended", "PayablesFrozen", "ProviderReinstated", "PayablesReleased"]


def test_term_stats_per_provider(world):
    a1 = completed(world, "REF-1")
    completed(world, "REF-2", start="2026-08-03", person="person-2")
    completed(world, "REF-B1", start="2026-08-18", principal=PROVIDER_B, person="person-3")
    pid = {v.payable.enrolment_id: v.payable.payable_id for v in payables(world)}
    at(world, date(2026, 9, 20))
    world.service.payables.record_payment(PAYMENTS, reference="B1", payable_id=pid[a1], amount_cents=120_000,
                                          paid_on="2026-08-20")
    stats, token = world.service.payables.stats(REGISSEUR, page_size=0, page_token="")
    by = {s.provider_id: s for s in stats}
    assert token == "" and set(by) == {"prv-a", "prv-b"}
    assert (by["prv-a"].paid, by["prv-a"].term_days_p50, by["prv-a"].overdue_cents, by["prv-a"].overdue) == (
        1, 20, 120_000, 1)
    assert (by["prv-b"].open_cents, by["prv-b"].overdue_cents) == (120_000, 0)    # due 1 Oct
    [own], _ = world.service.payables.stats(PROVIDER_B, page_size=0, page_token="")
    assert own.provider_id == "prv-b"
