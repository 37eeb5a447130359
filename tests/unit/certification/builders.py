"""Test builders for the certification domain: an accredited organisation, candidates with the
default policy's training completed, issued certificates and an issuer key generated per test."""
from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

from services.certification.domain.certificate import Certificate, StatusPointer
from services.certification.domain.credentials.keys import IssuerKey
from services.certification.domain.credentials.status_list import StatusList, StatusPurpose
from services.certification.domain.model import Candidate, MentoringOrganisation, TrainingRecord
from services.certification.domain.policy import CertificationPolicy, load_policy_book
from services.certification.domain.values import AssessmentResult, CredentialType

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
_ids = itertools.count(1)


def policy(on: date = T0.date()) -> CertificationPolicy:
    return load_policy_book().in_force(on)


def organisation(org_id: str = "org-1") -> MentoringOrganisation:
    org, _ = MentoringOrganisation.accredit(org_id, f"Organisation {org_id}", now=T0,
                                            validity_months=policy().organisation_accreditation_months)
    return org


def candidate(org: MentoringOrganisation, role: CredentialType = CredentialType.LEERCOACH,
              candidate_id: str | None = None) -> Candidate:
    cid = candidate_id or f"cand-{next(_ids)}"
    cand, _ = Candidate.register(org, candidate_id=cid, person_id=f"pseudo-{cid}", role=role, now=T0)
    return cand


def training(org: MentoringOrganisation, cand: Candidate, module_id: str, hours: object = 7,
             result: AssessmentResult = AssessmentResult.NOT_ASSESSED,
             on: date = T0.date() - timedelta(days=30)) -> TrainingRecord:
    recorded_at = max(T0, datetime.combine(on, time(17), tzinfo=timezone.utc))
    rec, _ = TrainingRecord.record(org, cand, record_id=f"rec-{next(_ids)}", module_id=module_id,
                                   hours=hours, completed_on=on, result=result, now=recorded_at)
    return rec


def leercoach_programme(org: MentoringOrganisation, cand: Candidate, *, assessment: AssessmentResult = AssessmentResult.PASSED,
                        days: int = 5) -> list[TrainingRecord]:
    recs = [training(org, cand, f"LC-DAY-{d}") for d in range(1, days + 1)]
    recs.append(training(org, cand, "LC-ASSESSMENT", hours=2, result=assessment))
    return recs


def mentor_training(org: MentoringOrganisation, cand: Candidate) -> list[TrainingRecord]:
    return [training(org, cand, "MENTOR-TRAINING", hours=7)]


def pointers(n: int) -> tuple[StatusPointer, StatusPointer]:
    return (StatusPointer("https://llr.example/status/revocation/1", n),
            StatusPointer("https://llr.example/status/suspension/1", n))


def issue(org: MentoringOrganisation, cand: Candidate, trainings: list[TrainingRecord], now: datetime = T0,
          qualification_number: int = 1, certificate_id: str | None = None,
          index: int | None = None) -> Certificate:
    rev, sus = pointers(index if index is not None else next(_ids))
    return Certificate.issue(
        certificate_id=certificate_id or f"cert-{next(_ids)}", organisation=org, candidate=cand,
        trainings=trainings, policy=policy(now.date()), qualification_number=qualification_number,
        revocation_status=rev, suspension_status=sus, now=now,
    )


def issued_leercoach(now: datetime = T0) -> tuple[MentoringOrganisation, Candidate, list[TrainingRecord], Certificate]:
    org = organisation()
    cand = candidate(org)
    recs = leercoach_programme(org, cand)
    return org, cand, recs, issue(org, cand, recs, now)


def issuer_key(issuer_id: str = "did:web:certificering.llr.example") -> IssuerKey:
    """A fresh key as the service would load it from configuration (PEM)."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return IssuerKey.from_config(pem, issuer_id=issuer_id, key_id="key-1")


def status_lists() -> dict[StatusPurpose, StatusList]:
    return {
        StatusPurpose.REVOCATION: StatusList("https://llr.example/status/revocation/1", StatusPurpose.REVOCATION),
        StatusPurpose.SUSPENSION: StatusList("https://llr.example/status/suspension/1", StatusPurpose.SUSPENSION),
    }
