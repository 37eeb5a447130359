"""The accreditation lifecycle of a mentoring organisation over gRPC, on the real Kafka and
FerretDB: valid for the policy's months from the regisseur's screening, expired after it (refused
with the day it expired, the expiry published by the job), re-screening renews it, suspension
blocks and reinstatement restores, every change an event on the certification topic, only the
regisseur decides, and a retry with the same request id changes nothing. The certificates an organisation issued stay valid."""
from __future__ import annotations

from datetime import datetime, timezone

import grpc
import pytest

from llr.certification.v1 import certification_service_pb2 as api
from llr.certification.v1 import events_pb2
from services.common.auth import Role

from .conftest import payload, types

MENTOR = events_pb2.CREDENTIAL_TYPE_MENTOR
EXPIRED_DAY = datetime(2028, 3, 4, 9, 0, tzinfo=timezone.utc)   # accredited 2025-03-03 for 36 months


def code_of(call, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, **kwargs)
    return err.value.code(), err.value.details()


def organisation(client, org_id: str, token: str | None = None):
    return client("GetOrganisation", api.GetOrganisationRequest(organisation_id=org_id),
                  token or client.regisseur).organisation


def test_accreditation_runs_for_the_policy_period_expires_and_a_rescreening_renews_it(client, clock, events):
    accredited = client.accredit("org-a").organisation
    assert (accredited.status, accredited.screened_on, accredited.accredited_until) == (
        api.ORGANISATION_STATUS_ACCREDITED, "2025-03-03", "2028-03-03")   # organisation_accreditation_months: 36
    waiting = client.qualified_mentor("org-a", "person-w")
    clock.set(EXPIRED_DAY)

    assert organisation(client, "org-a", client.org("org-a")).status == api.ORGANISATION_STATUS_EXPIRED
    code, details = code_of(client.issue, "org-a", waiting.candidate_id)
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "organisation org-a is not accredited: its accreditation expired after 2028-03-03" in details
    code, details = code_of(client.register, "org-a", "person-late", MENTOR)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "expired after 2028-03-03" in details
    # The expiry job publishes it by itself.
    expired, = [e for e in events(lambda s: "OrganisationAccreditationExpired" in types(s, "org-a"))
                if e.event_type.endswith("OrganisationAccreditationExpired")]
    assert (payload(expired).accredited_until, payload(expired).expired_on) == ("2028-03-03", "2028-03-04")

    renewed = client("RescreenOrganisation", api.RescreenOrganisationRequest(
        request_id="rescreen-1", organisation_id="org-a"), client.regisseur).organisation
    assert (renewed.status, renewed.screened_on, renewed.accredited_until) == (
        api.ORGANISATION_STATUS_ACCREDITED, "2028-03-04", "2031-03-04")
    assert client.issue("org-a", waiting.candidate_id).certificate.status == api.CERTIFICATE_STATUS_ACTIVE

    seen = events(lambda s: "OrganisationRescreened" in types(s, "org-a"))
    assert types(seen, "org-a") == ["OrganisationAccredited", "OrganisationAccreditationExpired",
                                    "OrganisationRescreened"]
    first, _, rescreen = [e for e in seen if e.aggregate_id == "org-a"]
    assert (payload(first).screened_on, payload(first).accredited_until) == ("2025-03-03", "2028-03-03")
    assert (payload(rescreen).previous_accredited_until, payload(rescreen).accredited_until) == (
        "2028-03-03", "2031-03-04")
    assert rescreen.aggregate_type == "organisation" and rescreen.aggregate_version == 3


def test_suspension_blocks_the_organisation_and_reinstatement_restores_it_its_certificates_stay_valid(client, events):
    client.accredit("org-a")
    mentor = client.qualified_mentor("org-a", "person-m")
    issued = client.issue("org-a", mentor.candidate_id)
    waiting = client.qualified_mentor("org-a", "person-w")
    suspended = client("SuspendOrganisation", api.SuspendOrganisationRequest(
        request_id="suspend-1", organisation_id="org-a", reason="quality audit failed"), client.regisseur).organisation
    assert suspended.status == api.ORGANISATION_STATUS_SUSPENDED and suspended.suspension_reason == "quality audit failed"

    refused = [
        lambda: client.issue("org-a", waiting.candidate_id),
        lambda: client.register("org-a", "person-new", MENTOR),
        lambda: client("AssignMentee", api.AssignMenteeRequest(
            request_id="assign-1", mentor_candidate_id=mentor.candidate_id, mentee_id="mentee-1"), client.org("org-a")),
    ]
    for call in refused:
        code, details = code_of(call)
        assert code == grpc.StatusCode.FAILED_PRECONDITION
        assert "suspended by the regisseur (quality audit failed)" in details
    # The mentor's certificate is the mentor's: still valid, also to an outside verifier.
    got = client("GetCertificate", api.GetCertificateRequest(certificate_id=issued.certificate.certificate_id),
                 client.regisseur)
    assert got.certificate.status == api.CERTIFICATE_STATUS_ACTIVE
    assert client("Verify", api.VerifyRequest(credential_json=issued.credential_json)).status == \
        api.VERIFICATION_STATUS_VALID

    reinstated = client("ReinstateOrganisation", api.ReinstateOrganisationRequest(
        request_id="reinstate-1", organisation_id="org-a"), client.regisseur).organisation
    assert reinstated.status == api.ORGANISATION_STATUS_ACCREDITED and reinstated.suspension_reason == ""
    assert client.issue("org-a", waiting.candidate_id).certificate.status == api.CERTIFICATE_STATUS_ACTIVE
    client("AssignMentee", api.AssignMenteeRequest(
        request_id="assign-1", mentor_candidate_id=mentor.candidate_id, mentee_id="mentee-1"), client.org("org-a"))
    code, details = code_of(client, "ReinstateOrganisation", api.ReinstateOrganisationRequest(
        request_id="reinstate-2", organisation_id="org-a"), client.regisseur)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "not suspended" in details

    seen = events(lambda s: "OrganisationReinstated" in types(s, "org-a"))
    assert types(seen, "org-a") == ["OrganisationAccredited", "OrganisationSuspended", "OrganisationReinstated"]
    assert payload([e for e in seen if e.event_type.endswith("OrganisationSuspended")][0]).reason == \
        "quality audit failed"
    assert "CertificateSuspended" not in types(seen)


def test_only_the_regisseur_changes_an_accreditation_and_an_organisation_sees_only_its_own(client):
    client.accredit("org-a")
    client.accredit("org-b")
    changes = [
        ("AccreditOrganisation", api.AccreditOrganisationRequest(request_id="x1", organisation_id="org-c", name="C")),
        ("SuspendOrganisation", api.SuspendOrganisationRequest(request_id="x2", organisation_id="org-a", reason="r")),
        ("ReinstateOrganisation", api.ReinstateOrganisationRequest(request_id="x3", organisation_id="org-a")),
        ("RescreenOrganisation", api.RescreenOrganisationRequest(request_id="x4", organisation_id="org-a")),
    ]
    for token in (client.org("org-a"), client.token_for("enrolments", Role.SERVICE)):
        for method, request in changes:
            code, _ = code_of(client, method, request, token)
            assert code == grpc.StatusCode.PERMISSION_DENIED, method
    assert organisation(client, "org-a").status == api.ORGANISATION_STATUS_ACCREDITED
    assert organisation(client, "org-a", client.org("org-a")).name == "Organisation org-a"
    assert organisation(client, "org-a", client.token_for("enrolments", Role.SERVICE)).accredited_until == "2028-03-03"
    code, _ = code_of(organisation, client, "org-a", client.org("org-b"))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, details = code_of(organisation, client, "org-never")
    assert code == grpc.StatusCode.NOT_FOUND and "org-never" in details
    code, _ = code_of(client, "GetOrganisation", api.GetOrganisationRequest(organisation_id="org-a"))
    assert code == grpc.StatusCode.UNAUTHENTICATED


def test_a_retry_with_the_same_request_id_changes_nothing(client, clock, events, runtime):
    def call(method, request):
        return client(method, request, client.regisseur).organisation

    accredit = api.AccreditOrganisationRequest(request_id="acc-1", organisation_id="org-r", name="Retry Netwerk")
    suspend = api.SuspendOrganisationRequest(request_id="sus-1", organisation_id="org-r", reason="audit")
    reinstate = api.ReinstateOrganisationRequest(request_id="rei-1", organisation_id="org-r")
    rescreen = api.RescreenOrganisationRequest(request_id="res-1", organisation_id="org-r")
    for method, request in [("AccreditOrganisation", accredit), ("SuspendOrganisation", suspend),
                            ("ReinstateOrganisation", reinstate)]:
        first = call(method, request)
        assert call(method, request) == first, method
    clock.set(EXPIRED_DAY)
    events(lambda s: "OrganisationAccreditationExpired" in types(s, "org-r"))    # the job's, once
    first = call("RescreenOrganisation", rescreen)
    clock.set(EXPIRED_DAY.replace(year=2029))
    assert call("RescreenOrganisation", rescreen) == first     # a day later: still the first screening
    # Accrediting again under the same name changes nothing; another name, or a request id reused
    # for another request, is refused.
    assert call("AccreditOrganisation", api.AccreditOrganisationRequest(
        request_id="acc-2", organisation_id="org-r", name="Retry Netwerk")).accredited_until == "2031-03-04"
    code, details = code_of(call, "AccreditOrganisation", api.AccreditOrganisationRequest(
        request_id="acc-3", organisation_id="org-r", name="Ander Netwerk"))
    assert code == grpc.StatusCode.ALREADY_EXISTS and "Retry Netwerk" in details
    code, details = code_of(call, "SuspendOrganisation", api.SuspendOrganisationRequest(
        request_id="sus-1", organisation_id="org-r", reason="another reason"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("request_id")

    assert runtime.db["organisations"].find_one({"_id": "org-r"})["version"] == 5   # five commits, no more
    seen = events(lambda s: len(types(s, "org-r")) >= 5)
    assert [(e.event_type.rsplit(".", 1)[1], e.aggregate_version) for e in seen if e.aggregate_id == "org-r"] == [
        ("OrganisationAccredited", 1), ("OrganisationSuspended", 2), ("OrganisationReinstated", 3),
        ("OrganisationAccreditationExpired", 4), ("OrganisationRescreened", 5)]
