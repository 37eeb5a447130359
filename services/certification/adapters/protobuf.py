"""Domain objects <-> ``llr.certification.v1`` API messages."""
from __future__ import annotations

from datetime import date

from llr.certification.v1 import certification_service_pb2 as api
from llr.certification.v1 import events_pb2

from services.common.envelope import to_timestamp

from ..adapters.mapping import StoredCertificate
from ..domain.credentials.verify import VerificationResult
from ..domain.model import Candidate, MentoringOrganisation, TrainingRecord
from ..domain.policy import CredentialPolicy, MissingRequirement
from ..domain.values import AssessmentResult, CertificateStatus, CredentialType, OrganisationStatus
from .events import ROLE_TO_PB

ROLE_FROM_PB = {v: k.value for k, v in ROLE_TO_PB.items()}
RESULT_TO_PB = {
    AssessmentResult.PASSED: api.ASSESSMENT_RESULT_PASSED,
    AssessmentResult.FAILED: api.ASSESSMENT_RESULT_FAILED,
    AssessmentResult.NOT_ASSESSED: api.ASSESSMENT_RESULT_NOT_ASSESSED,
}
RESULT_FROM_PB = {v: k.value for k, v in RESULT_TO_PB.items()}
STATUS_TO_PB = {s: api.CertificateStatus.Value(f"CERTIFICATE_STATUS_{s.value}") for s in CertificateStatus}
STATUS_FROM_PB = {v: k.value for k, v in STATUS_TO_PB.items()}
ORG_STATUS_TO_PB = {s: api.OrganisationStatus.Value(f"ORGANISATION_STATUS_{s.value}") for s in OrganisationStatus}


def role_from_pb(value: int) -> str:
    """The role name, or "" for UNSPECIFIED (and unknown numbers), which the domain rejects."""
    return ROLE_FROM_PB.get(value, "")


def result_from_pb(value: int) -> str:
    return RESULT_FROM_PB.get(value, "")


def status_from_pb(value: int) -> str:
    return STATUS_FROM_PB.get(value, "")


def organisation(org: MentoringOrganisation, today: date) -> api.Organisation:
    """The organisation as it stands on ``today`` (EXPIRED past its accreditation)."""
    return api.Organisation(organisation_id=org.organisation_id, name=org.name,
                            status=ORG_STATUS_TO_PB[org.status_on(today)],
                            suspension_reason=org.suspension_reason or "",
                            screened_on=org.screened_on.isoformat() if org.screened_on else "",
                            accredited_until=org.accredited_until.isoformat() if org.accredited_until else "")


def candidate(c: Candidate) -> api.Candidate:
    return api.Candidate(candidate_id=c.candidate_id, organisation_id=c.organisation_id, person_id=c.person_id,
                         role=ROLE_TO_PB[c.role], registered_at=to_timestamp(c.registered_at))


def training(t: TrainingRecord) -> api.TrainingRecord:
    return api.TrainingRecord(record_id=t.record_id, candidate_id=t.candidate_id, module_id=t.module_id,
                              hours=f"{t.hours.normalize():f}", completed_on=t.completed_on.isoformat(),
                              result=RESULT_TO_PB[t.result])


def certificate(stored: StoredCertificate) -> api.Certificate:
    c = stored.certificate
    return api.Certificate(
        certificate_id=c.certificate_id, candidate_id=c.candidate_id, holder_id=c.holder_id,
        organisation_id=c.organisation_id, role=ROLE_TO_PB[c.credential_type], status=STATUS_TO_PB[c.status],
        valid_from=c.valid_from.isoformat(), valid_until=c.valid_until.isoformat(), policy_version=c.policy_version,
        credential_id=c.credential_id, issued_at=to_timestamp(c.issued_at),
        suspension_reason=c.suspension_reason or "", revoked_on=c.revoked_on.isoformat() if c.revoked_on else "",
        revocation_reason=c.revocation_reason or "", qualification_number=stored.qualification_number,
        version=c.version,
    )


def missing(m: MissingRequirement) -> api.MissingRequirement:
    return api.MissingRequirement(code=m.code.value, message=m.message, module_id=m.module_id or "")


def requirements(rules: CredentialPolicy) -> api.CredentialRequirements:
    return api.CredentialRequirements(
        role=ROLE_TO_PB[rules.credential_type], name=rules.name, description=rules.description,
        required_modules=list(rules.required_modules), min_hours=f"{rules.min_hours.normalize():f}",
        assessment_module=rules.assessment_module or "", validity_years=rules.validity_years,
        continuing_education_hours=f"{rules.renewal.continuing_education_hours.normalize():f}",
        renewal_window_days_before_expiry=rules.renewal.window_days_before_expiry,
        renewal_grace_days_after_expiry=rules.renewal.grace_days_after_expiry,
    )


def verification(result: VerificationResult) -> api.VerifyResponse:
    def code(status) -> int:
        return api.VerificationStatus.Value(f"VERIFICATION_STATUS_{status.value}")
    response = api.VerifyResponse(
        status=code(result.status), reason=result.reason, credential_id=result.credential_id or "",
        issuer_id=result.issuer_id or "", subject_id=result.subject_id or "",
        problems=[api.VerificationProblem(status=code(p.code), reason=p.reason) for p in result.problems],
    )
    if result.valid_from is not None:
        response.valid_from.CopyFrom(to_timestamp(result.valid_from))
    if result.valid_until is not None:
        response.valid_until.CopyFrom(to_timestamp(result.valid_until))
    return response


__all__ = ["api", "events_pb2", "CredentialType"]
