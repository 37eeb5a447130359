"""Enumerations shared by the model, the events and the policy."""
from __future__ import annotations

from enum import StrEnum


class CredentialType(StrEnum):
    """The role a candidate is certified for; also the certificate's credential type."""

    MENTOR = "MENTOR"
    LEERCOACH = "LEERCOACH"   # learning coach guiding people towards training


class AssessmentResult(StrEnum):
    PASSED = "PASSED"
    FAILED = "FAILED"
    NOT_ASSESSED = "NOT_ASSESSED"   # attended; the module has no assessment


class OrganisationStatus(StrEnum):
    ACCREDITED = "ACCREDITED"
    SUSPENDED = "SUSPENDED"
    EXPIRED = "EXPIRED"     # never stored: ACCREDITED past accredited_until (MentoringOrganisation.status_on)


class CertificateStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    REVOKED = "REVOKED"     # final
    EXPIRED = "EXPIRED"     # past valid_until and not renewed within the grace period
