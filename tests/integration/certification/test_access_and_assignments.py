"""Authorisation across organisations, bad input, mentor assignments and milestones over gRPC."""
from __future__ import annotations

import grpc
import pytest

from llr.certification.v1 import certification_service_pb2 as api
from llr.certification.v1 import events_pb2
from services.common.auth import Role

from .conftest import payload, types

LEERCOACH, MENTOR = events_pb2.CREDENTIAL_TYPE_LEERCOACH, events_pb2.CREDENTIAL_TYPE_MENTOR


def code_of(call, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, **kwargs)
    return err.value.code(), err.value.details()


def test_organisations_act_only_on_their_own_candidates_and_certificates(client):
    for org in ("org-a", "org-b"):
        client.accredit(org)
    cand = client.qualified_leercoach("org-a", "person-a1")
    cert_id = client.issue("org-a", cand.candidate_id).certificate.certificate_id
    b = client.org("org-b")

    denied = [
        ("RecordTraining", api.RecordTrainingRequest(request_id="x1", candidate_id=cand.candidate_id,
                                                     module_id="LC-DAY-1", hours="7", completed_on="2025-02-01",
                                                     result=api.ASSESSMENT_RESULT_NOT_ASSESSED)),
        ("IssueCertificate", api.IssueCertificateRequest(request_id="x2", candidate_id=cand.candidate_id)),
        ("RevokeCertificate", api.RevokeCertificateRequest(request_id="x3", certificate_id=cert_id, reason="r")),
        ("SuspendCertificate", api.SuspendCertificateRequest(request_id="x4", certificate_id=cert_id, reason="r")),
        ("GetCertificate", api.GetCertificateRequest(certificate_id=cert_id)),
        ("RegisterCandidate", api.RegisterCandidateRequest(request_id="x5", organisation_id="org-a",
                                                           person_id="p", role=MENTOR)),
        ("AccreditOrganisation", api.AccreditOrganisationRequest(request_id="x6", organisation_id="org-c", name="C")),
        ("SuspendOrganisation", api.SuspendOrganisationRequest(request_id="x7", organisation_id="org-a", reason="r")),
    ]
    for method, request in denied:
        code, _ = code_of(client, method, request, b)
        assert code == grpc.StatusCode.PERMISSION_DENIED, method
    # Nothing changed for org-a.
    got = client("GetCertificate", api.GetCertificateRequest(certificate_id=cert_id), client.org("org-a"))
    assert got.certificate.status == api.CERTIFICATE_STATUS_ACTIVE
    # The regisseur may do everything; another service may read.
    client("SuspendCertificate", api.SuspendCertificateRequest(request_id="r1", certificate_id=cert_id, reason="audit"),
           client.regisseur)
    read = client("GetCertificate", api.GetCertificateRequest(certificate_id=cert_id),
                  client.token_for("enrolments", Role.SERVICE))
    assert read.certificate.status == api.CERTIFICATE_STATUS_SUSPENDED
    code, _ = code_of(client, "RevokeCertificate", api.RevokeCertificateRequest(
        request_id="s1", certificate_id=cert_id, reason="r"), client.token_for("enrolments", Role.SERVICE))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    # Without a token only the public calls answer.
    code, _ = code_of(client, "GetCertificate", api.GetCertificateRequest(certificate_id=cert_id))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert client("GetIssuer", api.GetIssuerRequest()).issuer_id


def test_a_suspended_organisation_can_no_longer_register_or_issue(client):
    client.accredit("org-a")
    cand = client.qualified_mentor("org-a", "person-s1")
    client("SuspendOrganisation", api.SuspendOrganisationRequest(
        request_id="so-1", organisation_id="org-a", reason="quality audit failed"), client.regisseur)
    code, details = code_of(client.issue, "org-a", cand.candidate_id)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "quality audit failed" in details
    code, _ = code_of(client.register, "org-a", "person-s2", MENTOR)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    code, _ = code_of(client.register, "org-never", "person-s3", MENTOR)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    # The regisseur's reinstatement lifts it.
    org = client("ReinstateOrganisation", api.ReinstateOrganisationRequest(
        request_id="reinstate", organisation_id="org-a"), client.regisseur).organisation
    assert org.status == api.ORGANISATION_STATUS_ACCREDITED
    assert client.issue("org-a", cand.candidate_id).certificate.status == api.CERTIFICATE_STATUS_ACTIVE


def test_bad_input_names_the_fields(client):
    client.accredit("org-a")
    a = client.org("org-a")
    code, details = code_of(client, "RegisterCandidate", api.RegisterCandidateRequest(request_id="r", person_id="p"), a)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("role:")
    code, details = code_of(client, "RegisterCandidate", api.RegisterCandidateRequest(role=MENTOR), a)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in details and "person_id" in details
    cand = client.register("org-a", "person-i1", LEERCOACH)
    for field, request in [
        ("hours", dict(hours="seven")), ("hours", dict(hours="-1")), ("completed_on", dict(completed_on="03/02/2025")),
        ("completed_on", dict(completed_on="2025-03-04")), ("result", dict(result=api.ASSESSMENT_RESULT_UNSPECIFIED)),
        ("module_id", dict(module_id="")),
    ]:
        base = dict(request_id=f"bad-{field}", candidate_id=cand.candidate_id, module_id="LC-DAY-1", hours="7",
                    completed_on="2025-02-01", result=api.ASSESSMENT_RESULT_NOT_ASSESSED)
        base.update(request)
        code, details = code_of(client, "RecordTraining", api.RecordTrainingRequest(**base), a)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and field in details, (field, details)
    code, _ = code_of(client, "IssueCertificate", api.IssueCertificateRequest(request_id="i", candidate_id="nope"), a)
    assert code == grpc.StatusCode.NOT_FOUND
    code, details = code_of(client, "ListCertificates", api.ListCertificatesRequest(page_size=-1), a)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "page_size" in details
    code, _ = code_of(client, "GetStatusList", api.GetStatusListRequest(status_list_credential="https://evil.example/1"))
    assert code == grpc.StatusCode.NOT_FOUND


def test_mentees_go_only_to_validly_certified_own_mentors_within_capacity(client, events):
    for org in ("org-a", "org-b"):
        client.accredit(org)
    a = client.org("org-a")
    mentor = client.qualified_mentor("org-a", "mentor-1")

    def assign(mentee: str, token=a, mentor_id=mentor.candidate_id, request_id=None):
        return client("AssignMentee", api.AssignMenteeRequest(
            request_id=request_id or f"as-{mentee}", mentor_candidate_id=mentor_id, mentee_id=mentee), token)

    code, details = code_of(assign, "mentee-0")
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "no valid MENTOR certificate" in details
    cert_id = client.issue("org-a", mentor.candidate_id).certificate.certificate_id

    capacity = client("GetRequirements", api.GetRequirementsRequest(), a).max_active_mentees_per_mentor
    for i in range(capacity):
        reply = assign(f"mentee-{i}").assignment
        assert (reply.active_mentees, reply.capacity, reply.mentor_certificate_id) == (i + 1, capacity, cert_id)
    assert assign("mentee-0") == assign("mentee-0")       # a retry returns the first answer
    code, details = code_of(assign, f"mentee-{capacity}")
    assert code == grpc.StatusCode.FAILED_PRECONDITION and f"maximum {capacity}" in details
    code, _ = code_of(assign, "mentee-x", token=client.org("org-b"))
    assert code == grpc.StatusCode.PERMISSION_DENIED

    leercoach = client.qualified_leercoach("org-a", "coach-1")
    client.issue("org-a", leercoach.candidate_id)
    code, details = code_of(assign, "mentee-y", mentor_id=leercoach.candidate_id)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "not a MENTOR" in details

    # A suspended mentor takes no new mentees.
    other = client.qualified_mentor("org-a", "mentor-2")
    other_cert = client.issue("org-a", other.candidate_id).certificate.certificate_id
    client("SuspendCertificate", api.SuspendCertificateRequest(request_id="sp", certificate_id=other_cert,
                                                               reason="complaint"), a)
    code, _ = code_of(assign, "mentee-z", mentor_id=other.candidate_id)
    assert code == grpc.StatusCode.FAILED_PRECONDITION

    seen = events(lambda evs: types(evs).count("MenteeAssigned") >= capacity)
    assigned = [payload(e) for e in seen if e.event_type.endswith("MenteeAssigned")]
    assert sorted(p.mentee_id for p in assigned) == sorted(f"mentee-{i}" for i in range(capacity))
    assert {(p.organisation_id, p.mentor_candidate_id, p.mentor_certificate_id) for p in assigned} == {
        ("org-a", mentor.candidate_id, cert_id)}
