"""Domain events of the certification context: plain frozen dataclasses, no protobuf.

The adapter layer maps them to the envelope on ``llr.certification.v1.events``, keyed by
``aggregate_id``. Every event carries:

* ``event_id``     -- deterministic (``"{aggregate_id}:{aggregate_version}"`` or
                      ``"{record_id}:recorded"``), so a retried command produces the same ids
                      and consumers' inbox deduplication still works;
* ``aggregate_id`` -- the Kafka key (certificate, candidate, organisation or assignment id);
* ``occurred_at``  -- aware UTC, the ``now`` passed to the command.

``CertificateIssued``, ``CertificateSuspended``, ``CertificateRevoked`` and ``CertificateExpired``
carry the fields the KPI projections consume (``services/kpi/domain/events.py``):
``holder_id`` is the pseudonymous person id, ``role`` the credential type. Field names match
``protos/llr/certification/v1/events.proto``.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from .values import AssessmentResult, CredentialType


@dataclass(frozen=True, kw_only=True)
class CertificationEvent:
    event_id: str
    aggregate_id: str
    occurred_at: datetime

    def __post_init__(self) -> None:
        if not self.event_id:
            raise ValueError("event_id is required")
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise ValueError(f"{type(self).__name__}.occurred_at must be timezone-aware")


# --- organisations and candidates -------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class OrganisationAccredited(CertificationEvent):
    organisation_id: str
    name: str
    screened_on: date
    accredited_until: date         # inclusive


@dataclass(frozen=True, kw_only=True)
class OrganisationSuspended(CertificationEvent):
    organisation_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class OrganisationReinstated(CertificationEvent):
    organisation_id: str


@dataclass(frozen=True, kw_only=True)
class OrganisationRescreened(CertificationEvent):
    organisation_id: str
    screened_on: date
    accredited_until: date         # inclusive
    previous_accredited_until: date | None   # None: accredited before validity periods


@dataclass(frozen=True, kw_only=True)
class OrganisationAccreditationExpired(CertificationEvent):
    organisation_id: str
    accredited_until: date         # the last day it was accredited
    expired_on: date               # the first day it is not


@dataclass(frozen=True, kw_only=True)
class CandidateRegistered(CertificationEvent):
    candidate_id: str
    organisation_id: str
    person_id: str
    role: CredentialType


@dataclass(frozen=True, kw_only=True)
class TrainingRecorded(CertificationEvent):
    record_id: str
    candidate_id: str
    organisation_id: str
    module_id: str
    hours: Decimal
    completed_on: date
    result: AssessmentResult


# --- certificates -----------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class CertificateEvent(CertificationEvent):
    certificate_id: str
    aggregate_version: int


@dataclass(frozen=True, kw_only=True)
class CertificateIssued(CertificateEvent):
    holder_id: str                 # pseudonymous person id
    candidate_id: str
    organisation_id: str
    role: CredentialType
    valid_from: date
    valid_until: date              # inclusive
    policy_version: str
    credential_id: str             # id of the verifiable credential issued with it
    qualification_number: int      # the Nth qualification of this role


@dataclass(frozen=True, kw_only=True)
class CertificateRenewed(CertificateEvent):
    previous_valid_until: date
    valid_until: date
    policy_version: str
    credential_id: str
    continuing_education_hours: Decimal
    organisation_id: str
    role: CredentialType


@dataclass(frozen=True, kw_only=True)
class CertificateSuspended(CertificateEvent):
    """Suspended from ``suspended_from`` until reinstated (``suspended_until`` None = open)."""

    suspended_from: date
    reason: str
    suspended_until: date | None = None


@dataclass(frozen=True, kw_only=True)
class CertificateReinstated(CertificateEvent):
    reinstated_on: date


@dataclass(frozen=True, kw_only=True)
class CertificateRevoked(CertificateEvent):
    revoked_on: date
    reason: str


@dataclass(frozen=True, kw_only=True)
class CertificateExpired(CertificateEvent):
    expired_on: date               # the first day the certificate is no longer valid


@dataclass(frozen=True, kw_only=True)
class MilestoneReached(CertificationEvent):
    """E.g. the 1,000th leercoach qualification. ``aggregate_id`` is the certificate that hit it."""

    role: CredentialType
    count: int
    certificate_id: str


# --- mentor assignments -----------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class MenteeAssigned(CertificationEvent):
    assignment_id: str
    organisation_id: str
    mentor_candidate_id: str
    mentor_certificate_id: str
    mentee_id: str                 # pseudonymous person id
    assigned_on: date


@dataclass(frozen=True, kw_only=True)
class MenteeAssignmentEnded(CertificationEvent):
    assignment_id: str
    mentor_candidate_id: str
    ended_on: date
