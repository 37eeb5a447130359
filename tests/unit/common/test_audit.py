"""The audit trail without infrastructure: which calls are commands, which subjects an entry goes
to, the actor on the envelope, and the interceptor and ``GetAuditTrail`` on a local gRPC server
with the in-memory log (``tests/integration/enrolments/test_audit.py`` runs them on FerretDB and
Kafka)."""
from __future__ import annotations

import contextvars
from datetime import datetime, timezone

import grpc
import pytest

from llr.accounts.v1 import accounts_service_pb2
from llr.certification.v1 import certification_service_pb2
from llr.common.v1 import audit_pb2, audit_pb2_grpc
from llr.enrolments.v1 import enrolments_service_pb2 as api
from llr.enrolments.v1 import enrolments_service_pb2_grpc as api_grpc
from llr.enrolments.v1 import events_pb2
from services.common import auth
from services.common.audit import AuditTrail, is_command, subjects_of
from services.common.auth import Principal, Role, TokenIssuer, TokenVerifier, generate_keypair
from services.common.clock import FakeClock, SystemClock
from services.common.envelope import wrap
from services.common.errors import FailedPrecondition
from services.common.grpc_server import bearer, build_server
from services.common.persistence import InMemoryKeyedLog

NOW = datetime(2026, 7, 6, 9, 0, tzinfo=timezone.utc)
PROVIDER = Principal("provider:prv-a", "prv-a", Role.PROVIDER)


def methods(module) -> dict[str, str]:
    return {m.name: f"/{s.full_name}/{m.name}" for s in module.DESCRIPTOR.services_by_name.values() for m in s.methods}


def test_every_rpc_not_named_as_a_query_is_a_command():
    rpcs = {**methods(api), **methods(accounts_service_pb2), **methods(certification_service_pb2)}
    commands = {name for name, path in rpcs.items() if is_command(path)}
    assert {"CreateEnrolment", "BulkCreateEnrolments", "CancelEnrolment", "SuspendProvider", "CreditBudget",
            "AnnounceBudgetOpening", "DrawBudgetOpening", "ApplyToBudgetOpening", "IssueCertificate",
            "RevokeCertificate", "AccreditOrganisation", "AssignMentee", "RecordTraining"} <= commands
    assert not commands & {"GetEnrolment", "ListEnrolments", "ExplainBalance", "ListPolicies", "GetCertificate",
                           "Verify", "GetStatusList", "GetIssuer", "GetRequirements", "GetBudgetOpening"}
    assert not is_command("/grpc.health.v1.Health/Check")
    assert not is_command("/llr.common.v1.PlatformService/WhoAmI")
    assert not is_command("/llr.common.v1.AuditService/GetAuditTrail")


def test_subjects_are_the_ids_of_request_and_answer_and_the_callers_organisation():
    request = api.CreateEnrolmentRequest(request_id="r1", person_id="p-1", offer_id="o-1", provider_reference="REF")
    response = api.CreateEnrolmentResponse(enrolment=api.Enrolment(enrolment_id="e-1", person_id="p-1",
                                                                   provider_id="prv-a"))
    assert subjects_of(PROVIDER, request, response) == [
        "account:p-1", "enrolment:e-1", "provider:prv-a", "organisation:prv-a"]


def test_an_id_that_is_not_an_identifier_is_no_subject():
    request = api.CancelEnrolmentRequest(enrolment_id="x" * 101, reason="because")
    assert subjects_of(PROVIDER, request) == ["organisation:prv-a"]
    assert subjects_of(PROVIDER, api.CancelEnrolmentRequest(enrolment_id="line\nbreak")) == ["organisation:prv-a"]


def test_an_event_wrapped_outside_a_call_is_the_system_s_and_inside_a_call_the_caller_s():
    event = events_pb2.EnrolmentCancelled(enrolment_id="e-1")

    def wrapped():
        return wrap(event, aggregate_type="enrolment", aggregate_id="e-1", aggregate_version=2,
                    producer="enrolments", occurred_at=NOW)
    system = wrapped().actor
    assert (system.role, system.subject, system.organisation_id) == ("SYSTEM", "enrolments", "")

    def as_provider():
        auth._principal.set(PROVIDER)
        return wrapped().actor
    actor = contextvars.copy_context().run(as_provider)
    assert (actor.organisation_id, actor.role, actor.subject) == ("prv-a", "PROVIDER", "provider:prv-a")


class Enrolments(api_grpc.EnrolmentServiceServicer):
    """Cancels e-1 (raising an event), refuses everything else; GetEnrolment answers."""

    def __init__(self) -> None:
        self.wrapped = []

    def CancelEnrolment(self, request, context):
        if request.enrolment_id != "e-1":
            raise FailedPrecondition(f"enrolment {request.enrolment_id} has started: it cannot be cancelled")
        self.wrapped.append(wrap(events_pb2.EnrolmentCancelled(enrolment_id="e-1"), aggregate_type="enrolment",
                                 aggregate_id="e-1", aggregate_version=2, producer="enrolments", occurred_at=NOW))
        return api.CancelEnrolmentResponse(enrolment=api.Enrolment(enrolment_id="e-1", provider_id="prv-a",
                                                                   person_id="p-1"))

    def GetEnrolment(self, request, context):
        return api.GetEnrolmentResponse(enrolment=api.Enrolment(enrolment_id=request.enrolment_id))


class BrokenLog(InMemoryKeyedLog):
    def append_each(self, keys, item):
        raise ConnectionError("database unreachable")


@pytest.fixture(scope="module")
def keys():
    private, public = generate_keypair()
    return (TokenIssuer(private, "llr-test-idp", SystemClock()),
            TokenVerifier(public, "llr-test-idp", SystemClock(), audience="llr-enrolments"))


@pytest.fixture
def server(keys):
    apps = []

    def start(log):
        servicer = Enrolments()
        trail = AuditTrail(log, FakeClock(NOW), "enrolments")
        app = build_server(service_name="enrolments", host="127.0.0.1", port=0, verifier=keys[1], audit_trail=trail,
                           registrations=[(api_grpc.add_EnrolmentServiceServicer_to_server, servicer,
                                           "llr.enrolments.v1.EnrolmentService")])
        apps.append(app)
        channel = grpc.insecure_channel(f"127.0.0.1:{app.port}")
        return servicer, api_grpc.EnrolmentServiceStub(channel), audit_pb2_grpc.AuditServiceStub(channel)
    yield start
    for app in apps:
        app.stop(0)


def token(keys, organisation: str, role: Role):
    return bearer(keys[0].issue(organisation, role))


def test_accepted_and_refused_commands_are_recorded_with_actor_decision_and_reason(server, keys):
    log = InMemoryKeyedLog()
    servicer, stub, audit = server(log)
    provider = token(keys, "prv-a", Role.PROVIDER)
    stub.CancelEnrolment(api.CancelEnrolmentRequest(request_id="c1", enrolment_id="e-1", reason="ill"),
                         metadata=provider)
    with pytest.raises(grpc.RpcError) as refused:
        stub.CancelEnrolment(api.CancelEnrolmentRequest(request_id="c2", enrolment_id="e-2"), metadata=provider)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    stub.GetEnrolment(api.GetEnrolmentRequest(enrolment_id="e-1"), metadata=provider)   # a query: no entry

    regisseur = token(keys, "vdab", Role.REGISSEUR)
    trail = audit.GetAuditTrail(audit_pb2.GetAuditTrailRequest(kind="organisation", id="prv-a"), metadata=regisseur)
    assert [(e.seq, e.request_id, audit_pb2.AuditDecision.Name(e.decision), e.code) for e in trail.entries] == [
        (1, "c1", "AUDIT_DECISION_ACCEPTED", "OK"), (2, "c2", "AUDIT_DECISION_REFUSED", "FAILED_PRECONDITION")]
    accepted, refusal = trail.entries
    assert (accepted.actor.organisation_id, accepted.actor.role, accepted.actor.subject) == \
        ("prv-a", "PROVIDER", "provider:prv-a")
    assert accepted.method == "/llr.enrolments.v1.EnrolmentService/CancelEnrolment"
    assert accepted.at.ToDatetime(tzinfo=timezone.utc) == NOW and accepted.service == "enrolments"
    assert list(accepted.subjects) == ["enrolment:e-1", "account:p-1", "provider:prv-a", "organisation:prv-a"]
    assert refusal.reason == "enrolment e-2 has started: it cannot be cancelled"
    assert [e.request_id for e in audit.GetAuditTrail(audit_pb2.GetAuditTrailRequest(
        kind="enrolment", id="e-2"), metadata=regisseur).entries] == ["c2"]
    # the event the accepted command raised names the same caller
    assert servicer.wrapped[0].actor == accepted.actor


def test_the_trail_pages_and_only_the_regisseur_reads_it(server, keys):
    _, stub, audit = server(InMemoryKeyedLog())
    provider = token(keys, "prv-a", Role.PROVIDER)
    for n in range(3):
        stub.CancelEnrolment(api.CancelEnrolmentRequest(request_id=f"c{n}", enrolment_id="e-1"), metadata=provider)
    regisseur = token(keys, "vdab", Role.REGISSEUR)
    pages, page_token = [], ""
    while True:
        reply = audit.GetAuditTrail(audit_pb2.GetAuditTrailRequest(kind="enrolment", id="e-1", page_size=2,
                                                                   page_token=page_token), metadata=regisseur)
        pages.append([e.seq for e in reply.entries])
        page_token = reply.next_page_token
        if not page_token:
            break
    assert pages == [[1, 2], [3]]
    with pytest.raises(grpc.RpcError) as denied:
        audit.GetAuditTrail(audit_pb2.GetAuditTrailRequest(kind="enrolment", id="e-1"), metadata=provider)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as bad:
        audit.GetAuditTrail(audit_pb2.GetAuditTrailRequest(kind="person", id=""), metadata=regisseur)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "kind: must be one of account, candidate" in bad.value.details() and "id: is required" in bad.value.details()


def test_a_command_whose_entry_cannot_be_written_is_answered_unavailable(server, keys):
    _, stub, _ = server(BrokenLog())
    provider = token(keys, "prv-a", Role.PROVIDER)
    for enrolment_id in ("e-1", "e-2"):   # accepted and refused alike
        with pytest.raises(grpc.RpcError) as failed:
            stub.CancelEnrolment(api.CancelEnrolmentRequest(request_id="c", enrolment_id=enrolment_id),
                                 metadata=provider)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "audit entry could not be written" in failed.value.details()
    # a query does not need the trail
    assert stub.GetEnrolment(api.GetEnrolmentRequest(enrolment_id="e-1"), metadata=provider).enrolment.enrolment_id
