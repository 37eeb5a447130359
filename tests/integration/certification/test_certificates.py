"""Certificates over gRPC on the real Kafka and FerretDB: issue, events, verifiable credentials,
status lists, lifecycle on a FakeClock, idempotency and one live certificate per candidate."""
from __future__ import annotations

import json
from datetime import timedelta

import grpc
import pytest

from llr.certification.v1 import certification_service_pb2 as api
from llr.certification.v1 import events_pb2
from services.certification.domain.credentials.status_list import StatusPurpose, decode_bits, bit_is_set
from services.certification.domain.credentials.verify import VerificationStatus, verify

from .conftest import payload, types, wait_for

LEERCOACH, MENTOR = events_pb2.CREDENTIAL_TYPE_LEERCOACH, events_pb2.CREDENTIAL_TYPE_MENTOR


def rpc_error(call, *args):
    with pytest.raises(grpc.RpcError) as err:
        call(*args)
    return err.value


def offline_verify(client, credential_json: str, clock):
    """What an independent verifier does: fetch the issuer key and the status lists through the
    public API (no token) and verify locally with nothing but those."""
    issuer = client("GetIssuer", api.GetIssuerRequest())
    lists = {}
    for entry in json.loads(credential_json)["credentialStatus"]:
        url = entry["statusListCredential"]
        lists[url] = client("GetStatusList", api.GetStatusListRequest(status_list_credential=url)).status_list_json
    return verify(credential_json, lists, {issuer.verification_method: issuer.public_key_multibase}, clock.now())


def test_register_train_issue_publishes_the_events_in_order(client, events):
    client.accredit("org-a")
    cand = client.qualified_leercoach("org-a", "person-1")
    reply = client.issue("org-a", cand.candidate_id)
    cert = reply.certificate
    assert (cert.status, cert.role, cert.holder_id, cert.organisation_id) == (
        api.CERTIFICATE_STATUS_ACTIVE, LEERCOACH, "person-1", "org-a")
    assert (cert.valid_from, cert.valid_until, cert.qualification_number) == ("2025-03-03", "2028-03-02", 1)

    seen = events(lambda evs: "CertificateIssued" in types(evs))
    assert types(seen, "org-a") == ["OrganisationAccredited"]
    assert types(seen, cand.candidate_id) == ["CandidateRegistered"] + ["TrainingRecorded"] * 6
    issued = [e for e in seen if e.aggregate_id == cert.certificate_id]
    assert types(issued) == ["CertificateIssued"]
    envelope = issued[0]
    assert (envelope.aggregate_type, envelope.producer, envelope.aggregate_version) == ("certificate", "certification", 1)
    body = payload(envelope)
    # The fields the enrolments service and the KPIs rely on.
    assert (body.holder_id, body.role, body.certificate_id, body.valid_until, body.qualification_number) == (
        "person-1", LEERCOACH, cert.certificate_id, "2028-03-02", 1)
    assert body.credential_id == json.loads(reply.credential_json)["id"] == cert.credential_id
    assert len({e.event_id for e in seen}) == len(seen)


def test_issue_is_refused_with_every_missing_requirement_and_nothing_written(client):
    client.accredit("org-a")
    cand = client.register("org-a", "person-2", LEERCOACH)
    client.train("org-a", cand.candidate_id, "LC-DAY-1")
    client.train("org-a", cand.candidate_id, "LC-ASSESSMENT", hours="2", result=api.ASSESSMENT_RESULT_FAILED)
    err = rpc_error(client.issue, "org-a", cand.candidate_id)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    for missing in ("LC-DAY-2", "LC-DAY-3", "LC-DAY-4", "LC-DAY-5", "7 of the required 35 training hours",
                    "assessment LC-ASSESSMENT not passed"):
        assert missing in err.details()
    listed = client("ListCertificates", api.ListCertificatesRequest(), client.regisseur)
    assert list(listed.certificates) == []
    # The same answer, itemised, from the requirements call.
    req = client("GetRequirements", api.GetRequirementsRequest(candidate_id=cand.candidate_id), client.org("org-a"))
    assert not req.requirements_met
    assert [m.code for m in req.missing] == ["MODULE_NOT_COMPLETED"] * 4 + ["INSUFFICIENT_HOURS", "ASSESSMENT_NOT_PASSED"]
    assert {r.role for r in req.requirements} == {LEERCOACH, MENTOR}


def test_credential_round_trip_and_tamper_detection(client, clock):
    client.accredit("org-a")
    cand = client.qualified_leercoach("org-a", "person-3")
    issued = client.issue("org-a", cand.candidate_id)
    got = client("GetCertificate", api.GetCertificateRequest(certificate_id=issued.certificate.certificate_id),
                 client.org("org-a"))
    assert got.credential_json == issued.credential_json
    credential = json.loads(got.credential_json)
    assert credential["credentialSubject"]["id"] == "urn:llr:person:person-3"
    assert credential["proof"]["cryptosuite"] == "eddsa-jcs-2022"

    verified = client("Verify", api.VerifyRequest(credential_json=got.credential_json))  # no token: public
    assert verified.status == api.VERIFICATION_STATUS_VALID, verified.reason
    assert (verified.credential_id, verified.subject_id) == (credential["id"], "urn:llr:person:person-3")
    assert offline_verify(client, got.credential_json, clock).status is VerificationStatus.VALID

    for tamper in (lambda c: c["credentialSubject"].update(id="urn:llr:person:someone-else"),
                   lambda c: c.update(validUntil="2099-12-31T23:59:59Z"),
                   lambda c: c["credentialStatus"][0].update(statusListIndex="1")):
        forged = json.loads(got.credential_json)
        tamper(forged)
        result = client("Verify", api.VerifyRequest(credential_json=json.dumps(forged)))
        assert result.status == api.VERIFICATION_STATUS_INVALID_SIGNATURE, result.reason
    garbage = client("Verify", api.VerifyRequest(credential_json="{not json"))
    assert garbage.status == api.VERIFICATION_STATUS_MALFORMED
    empty = rpc_error(client, "Verify", api.VerifyRequest())
    assert empty.code() == grpc.StatusCode.INVALID_ARGUMENT and "credential_json" in empty.details()


def test_revoked_and_suspended_credentials_are_reported_by_verify(client, clock, events):
    client.accredit("org-a")
    revoked = client.issue("org-a", client.qualified_leercoach("org-a", "person-4").candidate_id)
    suspended = client.issue("org-a", client.qualified_mentor("org-a", "person-5").candidate_id)
    token = client.org("org-a")

    r = client("RevokeCertificate", api.RevokeCertificateRequest(
        request_id="rv-1", certificate_id=revoked.certificate.certificate_id, reason="fraud in the assessment"),
        token).certificate
    assert (r.status, r.revocation_reason, r.revoked_on) == (api.CERTIFICATE_STATUS_REVOKED,
                                                             "fraud in the assessment", "2025-03-03")
    s = client("SuspendCertificate", api.SuspendCertificateRequest(
        request_id="sp-1", certificate_id=suspended.certificate.certificate_id, reason="complaint under review"),
        token).certificate
    assert s.status == api.CERTIFICATE_STATUS_SUSPENDED

    result = client("Verify", api.VerifyRequest(credential_json=revoked.credential_json))
    assert result.status == api.VERIFICATION_STATUS_REVOKED, result.reason
    assert offline_verify(client, revoked.credential_json, clock).status is VerificationStatus.REVOKED
    # The bit itself, in the signed list fetched through the API.
    entry = json.loads(revoked.credential_json)["credentialStatus"][0]
    assert entry["statusPurpose"] == StatusPurpose.REVOCATION
    listed = json.loads(client("GetStatusList", api.GetStatusListRequest(
        status_list_credential=entry["statusListCredential"])).status_list_json)
    assert listed["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert bit_is_set(decode_bits(listed["credentialSubject"]["encodedList"]), int(entry["statusListIndex"]))

    result = client("Verify", api.VerifyRequest(credential_json=suspended.credential_json))
    assert result.status == api.VERIFICATION_STATUS_SUSPENDED, result.reason
    client("ReinstateCertificate", api.ReinstateCertificateRequest(
        request_id="rs-1", certificate_id=suspended.certificate.certificate_id), token)
    assert client("Verify", api.VerifyRequest(credential_json=suspended.credential_json)).status == \
        api.VERIFICATION_STATUS_VALID

    rid, sid = revoked.certificate.certificate_id, suspended.certificate.certificate_id
    seen = events(lambda evs: "CertificateReinstated" in types(evs, sid) and "CertificateRevoked" in types(evs, rid))
    assert types(seen, rid) == ["CertificateIssued", "CertificateRevoked"]
    assert types(seen, sid) == ["CertificateIssued", "CertificateSuspended", "CertificateReinstated"]
    revoked_event = payload([e for e in seen if e.aggregate_id == rid][-1])
    assert (revoked_event.reason, revoked_event.revoked_on) == ("fraud in the assessment", "2025-03-03")

    # A revoked certificate stays revoked.
    err = rpc_error(client, "ReinstateCertificate", api.ReinstateCertificateRequest(request_id="rs-2", certificate_id=rid),
                    token)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_lifecycle_on_the_fake_clock_expiry_fires_by_itself_and_renewal(client, clock, events):
    client.accredit("org-a")
    token = client.org("org-a")
    leercoach = client.qualified_leercoach("org-a", "person-6")
    first = client.issue("org-a", leercoach.candidate_id)
    cid = first.certificate.certificate_id

    # Too early to renew, and not enough continuing education yet.
    err = rpc_error(client, "RenewCertificate", api.RenewCertificateRequest(request_id="rn-0", certificate_id=cid), token)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "renewal opens on 2027-09-04" in err.details()

    clock.advance(timedelta(days=365 * 3 - 30))                     # 2028-02-02, inside the window
    client.train("org-a", leercoach.candidate_id, "LC-CE-2027", hours="21", completed_on="2027-11-15")
    renewed = client("RenewCertificate", api.RenewCertificateRequest(request_id="rn-1", certificate_id=cid), token)
    assert renewed.certificate.valid_until == "2031-03-02"
    assert renewed.credential_json != first.credential_json
    assert json.loads(renewed.credential_json)["validUntil"] == "2031-03-02T23:59:59Z"

    # Nobody calls anything: the periodic job expires the certificate once its last day passed.
    clock.set(clock.now().replace(year=2031, month=3, day=3, hour=0, minute=5))
    wait_for(lambda: client("GetCertificate", api.GetCertificateRequest(certificate_id=cid), token)
             .certificate.status == api.CERTIFICATE_STATUS_EXPIRED, what="the expiry job")
    result = client("Verify", api.VerifyRequest(credential_json=renewed.credential_json))
    assert result.status == api.VERIFICATION_STATUS_EXPIRED
    seen = events(lambda evs: "CertificateExpired" in types(evs, cid))
    assert types(seen, cid) == ["CertificateIssued", "CertificateRenewed", "CertificateExpired"]
    expired = payload(seen[-1] if seen[-1].aggregate_id == cid else [e for e in seen if e.aggregate_id == cid][-1])
    assert expired.expired_on == "2031-03-03"

    # The expired certificate no longer blocks a new one for the same candidate (from the
    # organisation, re-screened since its accreditation ran out on 2028-03-03).
    client.rescreen("org-a")
    again = client.issue("org-a", leercoach.candidate_id, request_id="issue-again")
    assert again.certificate.certificate_id != cid
    assert again.certificate.qualification_number == 2


def test_one_live_certificate_per_candidate_and_idempotent_retries(client, events):
    client.accredit("org-a")
    token = client.org("org-a")
    cand = client.qualified_mentor("org-a", "person-7")
    # A retried registration returns the first answer; another request for the same person is refused.
    again = client.register("org-a", "person-7", MENTOR)
    assert again.candidate_id == cand.candidate_id
    dup = rpc_error(client.register, "org-a", "person-7", MENTOR, "reg-other")
    assert dup.code() == grpc.StatusCode.ALREADY_EXISTS

    first = client.issue("org-a", cand.candidate_id, request_id="issue-1")
    retry = client.issue("org-a", cand.candidate_id, request_id="issue-1")
    assert retry == first
    second = rpc_error(client.issue, "org-a", cand.candidate_id, "issue-2")
    assert second.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert first.certificate.certificate_id in second.details()

    cid = first.certificate.certificate_id
    suspend = api.SuspendCertificateRequest(request_id="sp-1", certificate_id=cid, reason="review")
    answer = client("SuspendCertificate", suspend, token)
    client("ReinstateCertificate", api.ReinstateCertificateRequest(request_id="rs-1", certificate_id=cid), token)
    assert client("SuspendCertificate", suspend, token) == answer          # first answer, not a second suspension
    reused = rpc_error(client, "SuspendCertificate",
                       api.SuspendCertificateRequest(request_id="sp-1", certificate_id=cid, reason="other"), token)
    assert reused.code() == grpc.StatusCode.INVALID_ARGUMENT and "request_id" in reused.details()

    seen = events(lambda evs: "CertificateReinstated" in types(evs, cid))
    assert types(seen, cid) == ["CertificateIssued", "CertificateSuspended", "CertificateReinstated"]
    assert types(seen, cand.candidate_id) == ["CandidateRegistered", "TrainingRecorded"]


def test_list_is_paginated_and_scoped_to_the_organisation(client):
    for org in ("org-a", "org-b"):
        client.accredit(org)
    ids_a = [client.issue("org-a", client.qualified_mentor("org-a", f"pa-{i}").candidate_id).certificate.certificate_id
             for i in range(3)]
    id_b = client.issue("org-b", client.qualified_mentor("org-b", "pb-0").candidate_id).certificate.certificate_id

    token_a, pages, page_token = client.org("org-a"), [], ""
    while True:
        page = client("ListCertificates", api.ListCertificatesRequest(page_size=2, page_token=page_token), token_a)
        pages.append([c.certificate_id for c in page.certificates])
        page_token = page.next_page_token
        if not page_token:
            break
    assert [len(p) for p in pages] == [2, 1]
    assert sorted(sum(pages, [])) == sorted(ids_a)
    everything = client("ListCertificates", api.ListCertificatesRequest(), client.regisseur)
    assert sorted(c.certificate_id for c in everything.certificates) == sorted(ids_a + [id_b])
    only_b = client("ListCertificates", api.ListCertificatesRequest(organisation_id="org-b"), client.regisseur)
    assert [c.certificate_id for c in only_b.certificates] == [id_b]

    err = rpc_error(client, "ListCertificates", api.ListCertificatesRequest(organisation_id="org-b"), token_a)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = rpc_error(client, "ListCertificates", api.ListCertificatesRequest(page_token="bogus"), token_a)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in err.details()


def test_renewal_in_the_grace_period_reclaims_the_slot_unless_a_new_certificate_took_it(client, clock, events):
    client.accredit("org-a")
    token = client.org("org-a")
    kept = client.qualified_mentor("org-a", "mentor-g1")
    replaced = client.qualified_mentor("org-a", "mentor-g2")
    kept_id = client.issue("org-a", kept.candidate_id).certificate.certificate_id
    replaced_id = client.issue("org-a", replaced.candidate_id).certificate.certificate_id

    clock.set(clock.now().replace(year=2030, month=3, day=10))            # valid until 2030-03-02
    client.rescreen("org-a")                                              # (the organisation: 2028-03-03)
    for cid in (kept_id, replaced_id):
        wait_for(lambda: client("GetCertificate", api.GetCertificateRequest(certificate_id=cid), token)
                 .certificate.status == api.CERTIFICATE_STATUS_EXPIRED, what="the expiry job")
    for cand in (kept, replaced):
        client.train("org-a", cand.candidate_id, "MENTOR-CE", hours="14", completed_on="2029-06-01")
    new_id = client.issue("org-a", replaced.candidate_id, request_id="issue-new").certificate.certificate_id

    renewed = client("RenewCertificate", api.RenewCertificateRequest(request_id="rn-g1", certificate_id=kept_id), token)
    assert (renewed.certificate.status, renewed.certificate.valid_until) == (api.CERTIFICATE_STATUS_ACTIVE, "2035-03-09")
    assert client("Verify", api.VerifyRequest(credential_json=renewed.credential_json)).status == \
        api.VERIFICATION_STATUS_VALID
    err = rpc_error(client, "RenewCertificate", api.RenewCertificateRequest(request_id="rn-g2",
                                                                            certificate_id=replaced_id), token)
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and new_id in err.details()
    seen = events(lambda evs: "CertificateRenewed" in types(evs, kept_id))
    assert types(seen, kept_id) == ["CertificateIssued", "CertificateExpired", "CertificateRenewed"]
