"""Domain events -> ``llr.certification.v1`` protobuf payloads wrapped in the common envelope.

Envelope ``event_id`` = UUIDv5 of the domain event's deterministic id, so a retried command (or a
re-run of the expiry job) produces the same ids and consumers' inbox deduplication holds.
"""
from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from llr.certification.v1 import events_pb2 as pb

from services.common.envelope import EventEnvelope, wrap
from services.common.outbox import PendingEvent

from ..domain import events as ev
from ..domain.values import CredentialType

PRODUCER = "certification"
EVENT_NAMESPACE = uuid.UUID("0b6c3f8e-1f1d-5a55-9c57-2f8d0c9e4a31")

ROLE_TO_PB = {
    CredentialType.MENTOR: pb.CREDENTIAL_TYPE_MENTOR,
    CredentialType.LEERCOACH: pb.CREDENTIAL_TYPE_LEERCOACH,
}


def _d(value: date | None) -> str:
    return value.isoformat() if value is not None else ""


def _hours(value: Decimal) -> str:
    return f"{Decimal(value).normalize():f}"


def payload_of(event: ev.CertificationEvent):
    """(aggregate_type, protobuf payload) of a domain event."""
    match event:
        case ev.OrganisationAccredited():
            return "organisation", pb.OrganisationAccredited(
                organisation_id=event.organisation_id, name=event.name, screened_on=_d(event.screened_on),
                accredited_until=_d(event.accredited_until))
        case ev.OrganisationSuspended():
            return "organisation", pb.OrganisationSuspended(organisation_id=event.organisation_id, reason=event.reason)
        case ev.OrganisationReinstated():
            return "organisation", pb.OrganisationReinstated(organisation_id=event.organisation_id)
        case ev.OrganisationRescreened():
            return "organisation", pb.OrganisationRescreened(
                organisation_id=event.organisation_id, screened_on=_d(event.screened_on),
                accredited_until=_d(event.accredited_until),
                previous_accredited_until=_d(event.previous_accredited_until))
        case ev.OrganisationAccreditationExpired():
            return "organisation", pb.OrganisationAccreditationExpired(
                organisation_id=event.organisation_id, accredited_until=_d(event.accredited_until),
                expired_on=_d(event.expired_on))
        case ev.CandidateRegistered():
            return "candidate", pb.CandidateRegistered(
                candidate_id=event.candidate_id, organisation_id=event.organisation_id,
                person_id=event.person_id, role=ROLE_TO_PB[event.role])
        case ev.TrainingRecorded():
            return "candidate", pb.TrainingRecorded(
                record_id=event.record_id, candidate_id=event.candidate_id,
                organisation_id=event.organisation_id, module_id=event.module_id,
                hours=_hours(event.hours), completed_on=_d(event.completed_on), result=event.result.value)
        case ev.CertificateIssued():
            return "certificate", pb.CertificateIssued(
                certificate_id=event.certificate_id, holder_id=event.holder_id, candidate_id=event.candidate_id,
                organisation_id=event.organisation_id, role=ROLE_TO_PB[event.role],
                valid_from=_d(event.valid_from), valid_until=_d(event.valid_until),
                policy_version=event.policy_version, credential_id=event.credential_id,
                qualification_number=event.qualification_number)
        case ev.CertificateRenewed():
            return "certificate", pb.CertificateRenewed(
                certificate_id=event.certificate_id, previous_valid_until=_d(event.previous_valid_until),
                valid_until=_d(event.valid_until), policy_version=event.policy_version,
                credential_id=event.credential_id,
                continuing_education_hours=_hours(event.continuing_education_hours),
                organisation_id=event.organisation_id, role=ROLE_TO_PB[event.role])
        case ev.CertificateSuspended():
            return "certificate", pb.CertificateSuspended(
                certificate_id=event.certificate_id, suspended_from=_d(event.suspended_from),
                reason=event.reason, suspended_until=_d(event.suspended_until))
        case ev.CertificateReinstated():
            return "certificate", pb.CertificateReinstated(
                certificate_id=event.certificate_id, reinstated_on=_d(event.reinstated_on))
        case ev.CertificateRevoked():
            return "certificate", pb.CertificateRevoked(
                certificate_id=event.certificate_id, revoked_on=_d(event.revoked_on), reason=event.reason)
        case ev.CertificateExpired():
            return "certificate", pb.CertificateExpired(
                certificate_id=event.certificate_id, expired_on=_d(event.expired_on))
        case ev.MilestoneReached():
            return "certificate", pb.MilestoneReached(
                role=ROLE_TO_PB[event.role], count=event.count, certificate_id=event.certificate_id)
        case ev.MenteeAssigned():
            return "assignment", pb.MenteeAssigned(
                assignment_id=event.assignment_id, organisation_id=event.organisation_id,
                mentor_candidate_id=event.mentor_candidate_id, mentor_certificate_id=event.mentor_certificate_id,
                mentee_id=event.mentee_id, assigned_on=_d(event.assigned_on))
        case ev.MenteeAssignmentEnded():
            return "assignment", pb.MenteeAssignmentEnded(
                assignment_id=event.assignment_id, mentor_candidate_id=event.mentor_candidate_id,
                ended_on=_d(event.ended_on))
    raise TypeError(f"no protobuf mapping for {type(event).__name__}")


def envelope_id(event: ev.CertificationEvent) -> str:
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{PRODUCER}/{event.event_id}"))


def to_envelope(event: ev.CertificationEvent, *, aggregate_version: int, correlation_id: str = "",
                causation_id: str = "") -> EventEnvelope:
    aggregate_type, payload = payload_of(event)
    return wrap(
        payload, aggregate_type=aggregate_type, aggregate_id=event.aggregate_id,
        aggregate_version=getattr(event, "aggregate_version", aggregate_version), producer=PRODUCER,
        occurred_at=event.occurred_at, correlation_id=correlation_id, causation_id=causation_id,
        event_id=envelope_id(event),
    )


def pending(topic: str, events: list[ev.CertificationEvent], *, aggregate_version: int,
            correlation_id: str = "", causation_id: str = "") -> list[PendingEvent]:
    return [PendingEvent(topic, to_envelope(e, aggregate_version=aggregate_version, correlation_id=correlation_id,
                                            causation_id=causation_id)) for e in events]
