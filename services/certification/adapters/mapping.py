"""Mapping between the stored bodies of the certification aggregates and the pure domain objects,
and the request records that make commands idempotent.

A body never holds the store's ``version`` (the number of commits, see
``services.common.persistence``): the domain's own version is kept as ``organisation_version`` /
``certificate_version``. Every aggregate body remembers its last ``MAX_REMEMBERED_REQUESTS``
requests (``requests``: key, fingerprint of the request, snapshot of the first answer), committed
with the change they answer, so a retry gets the first answer and a reused id with other content
is refused.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Iterable

from ..domain.assignments import MentorAssignment
from ..domain.certificate import Certificate, Period, StatusPointer
from ..domain.model import Candidate, MentoringOrganisation, TrainingRecord
from ..domain.values import AssessmentResult, CertificateStatus, CredentialType, OrganisationStatus

MAX_REMEMBERED_REQUESTS = 20


# --- mapping -------------------------------------------------------------------------------------

def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def organisation_fields(org: MentoringOrganisation) -> dict[str, Any]:
    return {"name": org.name, "status": org.status.value, "suspension_reason": org.suspension_reason,
            "organisation_version": org.version, "screened_on": _iso(org.screened_on),
            "accredited_until": _iso(org.accredited_until), "expiry_announced": _iso(org.expiry_announced)}


def organisation_from(doc: dict[str, Any]) -> MentoringOrganisation:
    """Organisations stored before validity periods have no ``screened_on``/``accredited_until``."""
    return MentoringOrganisation(doc["_id"], doc["name"], OrganisationStatus(doc["status"]),
                                 doc.get("suspension_reason"), doc["organisation_version"],
                                 _date(doc.get("screened_on")), _date(doc.get("accredited_until")),
                                 _date(doc.get("expiry_announced")))


def candidate_fields(c: Candidate) -> dict[str, Any]:
    return {"organisation_id": c.organisation_id, "person_id": c.person_id, "role": c.role.value,
            "registered_at": c.registered_at,
            "person_key": f"{c.organisation_id}/{c.person_id}/{c.role.value}"}


def candidate_from(doc: dict[str, Any]) -> Candidate:
    return Candidate(doc["_id"], doc["organisation_id"], doc["person_id"], CredentialType(doc["role"]),
                     doc["registered_at"])


def training_fields(t: TrainingRecord) -> dict[str, Any]:
    return {"record_id": t.record_id, "candidate_id": t.candidate_id, "module_id": t.module_id,
            "hours": str(t.hours), "completed_on": t.completed_on.isoformat(), "result": t.result.value}


def training_from(raw: dict[str, Any]) -> TrainingRecord:
    return TrainingRecord(raw["record_id"], raw["candidate_id"], raw["module_id"], Decimal(raw["hours"]),
                          date.fromisoformat(raw["completed_on"]), AssessmentResult(raw["result"]))


def trainings_from(doc: dict[str, Any]) -> list[TrainingRecord]:
    return [training_from(t) for t in doc.get("trainings", [])]


def assignment_fields(a: MentorAssignment) -> dict[str, Any]:
    return {"assignment_id": a.assignment_id, "organisation_id": a.organisation_id,
            "mentor_candidate_id": a.mentor_candidate_id, "mentor_certificate_id": a.mentor_certificate_id,
            "mentee_id": a.mentee_id, "assigned_on": a.assigned_on.isoformat(), "ended_on": _iso(a.ended_on)}


def assignment_from(raw: dict[str, Any]) -> MentorAssignment:
    return MentorAssignment(raw["assignment_id"], raw["organisation_id"], raw["mentor_candidate_id"],
                            raw["mentor_certificate_id"], raw["mentee_id"], date.fromisoformat(raw["assigned_on"]),
                            _date(raw.get("ended_on")))


def _periods(periods: Iterable[Period]) -> list[dict[str, Any]]:
    return [{"start": p.start.isoformat(), "end": _iso(p.end)} for p in periods]


def _periods_from(raw: Iterable[dict[str, Any]]) -> list[Period]:
    return [Period(date.fromisoformat(p["start"]), _date(p.get("end"))) for p in raw]


@dataclass(frozen=True)
class StoredCertificate:
    certificate: Certificate
    qualification_number: int
    credential_json: str


def certificate_fields(cert: Certificate, qualification_number: int, credential_json: str) -> dict[str, Any]:
    return {
        "candidate_id": cert.candidate_id, "holder_id": cert.holder_id,
        "organisation_id": cert.organisation_id, "credential_type": cert.credential_type.value,
        "status": cert.status.value, "policy_version": cert.policy_version, "issued_at": cert.issued_at,
        "credential_issued_at": cert.credential_issued_at, "validity": _periods(cert.validity),
        "period_start": cert.period_start.isoformat(), "valid_until": cert.valid_until.isoformat(),
        "suspensions": _periods(cert.suspensions), "suspension_reason": cert.suspension_reason,
        "revoked_on": _iso(cert.revoked_on), "revocation_reason": cert.revocation_reason,
        "credential_sequence": cert.credential_sequence, "qualification_number": qualification_number,
        "revocation_list_id": cert.revocation_status.list_id, "revocation_index": cert.revocation_status.index,
        "revocation_bit": cert.revocation_bit,
        "suspension_list_id": cert.suspension_status.list_id, "suspension_index": cert.suspension_status.index,
        "suspension_bit": cert.suspension_bit,
        "credential_json": credential_json, "certificate_version": cert.version,
    }


def certificate_from(doc: dict[str, Any]) -> StoredCertificate:
    cert = Certificate(
        certificate_id=doc["_id"], candidate_id=doc["candidate_id"], holder_id=doc["holder_id"],
        organisation_id=doc["organisation_id"], credential_type=CredentialType(doc["credential_type"]),
        policy_version=doc["policy_version"], issued_at=doc["issued_at"],
        validity=_periods_from(doc["validity"]), period_start=date.fromisoformat(doc["period_start"]),
        revocation_status=StatusPointer(doc["revocation_list_id"], doc["revocation_index"]),
        suspension_status=StatusPointer(doc["suspension_list_id"], doc["suspension_index"]),
        status=CertificateStatus(doc["status"]), suspensions=_periods_from(doc.get("suspensions", [])),
        suspension_reason=doc.get("suspension_reason"), revoked_on=_date(doc.get("revoked_on")),
        revocation_reason=doc.get("revocation_reason"), credential_sequence=doc["credential_sequence"],
        credential_issued_at=doc.get("credential_issued_at"), version=doc["certificate_version"],
    )
    return StoredCertificate(cert, doc["qualification_number"], doc["credential_json"])


# --- idempotency -----------------------------------------------------------------------------------

def fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def remembering(body: dict[str, Any], key: str, fp: str, result: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the request ``key`` (fingerprint ``fp``, first answer ``result``) remembered."""
    requests = list(body.get("requests", [])) + [{"id": key, "fp": fp, "result": result}]
    return {**body, "requests": requests[-MAX_REMEMBERED_REQUESTS:]}


def remembered(doc: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    """The remembered request ``key`` of ``doc`` (``{"fp", "result"}``), if any."""
    for entry in (doc or {}).get("requests", []):
        if entry["id"] == key:
            return entry
    return None
