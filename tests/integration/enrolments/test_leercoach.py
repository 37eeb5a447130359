"""A named leercoach must hold a valid leercoach certificate on the planned start, as known from
certification events produced on the real broker."""
from __future__ import annotations

import itertools

import grpc

from llr.certification.v1 import events_pb2 as cert

from .conftest import rpc_error, wait_for


def issued(certificate_id, holder_id, role=cert.CREDENTIAL_TYPE_LEERCOACH, valid_until="2029-03-02"):
    return cert.CertificateIssued(certificate_id=certificate_id, holder_id=holder_id, candidate_id="cand",
                                  organisation_id="org-m", role=role, valid_from="2026-03-03",
                                  valid_until=valid_until, policy_version="2025.1")


def accepted(client, offer_id, ref, leercoach_id, **kw):
    """Post until the projection has caught up (FAILED_PRECONDITION until then), bounded."""
    def attempt():
        try:
            return client.enrol("prv-a", offer_id, ref=ref, person_id=f"person-{ref}", leercoach_id=leercoach_id, **kw)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.FAILED_PRECONDITION, err.details()
            return None
    return wait_for(attempt, what=f"leercoach {leercoach_id} accepted")


def refused(client, offer_id, ref, leercoach_id, **kw):
    """Post until refused (the projection may lag the event just produced); each attempt uses a
    fresh reference, since an attempt that got in before the event is a real enrolment."""
    attempts = itertools.count()

    def attempt():
        n = next(attempts)
        try:
            client.enrol("prv-a", offer_id, ref=f"{ref}-{n}", person_id=f"person-{ref}-{n}",
                         leercoach_id=leercoach_id, **kw)
            return None
        except grpc.RpcError as err:
            return err
    err = wait_for(attempt, what=f"leercoach {leercoach_id} refused")
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "leercoach" in err.details()
    return err


def test_leercoach_accepted_only_while_certified(client, broker):
    client.accredit("prv-a")
    offer = client.offer("prv-a")
    err = rpc_error(client.enrol, "prv-a", offer.offer_id, "E-0", "person-0", leercoach_id="coach-1")
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "coach-1" in err.details()

    broker.certificate(issued("cert-1", "coach-1"), "cert-1")
    broker.certificate(issued("cert-m", "mentor-1", role=cert.CREDENTIAL_TYPE_MENTOR), "cert-m")
    e = accepted(client, offer.offer_id, "E-1", "coach-1")
    assert e.leercoach_id == "coach-1"

    broker.certificate(cert.CertificateSuspended(certificate_id="cert-1", suspended_from="2026-07-01",
                                                 reason="complaint"), "cert-1")
    refused(client, offer.offer_id, "E-2", "coach-1")
    broker.certificate(cert.CertificateReinstated(certificate_id="cert-1", reinstated_on="2026-07-06"), "cert-1")
    accepted(client, offer.offer_id, "E-3", "coach-1")
    broker.certificate(cert.CertificateRevoked(certificate_id="cert-1", revoked_on="2026-07-06", reason="fraud"),
                       "cert-1")
    refused(client, offer.offer_id, "E-4", "coach-1")

    # a mentor certificate does not make a leercoach
    err = rpc_error(client.enrol, "prv-a", offer.offer_id, "E-5", "person-5", leercoach_id="mentor-1")
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_leercoach_certificate_must_cover_the_planned_start(client, broker):
    client.accredit("prv-a")
    offer = client.offer("prv-a")
    broker.certificate(issued("cert-2", "coach-2", valid_until="2026-07-20"), "cert-2")
    accepted(client, offer.offer_id, "F-1", "coach-2")                       # start 17 July: covered
    err = rpc_error(client.enrol, "prv-a", offer.offer_id, "F-2", "person-F-2", leercoach_id="coach-2",
                    planned_start="2026-08-03", planned_end="2026-08-14")
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "2026-08-03" in err.details()
    broker.certificate(cert.CertificateRenewed(certificate_id="cert-2", previous_valid_until="2026-07-20",
                                               valid_until="2029-07-20", role=cert.CREDENTIAL_TYPE_LEERCOACH), "cert-2")
    accepted(client, offer.offer_id, "F-2", "coach-2", planned_start="2026-08-03", planned_end="2026-08-14")
    broker.certificate(cert.CertificateExpired(certificate_id="cert-2", expired_on="2026-07-06"), "cert-2")
    refused(client, offer.offer_id, "F-3", "coach-2")
