"""Mentor assignments: an organisation assigns a mentee to one of its own mentors.

Rules: the organisation is accredited; the mentor is its own candidate with role MENTOR and holds
a MENTOR certificate valid on the assignment day; the mentor has fewer active mentees than the
policy's ``max_active_mentees_per_mentor``; the mentee is not already assigned to that mentor.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import Iterable

from services.common.errors import AlreadyExists

from .certificate import Certificate
from .errors import CapacityExceeded, IllegalTransition, MentorNotEligible
from .events import MenteeAssigned, MenteeAssignmentEnded
from .model import Candidate, MentoringOrganisation, require_aware, require_text
from .policy import CertificationPolicy
from .values import CredentialType


class AlreadyAssigned(AlreadyExists):
    """The mentee already has an active assignment with this mentor."""


@dataclass(frozen=True)
class MentorAssignment:
    assignment_id: str
    organisation_id: str
    mentor_candidate_id: str
    mentor_certificate_id: str
    mentee_id: str               # pseudonymous person id
    assigned_on: date
    ended_on: date | None = None

    def is_active_on(self, day: date) -> bool:
        return self.assigned_on <= day and (self.ended_on is None or day < self.ended_on)

    @property
    def is_active(self) -> bool:
        return self.ended_on is None

    def end(self, *, now: datetime) -> tuple["MentorAssignment", MenteeAssignmentEnded]:
        require_aware("now", now)
        if self.ended_on is not None:
            raise IllegalTransition("end", "ENDED", f"assignment {self.assignment_id} already ended")
        today = now.astimezone(timezone.utc).date()
        ended = replace(self, ended_on=today)
        return ended, MenteeAssignmentEnded(
            event_id=f"{self.assignment_id}:ended", aggregate_id=self.assignment_id, occurred_at=now,
            assignment_id=self.assignment_id, mentor_candidate_id=self.mentor_candidate_id, ended_on=today,
        )


def valid_mentor_certificate(mentor: Candidate, certificates: Iterable[Certificate], day: date) -> Certificate | None:
    """The mentor's MENTOR certificate valid on ``day``, if any."""
    for cert in certificates:
        if (cert.candidate_id == mentor.candidate_id and cert.credential_type is CredentialType.MENTOR
                and cert.is_valid_on(day)):
            return cert
    return None


def assign_mentee(
    *, assignment_id: str, organisation: MentoringOrganisation, mentor: Candidate,
    mentor_certificates: Iterable[Certificate], active_assignments: Iterable[MentorAssignment],
    mentee_id: str, policy: CertificationPolicy, now: datetime,
) -> tuple[MentorAssignment, MenteeAssigned]:
    """Assign ``mentee_id`` to ``mentor``. ``active_assignments`` are the mentor's current
    assignments (others are ignored); ``mentor_certificates`` the mentor's certificates."""
    require_text("assignment_id", assignment_id)
    require_text("mentee_id", mentee_id)
    require_aware("now", now)
    today = now.astimezone(timezone.utc).date()
    organisation.ensure_accredited(today)
    mentor.ensure_belongs_to(organisation.organisation_id)
    if mentor.role is not CredentialType.MENTOR:
        raise MentorNotEligible(f"candidate {mentor.candidate_id} is a {mentor.role}, not a MENTOR")
    certificate = valid_mentor_certificate(mentor, mentor_certificates, today)
    if certificate is None:
        raise MentorNotEligible(f"mentor {mentor.candidate_id} has no valid MENTOR certificate on {today.isoformat()}")
    current = [a for a in active_assignments
               if a.mentor_candidate_id == mentor.candidate_id and a.is_active_on(today)]
    if any(a.mentee_id == mentee_id for a in current):
        raise AlreadyAssigned(f"mentee {mentee_id} is already assigned to mentor {mentor.candidate_id}")
    limit = policy.max_active_mentees_per_mentor
    if len(current) >= limit:
        raise CapacityExceeded(f"mentor {mentor.candidate_id} already has {len(current)} active mentees (maximum {limit})")
    assignment = MentorAssignment(
        assignment_id=assignment_id, organisation_id=organisation.organisation_id,
        mentor_candidate_id=mentor.candidate_id, mentor_certificate_id=certificate.certificate_id,
        mentee_id=mentee_id, assigned_on=today,
    )
    return assignment, MenteeAssigned(
        event_id=f"{assignment_id}:assigned", aggregate_id=assignment_id, occurred_at=now,
        assignment_id=assignment_id, organisation_id=organisation.organisation_id,
        mentor_candidate_id=mentor.candidate_id, mentor_certificate_id=certificate.certificate_id,
        mentee_id=mentee_id, assigned_on=today,
    )
