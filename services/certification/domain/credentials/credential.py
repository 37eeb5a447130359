"""The verifiable credential of a certificate: a W3C VC 2.0 / Open Badges 3.0 document.

Shape (unsigned; ``issue_credential`` adds the ``eddsa-jcs-2022`` proof)::

    {
      "@context": [VC 2.0 context, OB 3.0 context],
      "id": "urn:uuid:...",                       # Certificate.credential_id (new per renewal)
      "type": ["VerifiableCredential", "OpenBadgeCredential"],
      "name": "Leercoach certificate",
      "issuer": {"id": "did:web:...", "type": ["Profile"], "name": ...},
      "validFrom": "2025-01-06T09:00:00Z",        # when this credential was issued
      "validUntil": "2028-01-05T23:59:59Z",       # end of the certificate's last valid day (UTC)
      "credentialSubject": {
        "id": "urn:llr:person:<pseudonymous id>",
        "type": ["AchievementSubject"],
        "achievement": {"id": "urn:llr:achievement:leercoach", "type": ["Achievement"],
                        "achievementType": "Certification", "name", "description",
                        "criteria": {"narrative": ...}}
      },
      "credentialStatus": [revocation entry, suspension entry]   # BitstringStatusListEntry
    }
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..certificate import Certificate
from ..policy import CredentialPolicy
from .data_integrity import add_proof, format_instant
from .keys import IssuerKey
from .status_list import VC_CONTEXT, StatusPurpose, status_entry

OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CREDENTIAL_TYPES = ("VerifiableCredential", "OpenBadgeCredential")


@dataclass(frozen=True)
class IssuerProfile:
    """The issuer as shown in credentials; ``id`` must be the signing key's ``issuer_id``."""

    id: str
    name: str
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        profile: dict[str, Any] = {"id": self.id, "type": ["Profile"], "name": self.name}
        if self.url:
            profile["url"] = self.url
        return profile


def subject_id(holder_id: str) -> str:
    """The credential subject's id: the pseudonymous person id, never a national number."""
    return f"urn:llr:person:{holder_id}"


def achievement_id(rules: CredentialPolicy) -> str:
    return f"urn:llr:achievement:{rules.credential_type.value.lower()}"


def criteria_narrative(rules: CredentialPolicy) -> str:
    hours = f"{rules.min_hours.normalize():f}"
    text = f"Completed training modules {', '.join(rules.required_modules)} (at least {hours} hours)"
    if rules.assessment_module:
        text += f" and passed assessment {rules.assessment_module}"
    return text + f". Valid for {rules.validity_years} years; renewable with continuing education."


def build_credential(certificate: Certificate, rules: CredentialPolicy, issuer: IssuerProfile) -> dict[str, Any]:
    """The unsigned credential document of ``certificate``'s current validity period."""
    if rules.credential_type is not certificate.credential_type:
        raise ValueError("rules are for another credential type")
    if certificate.credential_issued_at is None:
        raise ValueError("certificate has no credential issue instant")
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": certificate.credential_id,
        "type": list(CREDENTIAL_TYPES),
        "name": f"{rules.name} certificate",
        "issuer": issuer.to_json(),
        "validFrom": format_instant(certificate.credential_issued_at),
        "validUntil": f"{certificate.valid_until.isoformat()}T23:59:59Z",
        "credentialSubject": {
            "id": subject_id(certificate.holder_id),
            "type": ["AchievementSubject"],
            "achievement": {
                "id": achievement_id(rules),
                "type": ["Achievement"],
                "achievementType": "Certification",
                "name": rules.name,
                "description": rules.description,
                "criteria": {"narrative": criteria_narrative(rules)},
            },
        },
        "credentialStatus": [
            status_entry(certificate.revocation_status.list_id, StatusPurpose.REVOCATION,
                         certificate.revocation_status.index),
            status_entry(certificate.suspension_status.list_id, StatusPurpose.SUSPENSION,
                         certificate.suspension_status.index),
        ],
    }


def issue_credential(
    certificate: Certificate, rules: CredentialPolicy, issuer: IssuerProfile, key: IssuerKey,
) -> dict[str, Any]:
    """The signed credential. Deterministic (Ed25519 signatures are), so a retry reproduces it."""
    if issuer.id != key.issuer_id:
        raise ValueError("the issuer profile and the signing key name different issuers")
    assert certificate.credential_issued_at is not None
    return add_proof(build_credential(certificate, rules, issuer), key, created=certificate.credential_issued_at)
