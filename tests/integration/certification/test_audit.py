"""The audit trail of the certification service on the real Kafka and FerretDB: a certificate's
trail shows its issue, a refused revocation by another organisation and the revocation, each with
its caller and reason; the revocation's event carries its caller."""
from __future__ import annotations

import grpc
import pytest

from llr.certification.v1 import certification_service_pb2 as api
from llr.common.v1 import audit_pb2, audit_pb2_grpc
from services.common.grpc_server import bearer
from services.common.tls import service_channel

from .conftest import types


def test_a_certificates_trail_names_who_issued_who_was_refused_and_who_revoked_it(client, runtime, events):
    client.accredit("org-a")
    client.accredit("org-b")
    issued = client.issue("org-a", client.qualified_mentor("org-a", "person-9").candidate_id).certificate
    revoke = api.RevokeCertificateRequest(request_id="rv-9", certificate_id=issued.certificate_id, reason="fraud")
    with pytest.raises(grpc.RpcError) as other:
        client("RevokeCertificate", revoke, client.org("org-b"))
    refused = other.value
    client("RevokeCertificate", revoke, client.org("org-a"))

    channel = service_channel(runtime.settings, runtime.grpc.port)
    try:
        entries = audit_pb2_grpc.AuditServiceStub(channel).GetAuditTrail(audit_pb2.GetAuditTrailRequest(
            kind="certificate", id=issued.certificate_id), metadata=bearer(client.regisseur)).entries
    finally:
        channel.close()
    assert [(e.method.rsplit("/", 1)[1], e.actor.organisation_id, e.code, e.reason) for e in entries] == [
        ("IssueCertificate", "org-a", "OK", ""),
        ("RevokeCertificate", "org-b", refused.code().name, refused.details()),
        ("RevokeCertificate", "org-a", "OK", "")]
    assert [e.decision for e in entries] == [audit_pb2.AUDIT_DECISION_ACCEPTED, audit_pb2.AUDIT_DECISION_REFUSED,
                                             audit_pb2.AUDIT_DECISION_ACCEPTED]
    assert f"candidate:{issued.candidate_id}" in entries[0].subjects

    revoked = [e for e in events(lambda seen: "CertificateRevoked" in types(seen, issued.certificate_id))
               if e.event_type.endswith("CertificateRevoked")]
    assert (revoked[0].actor.organisation_id, revoked[0].actor.role) == ("org-a", "MENTORING_ORGANISATION")
