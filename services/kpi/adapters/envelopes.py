"""Protobuf envelopes of the four source contexts -> KPI domain events (and back, for feeds).

``to_domain(envelope)`` returns the KPI events an envelope stands for: usually one, none for the
facts the KPIs do not use (AccountOpened, TrainingRecorded, ...), two for a capture that also
released a rest. It raises ``MappingError`` (a ``PoisonMessage``: the consumer dead-letters it)
when an event the KPIs use is malformed (a missing id, an unreadable date, an unspecified enum).

Mapping rules worth knowing:

* population ``PersonUpdated`` is a full replacement of the attributes; an UNSPECIFIED enum or an
  empty string means "not known in this update" and leaves the projection's value unchanged
  (``None`` in the domain event); ``work_disability`` (a proto3 bool) is always taken.
* accounts: only amounts in ``EUR_CENT`` are money; ``HOUR`` amounts (training leave, career-
  cheque hours) are not budget and are ignored. ``BudgetCredited`` counts for every euro wallet
  (the training budget and the training-cheque allowances, which the euro reservations draw on). ``ReservationCaptured`` -> ``BudgetCaptured(amount)`` plus, when
  ``released_rest > 0``, ``BudgetReleased(released_rest)`` with the derived event id
  ``<event_id>#rest`` (accounts releases the rest of the hold in the same step and publishes no
  separate ``ReservationReleased`` for it). ``ReservationReleased`` -> ``BudgetReleased``.
* accounts, career guidance at career centres: ``CareerTrajectoryStepRecorded`` ->
  ``CareerGuidanceRecorded`` (a session on the step's day; the POP step has the outcome
  ``POP_DELIVERED``); ``CareerOutcomesRecorded`` -> ``CareerOutcomesMeasured``.
* certification: ``CertificateRenewed`` keeps ``previous_valid_until`` and ``valid_until`` (the renewal
  day is the UTC date of ``occurred_at``, as the certification service renews "today");
  ``CertificateReinstated`` keeps ``reinstated_on``.

``to_envelope(event)`` is the inverse used by synthetic feeds and tests: it builds the envelope the
producing context would publish for a KPI domain event (same event id and ``occurred_at``).
"""
from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import Callable

from google.protobuf import message as pb_message

from llr.accounts.v1 import events_pb2 as acc
from llr.certification.v1 import events_pb2 as cert
from llr.enrolments.v1 import events_pb2 as enr
from llr.population.v1 import events_pb2 as pop
from services.common.envelope import EventEnvelope, UnknownEventType, from_timestamp, unwrap, wrap
from services.common.kafka import PoisonMessage
from services.kpi.domain import events as ev

EUR_CENT = "EUR_CENT"
POP_DELIVERED = "POP_DELIVERED"
REST_SUFFIX = "#rest"


class MappingError(PoisonMessage):
    """A source event the KPIs use cannot be mapped; ``reason`` names the field."""


# --- enum tables (protobuf value <-> domain value) ---------------------------------------------
_SEX = {pop.SEX_FEMALE: ev.Sex.FEMALE, pop.SEX_MALE: ev.Sex.MALE, pop.SEX_X: ev.Sex.OTHER}
_EDUCATION = {
    pop.EDUCATION_LEVEL_LOW: ev.EducationLevel.LOW,
    pop.EDUCATION_LEVEL_MEDIUM: ev.EducationLevel.MEDIUM,
    pop.EDUCATION_LEVEL_HIGH: ev.EducationLevel.HIGH,
}
_BIRTH = {
    pop.BIRTH_COUNTRY_GROUP_BELGIUM: ev.BirthCountryGroup.BE,
    pop.BIRTH_COUNTRY_GROUP_OTHER_EU: ev.BirthCountryGroup.EU,
    pop.BIRTH_COUNTRY_GROUP_NON_EU: ev.BirthCountryGroup.NON_EU,
}
_LABOUR = {
    pop.LABOUR_STATUS_EMPLOYED: ev.LabourStatus.EMPLOYED,
    pop.LABOUR_STATUS_JOBSEEKER: ev.LabourStatus.JOBSEEKER,
    pop.LABOUR_STATUS_INACTIVE: ev.LabourStatus.INACTIVE,
}
_ROLE = {
    cert.CREDENTIAL_TYPE_MENTOR: ev.CertificateRole.MENTOR,
    cert.CREDENTIAL_TYPE_LEERCOACH: ev.CertificateRole.LEERCOACH,
}


def _inverse(table: dict) -> dict:
    return {v: k for k, v in table.items()}


# --- field readers -------------------------------------------------------------------------------
def _required(value: str, field: str) -> str:
    if not value:
        raise MappingError(f"{field}: required")
    return value


def _date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(_required(value, field))
    except ValueError:
        raise MappingError(f"{field}: not an ISO date: {value!r}") from None


def _optional_date(value: str, field: str) -> date | None:
    return _date(value, field) if value else None


def _enum(table: dict, value: int, field: str):
    try:
        return table[value]
    except KeyError:
        raise MappingError(f"{field}: unspecified or unknown value {value}") from None


# --- payload mappers: (payload, common fields) -> list of domain events --------------------------
Common = dict  # event_id, occurred_at


def _person_registered(p: pop.PersonRegistered, c: Common) -> list[ev.Event]:
    a = p.attributes
    return [ev.PersonRegistered(
        **c, person_id=_required(p.person_id, "person_id"),
        birth_date=_date(a.birth_date, "attributes.birth_date"),
        sex=_enum(_SEX, a.sex, "attributes.sex"),
        nis_code=_required(a.municipality_nis_code, "attributes.municipality_nis_code"),
        education_level=_enum(_EDUCATION, a.education_level, "attributes.education_level"),
        birth_country_group=_enum(_BIRTH, a.birth_country_group, "attributes.birth_country_group"),
        labour_status=_enum(_LABOUR, a.labour_status, "attributes.labour_status"),
        work_disability=a.work_disability,
    )]


def _person_updated(p: pop.PersonUpdated, c: Common) -> list[ev.Event]:
    a = p.attributes
    return [ev.PersonUpdated(
        **c, person_id=_required(p.person_id, "person_id"),
        birth_date=_optional_date(a.birth_date, "attributes.birth_date"),
        sex=_SEX.get(a.sex),
        nis_code=a.municipality_nis_code or None,
        education_level=_EDUCATION.get(a.education_level),
        birth_country_group=_BIRTH.get(a.birth_country_group),
        labour_status=_LABOUR.get(a.labour_status),
        work_disability=a.work_disability,
    )]


def _person_deceased(p: pop.PersonDeceased, c: Common) -> list[ev.Event]:
    return [ev.PersonDeceased(**c, person_id=_required(p.person_id, "person_id"),
                              date_of_death=_date(p.date_of_death, "date_of_death"))]


def _enrolment_id(p) -> str:
    return _required(p.enrolment_id, "enrolment_id")


def _requested(p: enr.EnrolmentRequested, c: Common) -> list[ev.Event]:
    return [ev.EnrolmentRequested(
        **c, enrolment_id=_enrolment_id(p), person_id=_required(p.person_id, "person_id"),
        provider_id=_required(p.provider_id, "provider_id"), offer_id=p.offer_id,
        instrument=p.instrument, planned_start=_date(p.planned_start, "planned_start"),
        planned_end=_date(p.planned_end, "planned_end"), leercoach_id=p.leercoach_id or None,
        offer_hours=max(p.hours, 0),
    )]


def _money(unit: str) -> bool:
    return unit == EUR_CENT


def _credited(p: acc.BudgetCredited, c: Common) -> list[ev.Event]:
    if not _money(p.unit):
        return []
    return [ev.BudgetCredited(**c, account_id=_required(p.account_id, "account_id"), amount_cents=p.amount)]


def _reserved(p: acc.BudgetReserved, c: Common) -> list[ev.Event]:
    if not _money(p.unit):
        return []
    return [ev.BudgetReserved(
        **c, reservation_id=_required(p.reservation_id, "reservation_id"),
        person_id=_required(p.person_id, "person_id"), enrolment_id=p.enrolment_id, amount_cents=p.amount,
    )]


def _captured(p: acc.ReservationCaptured, c: Common) -> list[ev.Event]:
    if not _money(p.unit):
        return []
    reservation = _required(p.reservation_id, "reservation_id")
    out: list[ev.Event] = [ev.BudgetCaptured(**c, reservation_id=reservation, amount_cents=p.amount)]
    if p.released_rest > 0:
        rest = {**c, "event_id": c["event_id"] + REST_SUFFIX}
        out.append(ev.BudgetReleased(**rest, reservation_id=reservation, amount_cents=p.released_rest))
    return out


def _released(p: acc.ReservationReleased, c: Common) -> list[ev.Event]:
    if not _money(p.unit):
        return []
    return [ev.BudgetReleased(**c, reservation_id=_required(p.reservation_id, "reservation_id"),
                              amount_cents=p.amount)]


def _cheque_bought(p: acc.CareerChequeBought, c: Common) -> list[ev.Event]:
    return [ev.CareerChequeBought(
        **c, cheque_id=_required(p.cheque_id, "cheque_id"), person_id=_required(p.person_id, "person_id"),
        purchase_date=_date(p.purchase_date, "purchase_date"), own_contribution_cents=p.own_contribution_cents,
    )]


def _guidance(p: acc.CareerGuidanceRecorded, c: Common) -> list[ev.Event]:
    return [ev.CareerGuidanceRecorded(
        **c, cheque_id=_required(p.cheque_id, "cheque_id"), person_id=_required(p.person_id, "person_id"),
        guidance_date=_date(p.guidance_date, "guidance_date"), hours=p.hours, outcome=p.outcome or None,
    )]


MEASURED_MOMENTS = ("INTAKE", "EVALUATION")


def _trajectory_step(p: acc.CareerTrajectoryStepRecorded, c: Common) -> list[ev.Event]:
    """A step of a trajectory at a career centre is a guidance session on its day (so participation,
    uptake and hours count it as they count a session); the POP is the outcome POP_DELIVERED."""
    return [ev.CareerGuidanceRecorded(
        **c, cheque_id=_required(p.cheque_id, "cheque_id"), person_id=_required(p.person_id, "person_id"),
        guidance_date=_date(p.step_date, "step_date"), hours=p.hours,
        outcome=POP_DELIVERED if _required(p.phase, "phase") == "POP" else None,
    )]


def _outcomes(p: acc.CareerOutcomesRecorded, c: Common) -> list[ev.Event]:
    if p.moment not in MEASURED_MOMENTS:
        raise MappingError(f"moment: must be one of {', '.join(MEASURED_MOMENTS)}, got {p.moment!r}")
    if not p.scores:
        raise MappingError("scores: required")
    return [ev.CareerOutcomesMeasured(
        **c, cheque_id=_required(p.cheque_id, "cheque_id"), person_id=_required(p.person_id, "person_id"),
        moment=p.moment, measured_on=_date(p.measured_on, "measured_on"),
        scores=tuple((_required(s.dimension, "scores.dimension"), s.score) for s in p.scores),
        reorientation=p.reorientation, sustainable_job_match=p.sustainable_job_match,
    )]


def _certificate_id(p) -> str:
    return _required(p.certificate_id, "certificate_id")


def _issued(p: cert.CertificateIssued, c: Common) -> list[ev.Event]:
    return [ev.CertificateIssued(
        **c, certificate_id=_certificate_id(p), holder_id=_required(p.holder_id, "holder_id"),
        organisation_id=_required(p.organisation_id, "organisation_id"), role=_enum(_ROLE, p.role, "role"),
        valid_from=_date(p.valid_from, "valid_from"), valid_until=_date(p.valid_until, "valid_until"),
    )]


_MAPPERS: dict[str, Callable[[pb_message.Message, Common], list[ev.Event]]] = {
    "llr.population.v1.PersonRegistered": _person_registered,
    "llr.population.v1.PersonUpdated": _person_updated,
    "llr.population.v1.PersonDeceased": _person_deceased,
    "llr.enrolments.v1.EnrolmentRequested": _requested,
    "llr.enrolments.v1.EnrolmentFunded": lambda p, c: [ev.EnrolmentFunded(**c, enrolment_id=_enrolment_id(p))],
    "llr.enrolments.v1.EnrolmentRejected": lambda p, c: [
        ev.EnrolmentRejected(**c, enrolment_id=_enrolment_id(p), reason=p.reason)],
    "llr.enrolments.v1.EnrolmentStarted": lambda p, c: [
        ev.EnrolmentStarted(**c, enrolment_id=_enrolment_id(p), start_date=_date(p.start_date, "start_date"))],
    "llr.enrolments.v1.EnrolmentCompleted": lambda p, c: [ev.EnrolmentCompleted(
        **c, enrolment_id=_enrolment_id(p), completion_date=_date(p.completion_date, "completion_date"),
        hours_attended=p.hours_attended, outcome=p.outcome)],
    "llr.enrolments.v1.EnrolmentCancelled": lambda p, c: [
        ev.EnrolmentCancelled(**c, enrolment_id=_enrolment_id(p), reason=p.reason)],
    "llr.enrolments.v1.EnrolmentNoShow": lambda p, c: [ev.EnrolmentNoShow(**c, enrolment_id=_enrolment_id(p))],
    "llr.enrolments.v1.EnrolmentDroppedOut": lambda p, c: [ev.EnrolmentDroppedOut(
        **c, enrolment_id=_enrolment_id(p), dropout_date=_date(p.dropout_date, "dropout_date"))],
    "llr.accounts.v1.BudgetCredited": _credited,
    "llr.accounts.v1.BudgetReserved": _reserved,
    "llr.accounts.v1.ReservationCaptured": _captured,
    "llr.accounts.v1.ReservationReleased": _released,
    "llr.accounts.v1.CareerChequeBought": _cheque_bought,
    "llr.accounts.v1.CareerGuidanceRecorded": _guidance,
    "llr.accounts.v1.CareerTrajectoryStepRecorded": _trajectory_step,
    "llr.accounts.v1.CareerOutcomesRecorded": _outcomes,
    "llr.certification.v1.CertificateIssued": _issued,
    "llr.certification.v1.CertificateRevoked": lambda p, c: [ev.CertificateRevoked(
        **c, certificate_id=_certificate_id(p), revoked_on=_date(p.revoked_on, "revoked_on"))],
    "llr.certification.v1.CertificateSuspended": lambda p, c: [ev.CertificateSuspended(
        **c, certificate_id=_certificate_id(p), suspended_from=_date(p.suspended_from, "suspended_from"),
        suspended_until=_optional_date(p.suspended_until, "suspended_until"))],
    "llr.certification.v1.CertificateExpired": lambda p, c: [ev.CertificateExpired(
        **c, certificate_id=_certificate_id(p), expired_on=_date(p.expired_on, "expired_on"))],
    "llr.certification.v1.CertificateRenewed": lambda p, c: [ev.CertificateRenewed(
        **c, certificate_id=_certificate_id(p),
        previous_valid_until=_date(p.previous_valid_until, "previous_valid_until"),
        valid_until=_date(p.valid_until, "valid_until"))],
    "llr.certification.v1.CertificateReinstated": lambda p, c: [ev.CertificateReinstated(
        **c, certificate_id=_certificate_id(p), reinstated_on=_date(p.reinstated_on, "reinstated_on"))],
}

USED_EVENT_TYPES = frozenset(_MAPPERS)


def to_domain(envelope: EventEnvelope) -> list[ev.Event]:
    """The KPI domain events of one envelope ([] for facts the KPIs do not use)."""
    mapper = _MAPPERS.get(envelope.event_type)
    if mapper is None:
        return []
    if not envelope.HasField("occurred_at"):
        raise MappingError("occurred_at: required")
    try:
        payload = unwrap(envelope)
    except UnknownEventType as exc:
        raise MappingError(f"payload: {exc}") from None
    common = {"event_id": envelope.event_id, "occurred_at": from_timestamp(envelope.occurred_at)}
    return mapper(payload, common)


# --- inverse, for synthetic feeds and tests ------------------------------------------------------
_SEX_PB, _EDUCATION_PB, _BIRTH_PB, _LABOUR_PB, _ROLE_PB = map(_inverse, (_SEX, _EDUCATION, _BIRTH, _LABOUR, _ROLE))


def _iso(day: date | None) -> str:
    return day.isoformat() if day is not None else ""


def _attributes(e) -> pop.PersonAttributes:
    return pop.PersonAttributes(
        birth_date=_iso(e.birth_date), sex=_SEX_PB.get(e.sex, 0), municipality_nis_code=e.nis_code or "",
        education_level=_EDUCATION_PB.get(e.education_level, 0),
        birth_country_group=_BIRTH_PB.get(e.birth_country_group, 0),
        labour_status=_LABOUR_PB.get(e.labour_status, 0), work_disability=bool(e.work_disability),
    )


def _payload(e: ev.Event) -> tuple[str, str, str, pb_message.Message]:
    """(context, aggregate type, aggregate id / record key, payload) of a domain event."""
    match e:
        case ev.PersonRegistered():
            return "population", "person", e.person_id, pop.PersonRegistered(person_id=e.person_id, attributes=_attributes(e))
        case ev.PersonUpdated():
            return "population", "person", e.person_id, pop.PersonUpdated(person_id=e.person_id, attributes=_attributes(e))
        case ev.PersonDeceased():
            return "population", "person", e.person_id, pop.PersonDeceased(
                person_id=e.person_id, date_of_death=_iso(e.date_of_death))
        case ev.EnrolmentRequested():
            return "enrolments", "enrolment", e.enrolment_id, enr.EnrolmentRequested(
                enrolment_id=e.enrolment_id, person_id=e.person_id, provider_id=e.provider_id, offer_id=e.offer_id,
                instrument=e.instrument, planned_start=_iso(e.planned_start), planned_end=_iso(e.planned_end),
                leercoach_id=e.leercoach_id or "", hours=e.offer_hours)
        case ev.EnrolmentFunded():
            return "enrolments", "enrolment", e.enrolment_id, enr.EnrolmentFunded(enrolment_id=e.enrolment_id)
        case ev.EnrolmentRejected():
            return "enrolments", "enrolment", e.enrolment_id, enr.EnrolmentRejected(
                enrolment_id=e.enrolment_id, reason=e.reason)
        case ev.EnrolmentStarted():
            return "enrolments", "enrolment", e.enrolment_id, enr.EnrolmentStarted(
                enrolment_id=e.enrolment_id, start_date=_iso(e.start_date))
        case ev.EnrolmentCompleted():
            return "enrolments", "enrolment", e.enrolment_id, enr.EnrolmentCompleted(
                enrolment_id=e.enrolment_id, completion_date=_iso(e.completion_date),
                hours_attended=e.hours_attended, outcome=e.outcome)
        case ev.EnrolmentCancelled():
            return "enrolments", "enrolment", e.enrolment_id, enr.EnrolmentCancelled(
                enrolment_id=e.enrolment_id, reason=e.reason)
        case ev.EnrolmentNoShow():
            return "enrolments", "enrolment", e.enrolment_id, enr.EnrolmentNoShow(enrolment_id=e.enrolment_id)
        case ev.EnrolmentDroppedOut():
            return "enrolments", "enrolment", e.enrolment_id, enr.EnrolmentDroppedOut(
                enrolment_id=e.enrolment_id, dropout_date=_iso(e.dropout_date))
        case ev.BudgetCredited():
            return "accounts", "account", e.account_id, acc.BudgetCredited(
                account_id=e.account_id, wallet="TRAINING_BUDGET", amount=e.amount_cents, unit=EUR_CENT)
        case ev.BudgetReserved():
            return "accounts", "account", f"acc-{e.person_id}", acc.BudgetReserved(
                account_id=f"acc-{e.person_id}", person_id=e.person_id, reservation_id=e.reservation_id,
                enrolment_id=e.enrolment_id, amount=e.amount_cents, unit=EUR_CENT)
        case ev.BudgetCaptured():
            return "accounts", "account", e.reservation_id, acc.ReservationCaptured(
                reservation_id=e.reservation_id, amount=e.amount_cents, unit=EUR_CENT)
        case ev.BudgetReleased():
            return "accounts", "account", e.reservation_id, acc.ReservationReleased(
                reservation_id=e.reservation_id, amount=e.amount_cents, unit=EUR_CENT)
        case ev.CareerChequeBought():
            return "accounts", "account", f"acc-{e.person_id}", acc.CareerChequeBought(
                account_id=f"acc-{e.person_id}", person_id=e.person_id, cheque_id=e.cheque_id,
                purchase_date=_iso(e.purchase_date), own_contribution_cents=e.own_contribution_cents)
        case ev.CareerGuidanceRecorded():
            return "accounts", "account", f"acc-{e.person_id}", acc.CareerGuidanceRecorded(
                account_id=f"acc-{e.person_id}", person_id=e.person_id, cheque_id=e.cheque_id,
                guidance_date=_iso(e.guidance_date), hours=e.hours, outcome=e.outcome or "")
        case ev.CareerOutcomesMeasured():
            return "accounts", "account", f"acc-{e.person_id}", acc.CareerOutcomesRecorded(
                account_id=f"acc-{e.person_id}", person_id=e.person_id, cheque_id=e.cheque_id, moment=e.moment,
                measured_on=_iso(e.measured_on),
                scores=[acc.DimensionScore(dimension=k, score=v) for k, v in e.scores],
                reorientation=e.reorientation, sustainable_job_match=e.sustainable_job_match)
        case ev.CertificateIssued():
            return "certification", "certificate", e.certificate_id, cert.CertificateIssued(
                certificate_id=e.certificate_id, holder_id=e.holder_id, organisation_id=e.organisation_id,
                role=_ROLE_PB[e.role], valid_from=_iso(e.valid_from), valid_until=_iso(e.valid_until))
        case (ev.CertificateRevoked() | ev.CertificateSuspended() | ev.CertificateExpired() | ev.CertificateRenewed()
              | ev.CertificateReinstated()):
            # ids and dates only, each named as the payload's field of the same name
            values = {f.name: _iso(v) if isinstance(v, date) or v is None else v
                      for f in fields(e) if f.name not in ("event_id", "occurred_at") for v in [getattr(e, f.name)]}
            return "certification", "certificate", e.certificate_id, getattr(cert, type(e).__name__)(**values)
    raise TypeError(f"no envelope mapping for {type(e).__name__}")


def to_envelope(event: ev.Event) -> tuple[str, str, EventEnvelope]:
    """(context, record key, envelope) the producing context would publish for ``event``."""
    context, aggregate_type, key, payload = _payload(event)
    envelope = wrap(payload, aggregate_type=aggregate_type, aggregate_id=key, aggregate_version=0,
                    producer=context, occurred_at=event.occurred_at, event_id=event.event_id)
    return context, key, envelope
