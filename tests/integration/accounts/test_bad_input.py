"""Bad input never crashes an AccountService call nor floods its caller, and a refused call
leaves nothing behind: the findings of issue 13 as a user met them, then every RPC fed with
requests generated from its descriptor (``tests/integration/bad_input.py``)."""
from __future__ import annotations

import uuid
from datetime import timedelta

import grpc
import pytest

from llr.accounts.v1 import accounts_service_pb2 as api
from llr.accounts.v1 import accounts_service_pb2_grpc as api_grpc
from services.accounts.entrypoints.grpc_api import ENTRY_PAGES
from services.accounts.entrypoints.main import build
from services.accounts.settings import AccountsSettings
from services.common.auth import Role, TokenIssuer
from services.common.clock import FakeClock, SystemClock
from services.common.grpc_server import bearer
from services.common.mongo import make_client

from ..bad_input import Target, fuzz
from .conftest import START, Harness, person_registered

SERVICE = api.DESCRIPTOR.services_by_name["AccountService"]
PERSON, OTHER = "pp-fuzz-1", "pp-fuzz-2"
TODAY = START.date()


@pytest.fixture(scope="module")
def target(kafka, mongo_uri, public_key_file, token_keys):
    """One accounts service for the module, with two opened accounts and a career cheque."""
    unique = uuid.uuid4().hex[:10]
    clock = FakeClock(START)
    settings = AccountsSettings(grpc_port=0, mongo_db=f"test_acc_{unique}", topic_namespace=f"t{unique}.",
                                mongo_uri=mongo_uri, **kafka.settings_fields(),
                                auth_public_key_file=public_key_file, auth_issuer="llr-test-idp",
                                outbox_poll_interval_s=0.05)
    runtime = build(settings, clock)
    harness = Harness(settings, runtime, clock, kafka)
    try:
        for person in (PERSON, OTHER):
            harness.send("population", person_registered(person), person, event_id=f"reg-{person}")
        harness.wait_for(lambda seen: {p.person_id for _, p in seen if type(p).__name__ == "AccountOpened"}
                         == {PERSON, OTHER})
        issuer = TokenIssuer(token_keys[0], issuer="llr-test-idp", clock=SystemClock())

        def token(org: str, role: Role, **kw) -> str:
            return issuer.issue(org, role, ttl=timedelta(days=365 * 20), **kw)
        regisseur, counter = token("vdab", Role.REGISSEUR), token("loket", Role.CITIZEN_COUNTER, person_id=PERSON)
        stub = api_grpc.AccountServiceStub(harness.channel)
        cheque = stub.BuyCareerCheque(api.BuyCareerChequeRequest(
            request_id="buy-1", person_id=PERSON), metadata=bearer(counter)).cheque
        # a second cheque, redeemed at an accredited career centre (its trajectory's RPCs get past the lookups)
        other_counter, centre = token("loket", Role.CITIZEN_COUNTER, person_id=OTHER), token("lc-fuzz", Role.CAREER_CENTRE)
        stub.AccreditCareerCentre(api.AccreditCareerCentreRequest(request_id="acc-1", centre_id="lc-fuzz",
                                                                  name="Loopbaancentrum Fuzz"), metadata=bearer(regisseur))
        redeemed = stub.BuyCareerCheque(api.BuyCareerChequeRequest(request_id="buy-2", person_id=OTHER),
                                        metadata=bearer(other_counter)).cheque
        stub.RedeemCareerCheque(api.RedeemCareerChequeRequest(request_id="redeem-1", person_id=OTHER,
                                                              cheque_id=redeemed.cheque_id, centre_id="lc-fuzz"),
                                metadata=bearer(other_counter))
        days = [TODAY, TODAY - timedelta(days=30), TODAY - timedelta(days=400), TODAY + timedelta(days=1)]
        yield Target(
            channel=harness.channel, database=runtime.db,
            tokens=[regisseur, regisseur, regisseur, counter, counter,
                    other_counter, centre, centre, token("prov-1", Role.PROVIDER), None],
            hints={"person_id": [PERSON, OTHER], "request_id": ["req-1", "req-2", "buy-1"],
                   "cheque_id": [cheque.cheque_id, redeemed.cheque_id], "centre_id": ["lc-fuzz", "lc-other"],
                   "phase": ["INTAKE", "ANALYSIS", "EVALUATION", "POP"],
                   "dimension": ["MEANING", "AUTONOMY", "COMPETENCE", "CONNECTION", "SAFETY", "BALANCE"],
                   "score": [1, 3, 5], "name": ["Loopbaancentrum Fuzz"],
                   "step_date": [d.isoformat() for d in days], "redeemed_on": [d.isoformat() for d in days],
                   "cashed_on": [d.isoformat() for d in days], "purchase_date": [d.isoformat() for d in days],
                   "guidance_date": [d.isoformat() for d in days], "assessed_on": [d.isoformat() for d in days],
                   "wallet": ["TRAINING_BUDGET", "CAREER_CHEQUE", "TRAINING_LEAVE@2025-2026"],
                   "kind": ["TRAINING_BUDGET", "CAREER_CHEQUE", "TRAINING_CHEQUE", "TRAINING_LEAVE"],
                   "page_token": [ENTRY_PAGES.issue_offset(1, PERSON)], "hours": [1, 2, 4],
                   "amount_cents": [100, 2_500], "outcome": ["POP_DELIVERED"]})
    finally:
        harness.channel.close()
        harness.consumer.close()
        harness.producer.close()
        runtime.stop(1)
        client = make_client(mongo_uri)
        client.drop_database(settings.mongo_db)
        client.close()


def refused(target: Target, method: str, request) -> grpc.RpcError:
    stub = api_grpc.AccountServiceStub(target.channel)
    before = target.event_commits()
    with pytest.raises(grpc.RpcError) as err:
        getattr(stub, method)(request, metadata=bearer(target.tokens[0]), timeout=30)
    assert target.event_commits() == before
    return err.value


def test_a_one_megabyte_note_is_refused_before_anything_is_written(target):
    err = refused(target, "RecordComplexityAssessment", api.RecordComplexityAssessmentRequest(
        request_id="note-1", person_id=PERSON, complex=True, note="n" * 1_000_000))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == "note: must be at most 2000 characters (has 1000000)"


@pytest.mark.parametrize("assessed_on, problem", [
    ("9999-01-01", "assessed_on: must be an ISO date YYYY-MM-DD from 2000-01-01 to 2099-12-31"),
    ((TODAY + timedelta(days=1)).isoformat(), f"assessed_on: must not be after today ({TODAY.isoformat()})"),
    ("2023-01-01", "assessed_on: must not be before"),
])
def test_an_assessment_dated_in_the_future_or_long_ago_is_refused(target, assessed_on, problem):
    err = refused(target, "RecordComplexityAssessment", api.RecordComplexityAssessmentRequest(
        request_id=f"date-{assessed_on}", person_id=PERSON, complex=True, assessed_on=assessed_on))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and err.details().startswith(problem)


def test_a_one_megabyte_id_is_an_error_the_caller_can_read(target):
    err = refused(target, "GetAccount", api.GetAccountRequest(person_id="p" * 1_000_000))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT   # was RESOURCE_EXHAUSTED: the id came back whole
    assert err.details() == "person_id: must be at most 100 characters (has 1000000)"


@pytest.mark.parametrize("token", ["garbage", "MTA", ENTRY_PAGES.issue_offset(1, OTHER)])
def test_a_page_token_this_call_did_not_issue_is_refused(target, token):
    err = refused(target, "ListEntries", api.ListEntriesRequest(person_id=PERSON, page_token=token))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("page_token: is not a token returned by ListEntries")


@pytest.mark.parametrize("method", list(SERVICE.methods), ids=lambda m: m.name)
def test_generated_requests_never_crash_flood_or_half_write(target, method):
    fuzz(target, method)
