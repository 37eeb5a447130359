"""Mentoring organisations, candidates and training records.

Organisations are accredited (and may be suspended) by the *regisseur*, the Flemish authority
that steers the learning and career account. An accredited organisation registers candidates
and records their training. ``person_id`` is always a pseudonymous id, never a national number.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation

from .errors import IllegalTransition, InvalidArgument, NotOwnOrganisation, OrganisationNotAccredited
from .values import AssessmentResult, CredentialType, OrganisationStatus
from .events import CandidateRegistered, OrganisationAccredited, OrganisationSuspended, TrainingRecorded

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
    organisation_id: str
    name: str
    status: OrganisationStatus
    suspension_reason: str | None = None
    version: int = 1

    @classmethod
    def accredit(cls, organisation_id: str, name: str, *, now: datetime) -> tuple["MentoringOrganisation", OrganisationAccredited]:
        require_text("organisation_id", organisation_id)
        require_text("name", name)
        require_aware("now", now)
        org = cls(organisation_id, name, OrganisationStatus.ACCREDITED)
        return org, OrganisationAccredited(
            event_id=f"{organisation_id}:1", aggregate_id=organisation_id,
            occurred_at=now, organisation_id=organisation_id, name=name,
        )

    def suspend(self, reason: str, *, now: datetime) -> tuple["MentoringOrganisation", OrganisationSuspended]:
        require_text("reason", reason)
        if not self.is_accredited:
            raise IllegalTransition("suspend", self.status, f"organisation {self.organisation_id} is already suspended")
        org = replace(self, status=OrganisationStatus.SUSPENDED, suspension_reason=reason, version=self.version + 1)
        return org, OrganisationSuspended(
            event_id=f"{self.organisation_id}:{org.version}", aggregate_id=self.organisation_id,
            occurred_at=now, organisation_id=self.organisation_id, reason=reason,
        )

    def reinstate(self, *, now: datetime) -> tuple["MentoringOrganisation", OrganisationAccredited]:
        if self.is_accredited:
            raise IllegalTransition("reinstate", self.status, f"organisation {self.organisation_id} is not suspended")
        org = replace(self, status=OrganisationStatus.ACCREDITED, suspension_reason=None, version=self.version + 1)
        return org, OrganisationAccredited(
            event_id=f"{self.organisation_id}:{org.version}", aggregate_id=self.organisation_id,
            occurred_at=now, organisation_id=self.organisation_id, name=self.name,
        )

    @property
    def is_accredited(self) -> bool:
        return self.status is OrganisationStatus.ACCREDITED

    def ensure_accredited(self) -> None:
        if not self.is_accredited:
            raise OrganisationNotAccredited(
                f"organisation {self.organisation_id} is not accredited"
                + (f" (suspended: {self.suspension_reason})" if self.suspension_reason else "")
            )


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
        organisation.ensure_accredited()
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
        organisation.ensure_accredited()
        candidate.ensure_belongs_to(organisation.organisation_id)
        rec = cls(record_id, candidate.candidate_id, module_id, parsed_hours, completed_on, parsed_result)
        return rec, TrainingRecorded(
            event_id=f"{record_id}:recorded", aggregate_id=candidate.candidate_id, occurred_at=now,
            record_id=record_id, candidate_id=candidate.candidate_id,
            organisation_id=organisation.organisation_id, module_id=module_id,
            hours=parsed_hours, completed_on=completed_on, result=parsed_result,
        )
