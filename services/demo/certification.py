"""Mentoring organisations certify leercoaches and mentors through the public gRPC API, the way
they would: the regisseur accredits the organisation, the organisation registers candidates,
records the five-day programme and the assessment, and requests the certificate. One more
organisation is accredited and then suspended by the regisseur pending an audit, so the demo's
data shows the accreditation lifecycle (``llr organisation show|reinstate mo-mentorpunt``)."""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from services.common.auth import Role

ORGANISATIONS = [
    ("mo-vdab-leercoach", "VDAB Leercoachpool"),
    ("mo-syntra-mentoring", "Syntra Mentoring"),
    ("mo-agentschap-integratie", "Agentschap Integratie en Inburgering"),
    ("mo-vokans", "Vokans leercoach-netwerk"),
]
# Accredited, then suspended pending an audit: it certifies nobody in the demo.
SUSPENDED = ("mo-mentorpunt", "Mentorpunt vzw", "audit of its mentor training pending")
LEERCOACH_MODULES = ["LC-DAY-1", "LC-DAY-2", "LC-DAY-3", "LC-DAY-4", "LC-DAY-5"]


@dataclass
class CertifiedCoach:
    person_id: str
    organisation_id: str
    certificate_id: str
    credential_json: str


def certify(api, people: list[str], today: date, rng: random.Random, *, leercoaches: int, mentors: int,
            progress=None) -> list[CertifiedCoach]:
    """Certify ``leercoaches`` leercoaches and ``mentors`` mentors chosen from ``people``."""
    from llr.certification.v1 import certification_service_pb2 as pb
    from llr.certification.v1 import events_pb2 as ev

    stub = api.certification
    regisseur = api.auth("vdab", Role.REGISSEUR)
    for org_id, name in [*ORGANISATIONS, SUSPENDED[:2]]:
        stub.AccreditOrganisation(pb.AccreditOrganisationRequest(
            request_id=f"demo-accredit-{org_id}", organisation_id=org_id, name=name), metadata=regisseur)
    stub.SuspendOrganisation(pb.SuspendOrganisationRequest(
        request_id=f"demo-suspend-{SUSPENDED[0]}", organisation_id=SUSPENDED[0], reason=SUSPENDED[2]),
        metadata=regisseur)
    chosen = rng.sample(people, leercoaches + mentors)
    coaches = []
    for i, person_id in enumerate(chosen):
        org_id = ORGANISATIONS[i % len(ORGANISATIONS)][0]
        org = api.auth(org_id, Role.MENTORING_ORGANISATION)
        role = ev.CREDENTIAL_TYPE_LEERCOACH if i < leercoaches else ev.CREDENTIAL_TYPE_MENTOR
        candidate = stub.RegisterCandidate(pb.RegisterCandidateRequest(
            request_id=f"demo-cand-{person_id}", person_id=person_id, role=role), metadata=org).candidate
        modules = [(m, "7", pb.ASSESSMENT_RESULT_NOT_ASSESSED) for m in LEERCOACH_MODULES]
        modules.append(("LC-ASSESSMENT", "2", pb.ASSESSMENT_RESULT_PASSED))
        if role == ev.CREDENTIAL_TYPE_MENTOR:
            modules = [("MENTOR-TRAINING", "7", pb.ASSESSMENT_RESULT_NOT_ASSESSED)]
        for n, (module, hours, result) in enumerate(modules):
            stub.RecordTraining(pb.RecordTrainingRequest(
                request_id=f"demo-train-{person_id}-{module}", candidate_id=candidate.candidate_id,
                module_id=module, hours=hours, completed_on=(today - timedelta(days=14 - n)).isoformat(),
                result=result), metadata=org)
        issued = stub.IssueCertificate(pb.IssueCertificateRequest(
            request_id=f"demo-issue-{person_id}", candidate_id=candidate.candidate_id), metadata=org)
        if role == ev.CREDENTIAL_TYPE_LEERCOACH:
            coaches.append(CertifiedCoach(person_id, org_id, issued.certificate.certificate_id, issued.credential_json))
        if progress:
            progress()
    return coaches
