"""Small event builders for the KPI fold tests: sensible defaults, unique event ids."""
from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta, timezone

from services.kpi.domain import events as ev
from services.kpi.domain.definitions import FoldConfig

REF = date(2025, 3, 31)
_ids = itertools.count(1)


def next_id() -> str:
    return f"t-{next(_ids):07d}"


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), timezone.utc)


def days_before(n: int, ref: date = REF) -> date:
    return ref - timedelta(days=n)


def person(pid: str, *, on: date | None = None, **overrides) -> ev.PersonRegistered:
    fields = dict(
        birth_date=date(1985, 6, 15),
        sex=ev.Sex.FEMALE,
        nis_code="11002",
        education_level=ev.EducationLevel.MEDIUM,
        birth_country_group=ev.BirthCountryGroup.BE,
        labour_status=ev.LabourStatus.EMPLOYED,
        work_disability=False,
    )
    fields.update(overrides)
    return ev.PersonRegistered(
        event_id=next_id(), occurred_at=at(on or date(2024, 1, 1)), person_id=pid, **fields
    )


def requested(enr: str, pid: str, *, provider: str = "PRV1", start: date, end: date | None = None,
              leercoach: str | None = None, on: date | None = None) -> ev.EnrolmentRequested:
    return ev.EnrolmentRequested(
        event_id=next_id(), occurred_at=at(on or start - timedelta(days=14)), enrolment_id=enr,
        person_id=pid, provider_id=provider, offer_id="OF1", instrument="training_budget",
        planned_start=start, planned_end=end or start, leercoach_id=leercoach,
    )


def started(enr: str, day: date) -> ev.EnrolmentStarted:
    return ev.EnrolmentStarted(event_id=next_id(), occurred_at=at(day, 18), enrolment_id=enr, start_date=day)


def completed(enr: str, day: date, outcome: str = "PASSED") -> ev.EnrolmentCompleted:
    return ev.EnrolmentCompleted(
        event_id=next_id(), occurred_at=at(day, 18), enrolment_id=enr, completion_date=day,
        hours_attended=20, outcome=outcome,
    )


def dropped(enr: str, day: date) -> ev.EnrolmentDroppedOut:
    return ev.EnrolmentDroppedOut(event_id=next_id(), occurred_at=at(day, 18), enrolment_id=enr, dropout_date=day)


def cancelled(enr: str, day: date) -> ev.EnrolmentCancelled:
    return ev.EnrolmentCancelled(event_id=next_id(), occurred_at=at(day), enrolment_id=enr)


def no_show(enr: str, day: date) -> ev.EnrolmentNoShow:
    return ev.EnrolmentNoShow(event_id=next_id(), occurred_at=at(day), enrolment_id=enr)


def rejected(enr: str, day: date) -> ev.EnrolmentRejected:
    return ev.EnrolmentRejected(event_id=next_id(), occurred_at=at(day), enrolment_id=enr)


def cheque(cid: str, pid: str, day: date) -> ev.CareerChequeBought:
    return ev.CareerChequeBought(
        event_id=next_id(), occurred_at=at(day), cheque_id=cid, person_id=pid, purchase_date=day,
        own_contribution_cents=4500,
    )


def guidance(cid: str, pid: str, day: date, hours: int = 4, outcome: str | None = None) -> ev.CareerGuidanceRecorded:
    return ev.CareerGuidanceRecorded(
        event_id=next_id(), occurred_at=at(day, 15), cheque_id=cid, person_id=pid,
        guidance_date=day, hours=hours, outcome=outcome,
    )


def certificate(cid: str, holder: str, org: str, role: ev.CertificateRole, valid_from: date,
                valid_until: date) -> ev.CertificateIssued:
    return ev.CertificateIssued(
        event_id=next_id(), occurred_at=at(valid_from), certificate_id=cid, holder_id=holder,
        organisation_id=org, role=role, valid_from=valid_from, valid_until=valid_until,
    )


def marker(day: date = REF) -> ev.PersonDeceased:
    """An event that only moves the watermark to ``day`` (a death outside the population)."""
    return ev.PersonDeceased(event_id=next_id(), occurred_at=at(day, 23), person_id="nobody", date_of_death=day)


# Scenario lists in these tests are not arrival-ordered streams: fold them without a lateness bound.
UNBOUNDED = FoldConfig(max_lateness=timedelta(days=100_000))
