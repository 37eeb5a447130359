"""Bad input never crashes a CertificationService call nor floods its caller, and a refused call
leaves nothing behind: the findings of issue 13 as a user met them, then every RPC fed with
requests generated from its descriptor (``tests/integration/bad_input.py``)."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import grpc
import pymongo
import pytest

from llr.certification.v1 import certification_service_pb2 as api
from llr.certification.v1 import certification_service_pb2_grpc as api_grpc
from llr.certification.v1 import events_pb2
from services.certification.adapters.issuer_key import generate_issuer_key_file
from services.certification.entrypoints.main import build
from services.certification.service.handlers import CERTIFICATE_PAGES
from services.certification.settings import CertificationSettings
from services.common.auth import Role, TokenIssuer
from services.common.clock import FakeClock, SystemClock

from ..bad_input import Target, fuzz
from .conftest import START, Client

SERVICE = api.DESCRIPTOR.services_by_name["CertificationService"]
TODAY = START.date()


@pytest.fixture(scope="module")
def target(kafka, mongo_uri, public_key_file, token_keys, tmp_path_factory):
    """One certification service for the module: an accredited organisation with a certified
    leercoach (its certificate and credential known) and a certified mentor."""
    unique = uuid.uuid4().hex[:10]
    key_file = tmp_path_factory.mktemp("issuer") / "issuer.pem"
    generate_issuer_key_file(key_file)
    settings = CertificationSettings(
        grpc_port=0, http_port=0, mongo_db=f"test_{unique}", topic_namespace=f"t{unique}.", auth_public_key_file=public_key_file,
        auth_issuer="llr-test-idp", mongo_uri=mongo_uri, **kafka.settings_fields(), issuer_key_file=key_file,
        expiry_interval_s=0.2, outbox_poll_interval_s=0.1)
    clock = FakeClock(START)
    runtime = build(settings, clock)
    channel = grpc.insecure_channel(f"127.0.0.1:{runtime.grpc.port}")
    issuer = TokenIssuer(token_keys[0], issuer="llr-test-idp", clock=SystemClock())

    def token_for(org: str, role: Role, **kw) -> str:
        return issuer.issue(org, role, ttl=timedelta(days=365 * 20), **kw)
    try:
        client = Client(channel, token_for)
        client.accredit("org-a")
        leercoach = client.qualified_leercoach("org-a", "person-1")
        issued = client.issue("org-a", leercoach.candidate_id)
        mentor = client.qualified_mentor("org-a", "person-2")
        client.issue("org-a", mentor.candidate_id)
        credential = issued.credential_json
        status_lists = [e["statusListCredential"] for e in json.loads(credential)["credentialStatus"]]
        days = [TODAY, TODAY - timedelta(days=30), TODAY + timedelta(days=1)]
        org_a = client.org("org-a")
        yield Target(
            channel=channel, database=runtime.db,
            tokens=[client.regisseur, client.regisseur, org_a, org_a, org_a, client.org("org-b"),
                    token_for("statbel", Role.SERVICE), None],
            hints={"organisation_id": ["org-a", "org-b"], "person_id": ["person-1", "person-3"],
                   "request_id": ["req-1", "req-2", f"issue-{leercoach.candidate_id}"],
                   "candidate_id": [leercoach.candidate_id, mentor.candidate_id],
                   "mentor_candidate_id": [mentor.candidate_id], "mentee_id": ["person-4", "person-5"],
                   "certificate_id": [issued.certificate.certificate_id], "holder_id": ["person-1"],
                   "module_id": ["LC-DAY-1", "LC-ASSESSMENT", "MENTOR-TRAINING"], "hours": ["7", "3.5", "2"],
                   "completed_on": [d.isoformat() for d in days], "on_date": [d.isoformat() for d in days],
                   "name": ["Organisation B"], "reason": ["a reason"],
                   "page_token": [CERTIFICATE_PAGES.issue(issued.certificate.certificate_id, "org-a", "", "", "", "")],
                   "status_list_credential": status_lists,
                   "credential_json": [credential, credential.replace('"', "'", 1), credential[:-1],
                                       credential.replace("person-1", "person-9")]})
    finally:
        channel.close()
        runtime.stop(grace_s=1)
        client = pymongo.MongoClient(settings.mongo_uri)
        client.drop_database(settings.mongo_db)
        client.close()


def test_a_credential_nested_100000_levels_deep_is_malformed_not_a_crash(target):
    stub = api_grpc.CertificationServiceStub(target.channel)
    reply = stub.Verify(api.VerifyRequest(credential_json="[" * 100_000 + "]" * 100_000), timeout=30)
    assert reply.status == api.VERIFICATION_STATUS_MALFORMED   # was UNKNOWN: maximum recursion depth exceeded
    assert reply.reason == "credential nests more than 32 levels deep"


def test_a_one_megabyte_certificate_id_is_an_error_the_caller_can_read(target):
    stub = api_grpc.CertificationServiceStub(target.channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.GetCertificate(api.GetCertificateRequest(certificate_id="c" * 1_000_000),
                            metadata=[("authorization", f"Bearer {target.tokens[0]}")], timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == "certificate_id: must be at most 100 characters (has 1000000)"


def test_a_page_token_of_other_filters_is_refused(target):
    stub = api_grpc.CertificationServiceStub(target.channel)
    metadata = [("authorization", f"Bearer {target.tokens[2]}")]   # org-a
    first = stub.ListCertificates(api.ListCertificatesRequest(page_size=1), metadata=metadata, timeout=30)
    assert first.next_page_token
    assert len(stub.ListCertificates(api.ListCertificatesRequest(page_size=1, page_token=first.next_page_token),
                                     metadata=metadata, timeout=30).certificates) == 1
    with pytest.raises(grpc.RpcError) as err:
        stub.ListCertificates(api.ListCertificatesRequest(page_size=1, page_token=first.next_page_token,
                                                          role=events_pb2.CREDENTIAL_TYPE_MENTOR),
                              metadata=metadata, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("page_token: is not a token returned by ListCertificates")


@pytest.mark.parametrize("method", list(SERVICE.methods), ids=lambda m: m.name)
def test_generated_requests_never_crash_flood_or_half_write(target, method):
    fuzz(target, method)
