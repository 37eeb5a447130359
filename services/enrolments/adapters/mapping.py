"""Translation between the pure domain, stored aggregate bodies and protobuf (events and API)."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from llr.enrolments.v1 import enrolments_service_pb2 as api
from llr.enrolments.v1 import events_pb2 as pb

from services.common.envelope import wrap
from services.common.outbox import PendingEvent

from ..domain import events as ev
from ..domain.deadlines import next_deadline
from ..domain.enrolment import Enrolment
from ..domain.model import FundingInstrument, Offer, Provider, ProviderStatus
from ..domain.payables import Payable, PayableCreated, PayableEvent, PayableStatus, Payment, PaymentRecorded, TermStats
from ..domain.policy import EnrolmentPolicy
from ..domain.states import EnrolmentStatus

PRODUCER = "enrolments"
EVENT_NAMESPACE = uuid.UUID("6f3a2c1e-8d4b-5e7f-9a0c-1b2d3e4f5a6b")


def _d(value: date | None) -> str:
    return value.isoformat() if value is not None else ""


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


# --- providers and offers --------------------------------------------------------------------

def provider_fields(p: Provider) -> dict[str, Any]:
    return {"name": p.name, "status": p.status.value, "mandated_career_centre": p.mandated_career_centre,
            "suspension_reason": p.suspension_reason, "screened_on": _d(p.screened_on) or None,
            "accredited_until": _d(p.accredited_until) or None}


def provider_from(doc: dict[str, Any]) -> Provider:
    return Provider(doc["_id"], doc["name"], ProviderStatus(doc["status"]), doc.get("mandated_career_centre", False),
                    doc.get("suspension_reason") or "", _date(doc.get("screened_on")),
                    _date(doc.get("accredited_until")))


def offer_fields(o: Offer) -> dict[str, Any]:
    return {"provider_id": o.provider_id, "title": o.title, "price_cents": o.price_cents, "hours": o.hours,
            "earliest_start": o.earliest_start.isoformat(), "latest_start": o.latest_start.isoformat(),
            "instruments": sorted(i.value for i in o.instruments), "in_training_database": o.in_training_database,
            "eligible_for_training_leave": o.eligible_for_training_leave}


def offer_from(doc: dict[str, Any]) -> Offer:
    return Offer(doc["_id"], doc["provider_id"], doc["title"], doc["price_cents"], doc["hours"],
                 date.fromisoformat(doc["earliest_start"]), date.fromisoformat(doc["latest_start"]),
                 frozenset(FundingInstrument(i) for i in doc["instruments"]),
                 doc.get("in_training_database", False), doc.get("eligible_for_training_leave", False))


# --- enrolments ------------------------------------------------------------------------------

def enrolment_fields(e: Enrolment, policy: EnrolmentPolicy) -> dict[str, Any]:
    deadline = next_deadline(e, policy)
    return {
        "person_id": e.person_id, "provider_id": e.provider_id, "offer_id": e.offer_id,
        "provider_reference": e.provider_reference, "instrument": e.instrument.value,
        "planned_start": _d(e.planned_start), "planned_end": _d(e.planned_end), "price_cents": e.price_cents,
        "hours": e.hours, "policy_version": e.policy_version, "requested_at": e.requested_at,
        "leercoach_id": e.leercoach_id, "status": e.status.value, "enrolment_version": e.version,
        "reservation_id": e.reservation_id, "reserved_cents": e.reserved_cents, "captured_cents": e.captured_cents,
        "hold_released": e.hold_released, "extra_reservation_ids": list(e.extra_reservation_ids),
        "rejection_reason": e.rejection_reason, "start_date": _d(e.start_date) or None,
        "end_date": _d(e.end_date) or None, "hours_attended": e.hours_attended,
        "outcome": e.outcome.value if e.outcome else None, "cancellation_reason": e.cancellation_reason,
        "late_cancellation": e.late_cancellation,
        "due_at": deadline.due_at if deadline else None,
    }


def enrolment_from(doc: dict[str, Any]) -> Enrolment:
    return Enrolment(
        enrolment_id=doc["_id"], person_id=doc["person_id"], provider_id=doc["provider_id"],
        offer_id=doc["offer_id"], provider_reference=doc["provider_reference"],
        instrument=FundingInstrument(doc["instrument"]), planned_start=date.fromisoformat(doc["planned_start"]),
        planned_end=date.fromisoformat(doc["planned_end"]), price_cents=doc["price_cents"], hours=doc["hours"],
        policy_version=doc["policy_version"], requested_at=doc["requested_at"], leercoach_id=doc.get("leercoach_id"),
        status=EnrolmentStatus(doc["status"]), version=doc["enrolment_version"], reservation_id=doc.get("reservation_id"),
        reserved_cents=doc.get("reserved_cents", 0), captured_cents=doc.get("captured_cents", 0),
        hold_released=doc.get("hold_released", False),
        extra_reservation_ids=tuple(doc.get("extra_reservation_ids") or ()),
        rejection_reason=doc.get("rejection_reason"), start_date=_date(doc.get("start_date")),
        end_date=_date(doc.get("end_date")), hours_attended=doc.get("hours_attended"),
        outcome=ev.Outcome(doc["outcome"]) if doc.get("outcome") else None,
        cancellation_reason=doc.get("cancellation_reason"), late_cancellation=doc.get("late_cancellation", False),
    )


# --- events ----------------------------------------------------------------------------------

def payload_of(event: ev.EnrolmentEvent):
    e = event
    match e:
        case ev.EnrolmentRequested():
            return pb.EnrolmentRequested(
                enrolment_id=e.enrolment_id, person_id=e.person_id, provider_id=e.provider_id, offer_id=e.offer_id,
                provider_reference=e.provider_reference, instrument=e.instrument, planned_start=_d(e.planned_start),
                planned_end=_d(e.planned_end), price_cents=e.price_cents, hours=e.hours,
                policy_version=e.policy_version, leercoach_id=e.leercoach_id or "",
                in_training_database=e.in_training_database, eligible_for_training_leave=e.eligible_for_training_leave)
        case ev.EnrolmentFlagged():
            return pb.EnrolmentFlagged(enrolment_id=e.enrolment_id, person_id=e.person_id, provider_id=e.provider_id,
                                       flag=e.flag, overlapping_enrolment_ids=list(e.overlapping_enrolment_ids),
                                       policy_version=e.policy_version)
        case ev.EnrolmentFunded():
            return pb.EnrolmentFunded(enrolment_id=e.enrolment_id, reservation_id=e.reservation_id,
                                      amount_cents=e.amount_cents)
        case ev.EnrolmentRejected():
            return pb.EnrolmentRejected(enrolment_id=e.enrolment_id, reason=e.reason)
        case ev.EnrolmentStarted():
            return pb.EnrolmentStarted(enrolment_id=e.enrolment_id, start_date=_d(e.start_date))
        case ev.EnrolmentCompleted():
            return pb.EnrolmentCompleted(enrolment_id=e.enrolment_id, completion_date=_d(e.completion_date),
                                         hours_attended=e.hours_attended, outcome=e.outcome.value)
        case ev.EnrolmentCancelled():
            return pb.EnrolmentCancelled(enrolment_id=e.enrolment_id, reason=e.reason, late=e.late,
                                         release_hold=e.release_hold)
        case ev.EnrolmentNoShow():
            return pb.EnrolmentNoShow(enrolment_id=e.enrolment_id, planned_start=_d(e.planned_start),
                                      deadline=_d(e.deadline))
        case ev.EnrolmentDroppedOut():
            return pb.EnrolmentDroppedOut(enrolment_id=e.enrolment_id, dropout_date=_d(e.dropout_date),
                                          reason=e.reason.value, hours_attended=e.hours_attended or 0,
                                          hours_known=e.hours_attended is not None)
        case ev.FundingCaptureRequested():
            return pb.FundingCaptureRequested(enrolment_id=e.enrolment_id, reservation_id=e.reservation_id,
                                              amount_cents=e.amount_cents, person_id=e.person_id)
        case ev.FundingReleaseRequested():
            return pb.FundingReleaseRequested(enrolment_id=e.enrolment_id, reservation_id=e.reservation_id,
                                              reason=e.reason.value, person_id=e.person_id)
    raise TypeError(f"no protobuf mapping for {type(event).__name__}")


def pending(topic: str, events: list[ev.EnrolmentEvent], correlation_id: str, causation_id: str = "") -> list[PendingEvent]:
    """Envelopes keyed by enrolment id; ``event_id`` = UUIDv5 of the domain's deterministic id."""
    return [PendingEvent(topic, wrap(
        payload_of(e), aggregate_type="enrolment", aggregate_id=e.enrolment_id,
        aggregate_version=e.aggregate_version, producer=PRODUCER, occurred_at=e.occurred_at,
        correlation_id=correlation_id, causation_id=causation_id or correlation_id,
        event_id=str(uuid.uuid5(EVENT_NAMESPACE, e.event_id)))) for e in events]


def provider_pending(topic: str, events: list[ev.ProviderEvent], correlation_id: str) -> list[PendingEvent]:
    """Envelopes of provider events, keyed by provider id (aggregate ``provider``)."""
    def payload(e: ev.ProviderEvent):
        fields = {f: getattr(e, f) for f in e.__dataclass_fields__
                  if f not in ("event_id", "aggregate_version", "occurred_at")}
        fields = {k: _d(v) if isinstance(v, date) or v is None else v for k, v in fields.items()}
        return getattr(pb, type(e).__name__)(**fields)
    return [PendingEvent(topic, wrap(
        payload(e), aggregate_type="provider", aggregate_id=e.provider_id, aggregate_version=e.aggregate_version,
        producer=PRODUCER, occurred_at=e.occurred_at, correlation_id=correlation_id, causation_id=correlation_id,
        event_id=str(uuid.uuid5(EVENT_NAMESPACE, e.event_id)))) for e in events]


# --- payables --------------------------------------------------------------------------------

def payable_fields(p: Payable) -> dict[str, Any]:
    """The stored body; ``state`` (OPEN | PAID) is what the listings filter on."""
    return {"provider_id": p.provider_id, "enrolment_id": p.enrolment_id, "amount_cents": p.amount_cents,
            "completion_date": _d(p.completion_date), "due_date": _d(p.due_date),
            "payment_term_days": p.payment_term_days, "policy_version": p.policy_version,
            "payments": [{"reference": x.reference, "amount_cents": x.amount_cents, "paid_on": _d(x.paid_on)}
                         for x in p.payments],
            "state": "PAID" if p.is_paid else "OPEN"}


def payable_from(doc: dict[str, Any], version: int) -> Payable:
    return Payable(doc["_id"], doc["provider_id"], doc["enrolment_id"], doc["amount_cents"],
                   date.fromisoformat(doc["completion_date"]), date.fromisoformat(doc["due_date"]),
                   doc["payment_term_days"], doc["policy_version"],
                   tuple(Payment(x["reference"], x["amount_cents"], date.fromisoformat(x["paid_on"]))
                         for x in doc["payments"]), version)


def payable_pending(topic: str, events: list[PayableEvent], correlation_id: str, causation_id: str = ""
                    ) -> list[PendingEvent]:
    """Envelopes of payable events, keyed by payable id (aggregate ``payable``)."""
    def payload(e: PayableEvent):
        common = dict(payable_id=e.payable_id, provider_id=e.provider_id, enrolment_id=e.enrolment_id)
        match e:
            case PayableCreated():
                return pb.PayableCreated(**common, amount_cents=e.amount_cents, completion_date=_d(e.completion_date),
                                         due_date=_d(e.due_date), payment_term_days=e.payment_term_days,
                                         policy_version=e.policy_version)
            case PaymentRecorded():
                return pb.PaymentRecorded(**common, reference=e.reference, amount_cents=e.amount_cents,
                                          paid_on=_d(e.paid_on), paid_cents=e.paid_cents, fully_paid=e.fully_paid,
                                          term_days=e.term_days, late=e.late, due_date=_d(e.due_date))
        raise TypeError(f"no protobuf mapping for {type(e).__name__}")
    return [PendingEvent(topic, wrap(
        payload(e), aggregate_type="payable", aggregate_id=e.payable_id, aggregate_version=e.aggregate_version,
        producer=PRODUCER, occurred_at=e.occurred_at, correlation_id=correlation_id,
        causation_id=causation_id or correlation_id,
        event_id=str(uuid.uuid5(EVENT_NAMESPACE, e.event_id)))) for e in events]


PAYABLE_STATUS_TO_PB = {s: api.PayableStatus.Value(f"PAYABLE_STATUS_{s.value}") for s in PayableStatus}
PAYABLE_STATUS_FROM_PB = {v: k.value for k, v in PAYABLE_STATUS_TO_PB.items()}


def payable_pb(p: Payable, status: PayableStatus, days_overdue: int) -> api.Payable:
    return api.Payable(
        payable_id=p.payable_id, provider_id=p.provider_id, enrolment_id=p.enrolment_id, amount_cents=p.amount_cents,
        paid_cents=p.paid_cents, completion_date=_d(p.completion_date), due_date=_d(p.due_date),
        payment_term_days=p.payment_term_days, status=PAYABLE_STATUS_TO_PB[status],
        payments=[api.Payment(reference=x.reference, amount_cents=x.amount_cents, paid_on=_d(x.paid_on))
                  for x in p.payments],
        paid_on=_d(p.paid_on), policy_version=p.policy_version, days_overdue=days_overdue)


def term_stats_pb(s: TermStats) -> api.PaymentTermStats:
    return api.PaymentTermStats(**{f: getattr(s, f) for f in s.__dataclass_fields__})


# --- API messages ----------------------------------------------------------------------------

INSTRUMENT_TO_PB = {i: api.FundingInstrument.Value(f"FUNDING_INSTRUMENT_{i.value}") for i in FundingInstrument}
INSTRUMENT_FROM_PB = {v: k.value for k, v in INSTRUMENT_TO_PB.items()}
STATUS_TO_PB = {s: api.EnrolmentStatus.Value(f"ENROLMENT_STATUS_{s.value}") for s in EnrolmentStatus}
STATUS_FROM_PB = {v: k.value for k, v in STATUS_TO_PB.items()}
OUTCOME_TO_PB = {o: api.Outcome.Value(f"OUTCOME_{o.value}") for o in ev.Outcome}
OUTCOME_FROM_PB = {v: k.value for k, v in OUTCOME_TO_PB.items()}
PROVIDER_STATUS_TO_PB = {s: api.ProviderStatus.Value(f"PROVIDER_STATUS_{s.value}") for s in ProviderStatus}


def instrument_from_pb(value: int) -> str:
    """The instrument name, or "" for UNSPECIFIED/unknown (which validation rejects)."""
    return INSTRUMENT_FROM_PB.get(value, "")


def provider_pb(p: Provider, today: date) -> api.Provider:
    status = api.PROVIDER_STATUS_EXPIRED if p.can_post and p.expired_on(today) else PROVIDER_STATUS_TO_PB[p.status]
    return api.Provider(provider_id=p.provider_id, name=p.name, status=status,
                        mandated_career_centre=p.mandated_career_centre, suspension_reason=p.suspension_reason,
                        screened_on=_d(p.screened_on), accredited_until=_d(p.accredited_until))


def offer_pb(o: Offer) -> api.Offer:
    return api.Offer(offer_id=o.offer_id, provider_id=o.provider_id, title=o.title, price_cents=o.price_cents,
                     hours=o.hours, earliest_start=o.earliest_start.isoformat(),
                     latest_start=o.latest_start.isoformat(),
                     instruments=sorted(INSTRUMENT_TO_PB[i] for i in o.instruments),
                     in_training_database=o.in_training_database,
                     eligible_for_training_leave=o.eligible_for_training_leave)


def enrolment_pb(e: Enrolment, due_at: datetime | None = None, flags: tuple[str, ...] = ()) -> api.Enrolment:
    return api.Enrolment(
        enrolment_id=e.enrolment_id, person_id=e.person_id, provider_id=e.provider_id, offer_id=e.offer_id,
        provider_reference=e.provider_reference, instrument=INSTRUMENT_TO_PB[e.instrument],
        planned_start=_d(e.planned_start), planned_end=_d(e.planned_end), price_cents=e.price_cents, hours=e.hours,
        leercoach_id=e.leercoach_id or "", status=STATUS_TO_PB[e.status], policy_version=e.policy_version,
        reservation_id=e.reservation_id or "", reserved_cents=e.reserved_cents, captured_cents=e.captured_cents,
        rejection_reason=e.rejection_reason or "", start_date=_d(e.start_date), end_date=_d(e.end_date),
        hours_attended=e.hours_attended or 0, outcome=OUTCOME_TO_PB[e.outcome] if e.outcome else 0,
        cancellation_reason=e.cancellation_reason or "", late_cancellation=e.late_cancellation, version=e.version,
        next_deadline=due_at.isoformat() if due_at else "", flags=list(flags))
