"""Input events of the KPI projections: plain frozen dataclasses, no protobuf.

The adapter layer maps each context's protobuf envelope + payload onto one of these. Every event
carries ``event_id`` (the envelope's id, used for idempotency) and ``occurred_at`` (an aware
datetime, normalised to UTC here; it drives the projection's event-time watermark). Business dates
are ``datetime.date``; money is integer euro cents; enumerations are ``StrEnum`` so they serialise
as their plain string value.

Lifecycle events of an aggregate carry only that aggregate's id (``enrolment_id``,
``cheque_id``, ``reservation_id``, ``certificate_id``) plus their own facts, as the producing
services publish them; the projection joins them to the creating event by that id.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import StrEnum


class Sex(StrEnum):
    FEMALE = "F"
    MALE = "M"
    OTHER = "X"


class EducationLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class BirthCountryGroup(StrEnum):
    BE = "BE"
    EU = "EU"
    NON_EU = "NON_EU"


class LabourStatus(StrEnum):
    EMPLOYED = "employed"
    JOBSEEKER = "jobseeker"
    INACTIVE = "inactive"


class CertificateRole(StrEnum):
    MENTOR = "MENTOR"
    LEERCOACH = "LEERCOACH"


@dataclass(frozen=True, kw_only=True)
class Event:
    event_id: str
    occurred_at: datetime

    def __post_init__(self) -> None:
        if not self.event_id:
            raise ValueError("event_id is required")
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError(f"{type(self).__name__}.occurred_at must be timezone-aware")
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(timezone.utc))


# --- population feed -------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class PersonRegistered(Event):
    person_id: str
    birth_date: date
    sex: Sex
    nis_code: str  # residence municipality
    education_level: EducationLevel
    birth_country_group: BirthCountryGroup
    labour_status: LabourStatus
    work_disability: bool


@dataclass(frozen=True, kw_only=True)
class PersonUpdated(Event):
    """A partial update: ``None`` means "unchanged"."""

    person_id: str
    birth_date: date | None = None
    sex: Sex | None = None
    nis_code: str | None = None
    education_level: EducationLevel | None = None
    birth_country_group: BirthCountryGroup | None = None
    labour_status: LabourStatus | None = None
    work_disability: bool | None = None


@dataclass(frozen=True, kw_only=True)
class PersonDeceased(Event):
    person_id: str
    date_of_death: date


PERSON_ATTRIBUTES = (
    "birth_date",
    "sex",
    "nis_code",
    "education_level",
    "birth_country_group",
    "labour_status",
    "work_disability",
)


# --- enrolments ------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class EnrolmentRequested(Event):
    enrolment_id: str
    person_id: str
    provider_id: str
    offer_id: str
    instrument: str
    planned_start: date
    planned_end: date
    leercoach_id: str | None = None
    offer_hours: int = 0  # the offer's hours (0: not known); the fraud signals compare attendance with it


@dataclass(frozen=True, kw_only=True)
class EnrolmentFunded(Event):
    enrolment_id: str


@dataclass(frozen=True, kw_only=True)
class EnrolmentRejected(Event):
    enrolment_id: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class EnrolmentStarted(Event):
    enrolment_id: str
    start_date: date


@dataclass(frozen=True, kw_only=True)
class EnrolmentCompleted(Event):
    enrolment_id: str
    completion_date: date
    hours_attended: int
    outcome: str  # e.g. "PASSED", "FAILED", "ATTENDED"


@dataclass(frozen=True, kw_only=True)
class EnrolmentCancelled(Event):
    enrolment_id: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class EnrolmentNoShow(Event):
    enrolment_id: str


@dataclass(frozen=True, kw_only=True)
class EnrolmentDroppedOut(Event):
    enrolment_id: str
    dropout_date: date


# --- accounts --------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class CareerChequeBought(Event):
    cheque_id: str
    person_id: str
    purchase_date: date
    own_contribution_cents: int


@dataclass(frozen=True, kw_only=True)
class CareerGuidanceRecorded(Event):
    """One delivered guidance session on a cheque; ``outcome`` is set at evaluation (e.g.
    "POP_DELIVERED", "REORIENTED", "SUSTAINABLE_JOB_MATCH"), ``None`` for other sessions."""

    cheque_id: str
    person_id: str
    guidance_date: date
    hours: int
    outcome: str | None = None


@dataclass(frozen=True, kw_only=True)
class CareerOutcomesMeasured(Event):
    """Outcome measures of a cheque's trajectory at a career centre, at ``moment`` INTAKE or
    EVALUATION: a score per work-happiness dimension (``(dimension, score)`` pairs in the policy's
    order); ``reorientation`` and ``sustainable_job_match`` are facts of the EVALUATION."""

    cheque_id: str
    person_id: str
    moment: str
    measured_on: date
    scores: tuple[tuple[str, int], ...]
    reorientation: bool = False
    sustainable_job_match: bool = False


@dataclass(frozen=True, kw_only=True)
class BudgetCredited(Event):
    """Euro cents credited to an account (the yearly training budget, a training-cheque allowance)."""

    account_id: str
    amount_cents: int


@dataclass(frozen=True, kw_only=True)
class BudgetReserved(Event):
    reservation_id: str
    person_id: str
    enrolment_id: str
    amount_cents: int


@dataclass(frozen=True, kw_only=True)
class BudgetCaptured(Event):
    reservation_id: str
    amount_cents: int


@dataclass(frozen=True, kw_only=True)
class BudgetReleased(Event):
    reservation_id: str
    amount_cents: int


# --- certification ---------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class CertificateIssued(Event):
    certificate_id: str
    holder_id: str
    organisation_id: str
    role: CertificateRole
    valid_from: date
    valid_until: date


@dataclass(frozen=True, kw_only=True)
class CertificateRevoked(Event):
    certificate_id: str
    revoked_on: date


@dataclass(frozen=True, kw_only=True)
class CertificateSuspended(Event):
    """Suspended from ``suspended_from`` through ``suspended_until`` (inclusive; ``None`` = open)."""

    certificate_id: str
    suspended_from: date
    suspended_until: date | None = None


@dataclass(frozen=True, kw_only=True)
class CertificateExpired(Event):
    certificate_id: str
    expired_on: date  # the first day no longer valid


@dataclass(frozen=True, kw_only=True)
class CertificateRenewed(Event):
    """Renewed on the UTC date of ``occurred_at`` (the renewal day) through ``valid_until``. Renewed
    on or before ``previous_valid_until`` the validity continues without a break; renewed later (in
    the grace period, after the certificate expired) the days in between stay invalid."""

    certificate_id: str
    previous_valid_until: date
    valid_until: date

    @property
    def renewed_on(self) -> date:
        return self.occurred_at.date()


@dataclass(frozen=True, kw_only=True)
class CertificateReinstated(Event):
    """Ends the suspension in force: valid again from ``reinstated_on`` (inclusive)."""

    certificate_id: str
    reinstated_on: date


ALL_EVENT_TYPES: tuple[type[Event], ...] = (
    PersonRegistered,
    PersonUpdated,
    PersonDeceased,
    EnrolmentRequested,
    EnrolmentFunded,
    EnrolmentRejected,
    EnrolmentStarted,
    EnrolmentCompleted,
    EnrolmentCancelled,
    EnrolmentNoShow,
    EnrolmentDroppedOut,
    CareerChequeBought,
    CareerGuidanceRecorded,
    CareerOutcomesMeasured,
    BudgetCredited,
    BudgetReserved,
    BudgetCaptured,
    BudgetReleased,
    CertificateIssued,
    CertificateRevoked,
    CertificateSuspended,
    CertificateExpired,
    CertificateRenewed,
    CertificateReinstated,
)
