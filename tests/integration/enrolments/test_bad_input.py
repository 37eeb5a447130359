"""Bad input never crashes an EnrolmentService call nor floods its caller, and a refused call
(or a refused row of an upload) leaves nothing behind: the findings of issue 13 as a user met
them, then every RPC fed with requests generated from its descriptor
(``tests/integration/bad_input.py``)."""
from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pymongo
import pytest

from llr.enrolments.v1 import enrolments_service_pb2 as api
from llr.enrolments.v1 import enrolments_service_pb2_grpc as api_grpc
from services.common.auth import Role, TokenIssuer
from services.common.clock import FakeClock, SystemClock
from services.enrolments.entrypoints.main import build
from services.enrolments.service.handlers import PAGE_TOKENS
from services.enrolments.settings import EnrolmentsSettings

from ..bad_input import Target, fuzz
from .conftest import BUDGET, START, Client

SERVICE = api.DESCRIPTOR.services_by_name["EnrolmentService"]
TODAY = START.date()


@pytest.fixture(scope="module")
def target(kafka, mongo_uri, public_key_file, token_keys):
    """One enrolments service for the module: an accredited provider with an offer and an enrolment."""
    unique = uuid.uuid4().hex[:10]
    settings = EnrolmentsSettings(
        grpc_port=0, mongo_db=f"test_{unique}", topic_namespace=f"t{unique}.", auth_public_key_file=public_key_file,
        auth_issuer="llr-test-idp", mongo_uri=mongo_uri, **kafka.settings_fields(),
        deadline_interval_s=0.5, outbox_poll_interval_s=0.2)
    clock = FakeClock(START)
    runtime = build(settings, clock)
    channel = grpc.insecure_channel(f"127.0.0.1:{runtime.grpc.port}")
    issuer = TokenIssuer(token_keys[0], issuer="llr-test-idp", clock=SystemClock())

    def token_for(org: str, role: Role, **kw) -> str:
        return issuer.issue(org, role, ttl=timedelta(days=365), **kw)
    try:
        client = Client(channel, token_for)
        client.accredit("prov-a")
        offer = client.offer("prov-a")
        enrolment = client.enrol("prov-a", offer.offer_id, ref="REF-1", person_id="person-1")
        prov_a = client.provider("prov-a")
        dates = [TODAY, TODAY + timedelta(days=11), TODAY + timedelta(days=25), TODAY - timedelta(days=1),
                 TODAY + timedelta(days=400)]
        yield Target(
            channel=channel, database=runtime.db,
            tokens=[prov_a, prov_a, prov_a, prov_a, client.regisseur, client.regisseur, client.provider("prov-b"),
                    token_for("statbel", Role.SERVICE), None],
            hints={"provider_id": ["prov-a", "prov-b"], "request_id": ["req-1", "req-2", "req-REF-1"],
                   "offer_id": [offer.offer_id], "enrolment_id": [enrolment.enrolment_id],
                   "person_id": ["person-1", "person-2"], "provider_reference": ["REF-1", "REF-2", "REF-3"],
                   "leercoach_id": ["person-9"], "name": ["Provider B"], "title": ["Excel"], "reason": ["ill"],
                   **{f: [d.isoformat() for d in dates] for f in (
                       "earliest_start", "latest_start", "planned_start", "planned_end", "start_date",
                       "completion_date", "dropout_date")},
                   "price_cents": [120_000], "hours": [40], "hours_attended": [0, 20, 40],
                   "page_token": [PAGE_TOKENS["enrolments"].issue(enrolment.enrolment_id, ("provider_id", "prov-a"))]})
    finally:
        channel.close()
        runtime.stop(grace_s=1)
        mongo = pymongo.MongoClient(settings.mongo_uri)
        mongo.drop_database(settings.mongo_db)
        mongo.close()


def test_a_one_megabyte_reference_fails_its_row_alone_and_briefly(target):
    stub = api_grpc.EnrolmentServiceStub(target.channel)
    rows = [api.BulkCreateEnrolmentsRequest(person_id="person-3", offer_id=target.hints["offer_id"][0],
                                            planned_start="2026-07-17", planned_end="2026-07-31", instrument=BUDGET,
                                            provider_reference=ref) for ref in ("R" * 1_000_000, "BULK-OK-1")]
    before = target.event_commits()
    reply = stub.BulkCreateEnrolments(iter(rows), metadata=[("authorization", f"Bearer {target.tokens[0]}")],
                                             timeout=60)
    bad, good = reply.results
    assert (bad.error_code, bad.field, bad.reason) == (
        "INVALID_ARGUMENT", "provider_reference", "provider_reference: must be at most 100 characters (has 1000000)")
    assert good.enrolment_id and not good.error_code and reply.created == 1
    assert len(target.event_commits() - before) == 1   # the good row's enrolment, nothing of the bad one


def test_a_page_token_this_call_did_not_issue_is_refused(target):
    stub = api_grpc.EnrolmentServiceStub(target.channel)
    metadata = [("authorization", f"Bearer {target.tokens[0]}")]
    for token in ("some-enrolment-id", PAGE_TOKENS["offers"].issue(target.hints["enrolment_id"][0],
                                                                   ("provider_id", "prov-a"))):
        with pytest.raises(grpc.RpcError) as err:   # garbage was taken as the id to continue after
            stub.ListEnrolments(api.ListEnrolmentsRequest(page_token=token), metadata=metadata, timeout=30)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details().startswith("page_token: is not a token returned by ListEnrolments")


@pytest.mark.parametrize("method", list(SERVICE.methods), ids=lambda m: m.name)
def test_generated_requests_never_crash_flood_or_half_write(target, method):
    fuzz(target, method)
