"""The certification service in-process on the real Kafka and FerretDB, on a FakeClock."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pymongo
import pytest

from llr.certification.v1 import certification_service_pb2 as api
from llr.certification.v1 import certification_service_pb2_grpc as api_grpc
from llr.certification.v1 import events_pb2  # noqa: F401  (registers the payload types for unwrap)
from services.certification.adapters.issuer_key import generate_issuer_key_file
from services.certification.entrypoints.main import build
from services.certification.settings import CertificationSettings
from services.common.auth import Role
from services.common.clock import FakeClock
from services.common.envelope import decode, unwrap
from services.common.grpc_server import bearer
from services.common.kafka import make_consumer
from services.common.tls import service_channel
from tests.eventually import eventually

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)


class Client:
    """The gRPC stub plus tokens: ``client.call("IssueCertificate", req, as_=token)``."""

    def __init__(self, channel, token_for):
        self.stub = api_grpc.CertificationServiceStub(channel)
        self.token_for = token_for
        self.regisseur = token_for("vdab", Role.REGISSEUR)

    def org(self, organisation_id: str) -> str:
        return self.token_for(organisation_id, Role.MENTORING_ORGANISATION)

    def __call__(self, method: str, request, token: str | None = None):
        metadata = bearer(token) if token else None
        return getattr(self.stub, method)(request, metadata=metadata, timeout=30)

    # common flows
    def accredit(self, org_id: str):
        return self("AccreditOrganisation", api.AccreditOrganisationRequest(
            request_id=f"acc-{org_id}", organisation_id=org_id, name=f"Organisation {org_id}"), self.regisseur)

    def rescreen(self, org_id: str):
        """The regisseur screens the organisation again today (its accreditation runs 36 months,
        less than a certificate's life)."""
        return self("RescreenOrganisation", api.RescreenOrganisationRequest(
            request_id=f"rescreen-{uuid.uuid4().hex}", organisation_id=org_id), self.regisseur)

    def register(self, org_id: str, person_id: str, role: int, request_id: str | None = None):
        return self("RegisterCandidate", api.RegisterCandidateRequest(
            request_id=request_id or f"reg-{person_id}", person_id=person_id, role=role), self.org(org_id)).candidate

    def train(self, org_id: str, candidate_id: str, module_id: str, hours: str = "7",
              result: int = api.ASSESSMENT_RESULT_NOT_ASSESSED, completed_on: str = "2025-02-20"):
        return self("RecordTraining", api.RecordTrainingRequest(
            request_id=f"tr-{candidate_id}-{module_id}", candidate_id=candidate_id, module_id=module_id,
            hours=hours, completed_on=completed_on, result=result), self.org(org_id)).record

    def qualified_leercoach(self, org_id: str, person_id: str):
        cand = self.register(org_id, person_id, events_pb2.CREDENTIAL_TYPE_LEERCOACH)
        for day in range(1, 6):
            self.train(org_id, cand.candidate_id, f"LC-DAY-{day}")
        self.train(org_id, cand.candidate_id, "LC-ASSESSMENT", hours="2", result=api.ASSESSMENT_RESULT_PASSED)
        return cand

    def qualified_mentor(self, org_id: str, person_id: str):
        cand = self.register(org_id, person_id, events_pb2.CREDENTIAL_TYPE_MENTOR)
        self.train(org_id, cand.candidate_id, "MENTOR-TRAINING")
        return cand

    def issue(self, org_id: str, candidate_id: str, request_id: str | None = None):
        return self("IssueCertificate", api.IssueCertificateRequest(
            request_id=request_id or f"issue-{candidate_id}", candidate_id=candidate_id), self.org(org_id))


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def issuer_key_file(tmp_path):
    path = tmp_path / "issuer.pem"
    generate_issuer_key_file(path)
    return path


@pytest.fixture
def settings(unique, mongo_uri, kafka, public_key_file, issuer_key_file):
    return CertificationSettings(
        grpc_port=0, http_port=0, mongo_db=f"test_{unique}", topic_namespace=f"t{unique}.", auth_public_key_file=public_key_file,
        auth_issuer="llr-test-idp", mongo_uri=mongo_uri, **kafka.settings_fields(),
        issuer_key_file=issuer_key_file, expiry_interval_s=0.2, outbox_poll_interval_s=0.1,
    )


@pytest.fixture
def runtime(settings, clock):
    rt = build(settings, clock)
    yield rt
    rt.stop(grace_s=1)
    client = pymongo.MongoClient(settings.mongo_uri)
    client.drop_database(settings.mongo_db)
    client.close()


@pytest.fixture
def client(runtime, token_for):
    channel = service_channel(runtime.settings, runtime.grpc.port)
    yield Client(channel, token_for)
    channel.close()


@pytest.fixture
def events(settings):
    """``events(n, until=predicate)``: the envelopes on the service's topic, in order per key."""
    consumer = make_consumer(settings.kafka, settings.events_topic,
                             auto_offset_reset="earliest", group_id=f"test-{uuid.uuid4().hex[:8]}",
                             enable_auto_commit=False)
    seen: list = []

    def read(until, timeout_s: float = 30.0):
        def poll_and_check():
            for records in consumer.poll(timeout_ms=300).values():
                seen.extend(decode(r.value) for r in records)
            return until(seen)
        eventually(poll_and_check, timeout_s=timeout_s, pause_s=0,
                   what=lambda: f"events; seen: {[e.event_type for e in seen]}")
        return list(seen)

    yield read
    consumer.close()


def types(envelopes, aggregate_id: str | None = None) -> list[str]:
    return [e.event_type.rsplit(".", 1)[1] for e in envelopes if aggregate_id in (None, e.aggregate_id)]


def payload(envelope):
    return unwrap(envelope)


def wait_for(predicate, timeout_s: float = 15.0, what: str = "condition"):
    return eventually(predicate, timeout_s=timeout_s, what=what)
