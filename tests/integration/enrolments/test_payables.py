"""Payment terms over gRPC on the real broker and FerretDB: the tests play the accounts service
(reservation, capture) and the payment system (a SERVICE token)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import grpc

from llr.enrolments.v1 import enrolments_service_pb2 as api
from services.common.auth import Principal, Role
from services.common.errors import AlreadyExists
from services.common.mongo import make_client
from services.common.persistence import MongoStores
from services.enrolments.adapters.repository import EnrolmentRepository
from services.enrolments.domain.policy import default_policy_book
from services.enrolments.service.handlers import EnrolmentService

from .conftest import payload, rpc_error, types, wait_for

S = api.EnrolmentStatus
P = api.PayableStatus


def day(iso: str, hour: int = 8) -> datetime:
    return datetime.fromisoformat(iso).replace(hour=hour, tzinfo=timezone.utc)


def funded_and_started(client, broker, clock, provider: str, refs: list[str]) -> list[str]:
    """Enrolments of ``provider`` (one person each) posted, funded and started on 17 July 2026."""
    offer = client.offer(provider)
    ids = [client.enrol(provider, offer.offer_id, ref=ref, person_id=f"person-{provider}-{ref}").enrolment_id
           for ref in refs]
    for enrolment_id in ids:
        broker.reserved(enrolment_id, reservation_id=f"res-{enrolment_id}")
    for enrolment_id in ids:
        wait_for(lambda: client.get(provider, enrolment_id).status == S.Value("ENROLMENT_STATUS_FUNDED"), what="FUNDED")
    if clock.now() < day("2026-07-17"):
        clock.set(day("2026-07-17"))
    for enrolment_id in ids:
        client("StartEnrolment", api.StartEnrolmentRequest(request_id=f"s-{enrolment_id}", enrolment_id=enrolment_id,
                                                           start_date="2026-07-17"), client.provider(provider))
    return ids


def complete(client, provider: str, enrolment_id: str, on: str) -> None:
    client("CompleteEnrolment", api.CompleteEnrolmentRequest(
        request_id=f"c-{enrolment_id}", enrolment_id=enrolment_id, hours_attended=40, outcome=api.OUTCOME_PASSED,
        completion_date=on), client.provider(provider))


def listed(client, token, **kw) -> list:
    return list(client("ListPayables", api.ListPayablesRequest(**kw), token).payables)


def payable_of(client, enrolment_id: str):
    return wait_for(lambda: next((p for p in listed(client, client.regisseur) if p.enrolment_id == enrolment_id),
                                 None), what=f"the payable of {enrolment_id}")


def test_a_completion_makes_one_payable_and_payments_are_idempotent(client, broker, events, clock, token_for):
    client.accredit("prv-a")
    e1, e2 = funded_and_started(client, broker, clock, "prv-a", ["REF-1", "REF-2"])
    clock.set(day("2026-07-31"))
    complete(client, "prv-a", e1, "2026-07-31")
    complete(client, "prv-a", e2, "2026-07-31")
    first = broker.captured(e1)
    broker.captured(e1, event_id=first.event_id)    # a redelivery
    broker.captured(e1)                             # the same capture under another event id
    broker.captured(e2)                             # after those on the same partition: they were handled
    payable = payable_of(client, e1)
    payable_of(client, e2)
    assert (payable.amount_cents, payable.completion_date, payable.due_date, payable.payment_term_days,
            payable.status, payable.provider_id) == (120_000, "2026-07-31", "2026-08-30", 30, P.Value("PAYABLE_STATUS_OPEN"),
                                                     "prv-a")
    assert [p.enrolment_id for p in listed(client, client.regisseur)].count(e1) == 1

    payments = token_for("payment-system", Role.SERVICE)

    def pay(reference: str, amount: int, token=payments, **kw):
        return client("RecordPayment", api.RecordPaymentRequest(reference=reference, payable_id=payable.payable_id,
                                                                amount_cents=amount, **kw), token).payable
    part = pay("BANK-1", 20_000)
    assert (part.paid_cents, part.status) == (20_000, P.Value("PAYABLE_STATUS_OPEN"))
    assert pay("BANK-1", 20_000) == part                                   # the payment system's retry
    err = rpc_error(pay, "BANK-1", 25_000)
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS and "BANK-1" in err.details()
    err = rpc_error(pay, "BANK-2", 100_001)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "overpayment" in err.details()
    err = rpc_error(pay, "BANK-3", 1, client.provider("prv-a"))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    clock.set(day("2026-08-12"))
    paid = pay("BANK-2", 100_000, paid_on="2026-08-10")
    assert (paid.status, paid.paid_cents, paid.paid_on, [x.reference for x in paid.payments]) == (
        P.Value("PAYABLE_STATUS_PAID"), 120_000, "2026-08-10", ["BANK-1", "BANK-2"])

    seen = events(lambda evs: types(evs, payable.payable_id).count("PaymentRecorded") == 2)
    assert types(seen, payable.payable_id) == ["PayableCreated", "PaymentRecorded", "PaymentRecorded"]
    created = payload(next(e for e in seen if e.aggregate_id == payable.payable_id))
    assert (created.enrolment_id, created.due_date, created.amount_cents) == (e1, "2026-08-30", 120_000)
    last = payload([e for e in seen if e.aggregate_id == payable.payable_id][-1])
    assert (last.fully_paid, last.term_days, last.late) == (True, 10, False)


def test_overdue_first_providers_apart_freeze_and_figures(client, broker, events, clock, token_for):
    client.accredit("prv-a")
    client.accredit("prv-b")
    a1, a2 = funded_and_started(client, broker, clock, "prv-a", ["A-1", "A-2"])
    [b1] = funded_and_started(client, broker, clock, "prv-b", ["B-1"])
    clock.set(day("2026-07-31"))
    complete(client, "prv-a", a1, "2026-07-20")      # due 19 Aug
    complete(client, "prv-b", b1, "2026-07-25")      # due 24 Aug
    complete(client, "prv-a", a2, "2026-07-31")      # due 30 Aug
    for enrolment_id in (a1, a2, b1):
        broker.captured(enrolment_id)
    ids = {e: payable_of(client, e).payable_id for e in (a1, a2, b1)}
    payments = token_for("payment-system", Role.SERVICE)
    clock.set(day("2026-08-27"))
    client("RecordPayment", api.RecordPaymentRequest(reference="BANK-A2", payable_id=ids[a2], amount_cents=120_000),
           payments)

    everything = listed(client, client.regisseur)
    assert [(p.enrolment_id, P.Name(p.status), p.days_overdue) for p in everything] == [
        (a1, "PAYABLE_STATUS_OVERDUE", 8), (b1, "PAYABLE_STATUS_OVERDUE", 3), (a2, "PAYABLE_STATUS_PAID", 0)]
    assert [p.enrolment_id for p in listed(client, client.provider("prv-a"))] == [a1, a2]
    assert [p.enrolment_id for p in listed(client, client.provider("prv-b"))] == [b1]
    err = rpc_error(listed, client, client.provider("prv-b"), provider_id="prv-a")
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert [p.enrolment_id for p in listed(client, client.regisseur, status=P.Value("PAYABLE_STATUS_OVERDUE"))] == [a1, b1]

    stats = client("GetPaymentTermStats", api.GetPaymentTermStatsRequest(), client.regisseur).providers
    by = {s.provider_id: s for s in stats}
    assert (by["prv-a"].paid, by["prv-a"].term_days_p50, by["prv-a"].term_days_p95, by["prv-a"].overdue_cents,
            by["prv-a"].overdue) == (1, 27, 27, 120_000, 1)
    assert (by["prv-b"].overdue_cents, by["prv-b"].paid) == (120_000, 0)

    client("SuspendProvider", api.SuspendProviderRequest(request_id="susp-b", provider_id="prv-b",
                                                         reason="fraud inquiry"), client.regisseur)
    [frozen] = listed(client, client.provider("prv-b"))
    assert frozen.status == P.Value("PAYABLE_STATUS_FROZEN")
    assert [p.enrolment_id for p in listed(client, client.regisseur)] == [a1, b1, a2]   # frozen is not overdue
    err = rpc_error(client, "RecordPayment", api.RecordPaymentRequest(
        reference="BANK-B1", payable_id=ids[b1], amount_cents=120_000), payments)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "frozen" in err.details() and "prv-b is suspended (fraud inquiry)" in err.details()
    frozen_stats = client("GetPaymentTermStats", api.GetPaymentTermStatsRequest(provider_id="prv-b"),
                          client.regisseur).providers[0]
    assert (frozen_stats.frozen_cents, frozen_stats.overdue_cents) == (120_000, 0)

    client("ReinstateProvider", api.ReinstateProviderRequest(request_id="rein-b", provider_id="prv-b"),
           client.regisseur)
    [released] = listed(client, client.provider("prv-b"))
    assert released.status == P.Value("PAYABLE_STATUS_OVERDUE")
    paid = client("RecordPayment", api.RecordPaymentRequest(reference="BANK-B1", payable_id=ids[b1],
                                                            amount_cents=120_000), payments).payable
    assert paid.status == P.Value("PAYABLE_STATUS_PAID")
    seen = events(lambda evs: "PayablesReleased" in types(evs, "prv-b"))
    assert types(seen, "prv-b")[-4:] == ["ProviderSuspended", "PayablesFrozen", "ProviderReinstated",
                                          "PayablesReleased"]
    assert payload([e for e in seen if e.aggregate_id == "prv-b"][-3]).reason == "fraud inquiry"


def test_two_writers_racing_payments_with_one_reference_pay_once(client, broker, clock, settings, runtime,
                                                                 token_for):
    """A second writer on the same database, with its own connection and stores (what a second
    replica has): calls with one reference but different amounts and payables, half through the
    service's gRPC API and half through the second writer, record exactly one payment."""
    client.accredit("prv-a")
    e1, e2 = funded_and_started(client, broker, clock, "prv-a", ["R-1", "R-2"])
    clock.set(day("2026-07-31"))
    for e in (e1, e2):
        complete(client, "prv-a", e, "2026-07-31")
        broker.captured(e)
    ids = [payable_of(client, e).payable_id for e in (e1, e2)]
    mongo = make_client(settings.mongo_uri)
    other = EnrolmentService(EnrolmentRepository(MongoStores(mongo[settings.mongo_db])), clock=clock,
                             policies=default_policy_book(), events_topic=settings.events_topic)
    payments = token_for("payment-system", Role.SERVICE)

    def pay(i: int):
        payable_id, amount = ids[i % 4 // 2], 10_000 + i % 3
        try:
            if i % 2:
                return other.payables.record_payment(Principal("pay-1", "payment-system", Role.SERVICE),
                                                     reference="BANK-RACE", payable_id=payable_id,
                                                     amount_cents=amount, paid_on="").payable.payable_id
            return client("RecordPayment", api.RecordPaymentRequest(
                reference="BANK-RACE", payable_id=payable_id, amount_cents=amount), payments).payable.payable_id
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.ALREADY_EXISTS, err
        except AlreadyExists:
            pass
        return None
    try:
        with ThreadPoolExecutor(12) as pool:
            answers = [a for a in pool.map(pay, range(48)) if a is not None]
    finally:
        mongo.close()
    assert len(answers) >= 2 and len(set(answers)) == 1
    paid = [p for p in listed(client, client.regisseur) if p.paid_cents]
    assert len(paid) == 1 and [x.reference for x in paid[0].payments] == ["BANK-RACE"]
    assert paid[0].paid_cents in (10_000, 10_001, 10_002)
