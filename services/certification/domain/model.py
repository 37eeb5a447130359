"""Mentoring organisations, candidates and training records.

Organisations are accredited for a period, re-screened, suspended and reinstated by the
*regisseur*, the Flemish authority that steers the learning and career account. An accredited
organisation registers candidates and records their training. ``person_id`` is always a
pseudonymous id, never a national number.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from services.common.dates import add_months

from .errors import IllegalTransition, InvalidArgument, NotOwnOrganisation, OrganisationNotAccredited
from .values import AssessmentResult, CredentialType, OrganisationStatus
from .events import (
    CandidateRegistered, OrganisationAccreditationExpired, OrganisationAccredited, OrganisationReinstated,
    OrganisationRescreened, OrganisationSuspended, TrainingRecorded,
)

MAX_TEXT = 200
MAX_HOURS_PER_RECORD = Decimal(1000)


def require_text(field: str, value: object, max_len: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(field, "is required")
    if len(value) > max_len:
        raise InvalidArgument(field, f"must be at most {max_len} characters")
    return value


def require_aware(field: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgument(field, "must be a timezone-aware datetime")
    return value


def parse_enum(enum: type[StrEnum], field: str, value: object) -> StrEnum:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidArgument(field, f"must be one of {allowed}") from None


@dataclass(frozen=True)
class MentoringOrganisation:
    """A mentoring organisation and the regisseur's accreditation of it.

    ========================  ===========================  ===================================
    command (regisseur only)  from                         to, event
    ========================  ===========================  ===================================
    ``accredit``              (new)                        ACCREDITED, ``OrganisationAccredited``
    ``suspend``               ACCREDITED                   SUSPENDED, ``OrganisationSuspended``
    ``reinstate``             SUSPENDED                    ACCREDITED, ``OrganisationReinstated``
    ``rescreen``              ACCREDITED or SUSPENDED      the same, ``OrganisationRescreened``
    ``expire_if_due`` (job)   past ``accredited_until``    EXPIRED, ``OrganisationAccreditationExpired``
    ========================  ===========================  ===================================

    An accreditation is valid for the months the certification policy in force says
    (``organisation_accreditation_months``) from its last screening, through ``accredited_until``
    inclusive; a re-screening renews it and leaves a suspension as it is. After that day the
    organisation is EXPIRED (``status_on``, from the first day on, whenever the expiry job runs);
    the job publishes it once per period (``expire_if_due``, ``expiry_announced`` remembers the
    period it announced).
    A suspended or expired organisation keeps its data but registers no candidates, records no
    training, issues or renews no certificates and assigns no mentees (``ensure_accredited``).
    The certificates it issued stay valid: a certificate is its holder's qualification (the
    leercoach's *beroepskwalificatie*), not the organisation's licence; the regisseur suspends
    or revokes a certificate on its own where the reason touches it. Organisations accredited
    before validity periods existed have none (``accredited_until`` None) until re-screened.
    """

    organisation_id: str
    name: str
    status: OrganisationStatus
    suspension_reason: str | None = None
    version: int = 1
    screened_on: date | None = None
    accredited_until: date | None = None
    expiry_announced: date | None = None    # the accredited_until whose expiry was published

    def _event_id(self) -> str:
        return f"{self.organisation_id}:{self.version}"

    @classmethod
    def accredit(cls, organisation_id: str, name: str, *, now: datetime,
                 validity_months: int) -> tuple["MentoringOrganisation", OrganisationAccredited]:
        require_text("organisation_id", organisation_id)
        require_text("name", name)
        require_aware("now", now)
        today = now.astimezone(timezone.utc).date()
        org = cls(organisation_id, name, OrganisationStatus.ACCREDITED, screened_on=today,
                  accredited_until=add_months(today, validity_months))
        return org, OrganisationAccredited(
            event_id=org._event_id(), aggregate_id=organisation_id, occurred_at=now,
            organisation_id=organisation_id, name=name, screened_on=org.screened_on,
            accredited_until=org.accredited_until,
        )

    def suspend(self, reason: str, *, now: datetime) -> tuple["MentoringOrganisation", OrganisationSuspended]:
        require_text("reason", reason)
        if self.status is OrganisationStatus.SUSPENDED:
            raise IllegalTransition("suspend", self.status, f"organisation {self.organisation_id} is already suspended")
        org = replace(self, status=OrganisationStatus.SUSPENDED, suspension_reason=reason, version=self.version + 1)
        return org, OrganisationSuspended(
            event_id=org._event_id(), aggregate_id=self.organisation_id,
            occurred_at=now, organisation_id=self.organisation_id, reason=reason,
        )

    def reinstate(self, *, now: datetime) -> tuple["MentoringOrganisation", OrganisationReinstated]:
        if self.status is not OrganisationStatus.SUSPENDED:
            raise IllegalTransition("reinstate", self.status, f"organisation {self.organisation_id} is not suspended")
        org = replace(self, status=OrganisationStatus.ACCREDITED, suspension_reason=None, version=self.version + 1)
        return org, OrganisationReinstated(
            event_id=org._event_id(), aggregate_id=self.organisation_id,
            occurred_at=now, organisation_id=self.organisation_id,
        )

    def rescreen(self, *, now: datetime, validity_months: int) -> tuple["MentoringOrganisation", OrganisationRescreened]:
        """Screened (again) today: accredited for ``validity_months`` from today."""
        require_aware("now", now)
        today = now.astimezone(timezone.utc).date()
        org = replace(self, screened_on=today, accredited_until=add_months(today, validity_months),
                      version=self.version + 1)
        return org, OrganisationRescreened(
            event_id=org._event_id(), aggregate_id=self.organisation_id, occurred_at=now,
            organisation_id=self.organisation_id, screened_on=today, accredited_until=org.accredited_until,
            previous_accredited_until=self.accredited_until,
        )

    def expire_if_due(self, *, now: datetime) -> tuple["MentoringOrganisation", OrganisationAccreditationExpired] | None:
        """The expiry of the current period, once, when it has passed; None otherwise."""
        require_aware("now", now)
        if not self.expired_on(now.astimezone(timezone.utc).date()) or self.expiry_announced == self.accredited_until:
            return None
        org = replace(self, expiry_announced=self.accredited_until, version=self.version + 1)
        return org, OrganisationAccreditationExpired(
            event_id=org._event_id(), aggregate_id=self.organisation_id, occurred_at=now,
            organisation_id=self.organisation_id, accredited_until=self.accredited_until,
            expired_on=self.accredited_until + timedelta(days=1),
        )

    def expired_on(self, today: date) -> bool:
        return self.accredited_until is not None and today > self.accredited_until

    def status_on(self, today: date) -> OrganisationStatus:
        """SUSPENDED, EXPIRED (accredited, but past ``accredited_until``) or ACCREDITED."""
        if self.status is OrganisationStatus.ACCREDITED and self.expired_on(today):
            return OrganisationStatus.EXPIRED
        return self.status

    def ensure_accredited(self, today: date) -> None:
        """``OrganisationNotAccredited`` saying why when the organisation is suspended or its
        accreditation expired before ``today``."""
        problems = []
        if self.status is OrganisationStatus.SUSPENDED:
            problems.append("is suspended by the regisseur"
                            + (f" ({self.suspension_reason})" if self.suspension_reason else ""))
        if self.expired_on(today):
            problems.append(f"its accreditation expired after {self.accredited_until.isoformat()} "
                            "(the regisseur re-screens it to renew it)")
        if problems:
            raise OrganisationNotAccredited(
                f"organisation {self.organisation_id} is not accredited: " + "; ".join(problems)
                + ": it cannot register candidates, record training, issue or renew certificates or assign mentees")


@dataclass(frozen=True)
class Candidate:
    """A person registered by an organisation to become a mentor or a leercoach."""

    candidate_id: str
    organisation_id: str
    person_id: str          # pseudonymous
    role: CredentialType
    registered_at: datetime

    @classmethod
    def register(
        cls, organisation: MentoringOrganisation, *, candidate_id: str, person_id: str,
        role: CredentialType | str, now: datetime,
    ) -> tuple["Candidate", CandidateRegistered]:
        require_text("candidate_id", candidate_id)
        require_text("person_id", person_id)
        parsed_role = parse_enum(CredentialType, "role", role)
        require_aware("now", now)
        organisation.ensure_accredited(now.astimezone(timezone.utc).date())
        candidate = cls(candidate_id, organisation.organisation_id, person_id, parsed_role, now)
        return candidate, CandidateRegistered(
            event_id=f"{candidate_id}:registered", aggregate_id=candidate_id, occurred_at=now,
            candidate_id=candidate_id, organisation_id=organisation.organisation_id,
            person_id=person_id, role=parsed_role,
        )

    def ensure_belongs_to(self, organisation_id: str) -> None:
        if self.organisation_id != organisation_id:
            raise NotOwnOrganisation(f"candidate {self.candidate_id} belongs to another organisation")


def parse_hours(value: object) -> Decimal:
    if isinstance(value, bool):
        raise InvalidArgument("hours", "must be a number")
    try:
        hours = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidArgument("hours", "must be a number") from None
    if not hours.is_finite() or hours <= 0:
        raise InvalidArgument("hours", "must be positive")
    if hours > MAX_HOURS_PER_RECORD:
        raise InvalidArgument("hours", f"must be at most {MAX_HOURS_PER_RECORD}")
    if hours != hours.quantize(Decimal("0.01")):
        raise InvalidArgument("hours", "at most two decimals")
    return hours


@dataclass(frozen=True)
class TrainingRecord:
    """One followed training module of a candidate (``hours`` as an exact ``Decimal``)."""

    record_id: str
    candidate_id: str
    module_id: str
    hours: Decimal
    completed_on: date
    result: AssessmentResult

    @property
    def counts_as_completed(self) -> bool:
        """A failed assessment means the module is not completed; attendance without one is."""
        return self.result is not AssessmentResult.FAILED

    @classmethod
    def record(
        cls, organisation: MentoringOrganisation, candidate: Candidate, *, record_id: str,
        module_id: str, hours: object, completed_on: date, result: AssessmentResult | str,
        now: datetime,
    ) -> tuple["TrainingRecord", TrainingRecorded]:
        require_text("record_id", record_id)
        require_text("module_id", module_id)
        parsed_hours = parse_hours(hours)
        parsed_result = parse_enum(AssessmentResult, "result", result)
        if not isinstance(completed_on, date) or isinstance(completed_on, datetime):
            raise InvalidArgument("completed_on", "must be a date")
        require_aware("now", now)
        if completed_on > now.astimezone(timezone.utc).date():
            raise InvalidArgument("completed_on", "must not be in the future")
        organisation.ensure_accredited(now.astimezone(timezone.utc).date())
        candidate.ensure_belongs_to(organisation.organisation_id)
        rec = cls(record_id, candidate.candidate_id, module_id, parsed_hours, completed_on, parsed_result)
        return rec, TrainingRecorded(
            event_id=f"{record_id}:recorded", aggregate_id=candidate.candidate_id, occurred_at=now,
            record_id=record_id, candidate_id=candidate.candidate_id,
            organisation_id=organisation.organisation_id, module_id=module_id,
            hours=parsed_hours, completed_on=completed_on, result=parsed_result,
        )
