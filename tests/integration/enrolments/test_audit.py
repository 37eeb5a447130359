"""The audit trail of the enrolments service on the real Kafka and FerretDB: every command, accepted
or refused, is in the trail of each subject it named with its caller, decision and reason; the
events a command raises carry its caller, those of the saga the system; only the regisseur reads
the trail; two instances of the service racing on one provider leave its trail without gaps or
doubles."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import grpc
import pymongo
import pytest

from llr.common.v1 import audit_pb2, audit_pb2_grpc
from llr.enrolments.v1 import enrolments_service_pb2 as api
from llr.enrolments.v1 import enrolments_service_pb2_grpc as api_grpc
from services.common import mongo
from services.common import runtime as service_runtime
from services.common.audit import LOG_NAME
from services.common.auth import Role
from services.common.grpc_server import bearer
from services.common.tls import service_channel
from services.enrolments.entrypoints.main import build

from .conftest import enrol_request, rpc_error, types

ACCEPTED, REFUSED = audit_pb2.AUDIT_DECISION_ACCEPTED, audit_pb2.AUDIT_DECISION_REFUSED


def trail(runtime, token: str, kind: str, subject_id: str):
    channel = service_channel(runtime.settings, runtime.grpc.port)
    try:
        return list(audit_pb2_grpc.AuditServiceStub(channel).GetAuditTrail(
            audit_pb2.GetAuditTrailRequest(kind=kind, id=subject_id), metadata=bearer(token)).entries)
    finally:
        channel.close()


def test_accepted_and_refused_commands_are_in_the_trail_and_events_carry_the_actor(client, runtime, events, broker):
    client.accredit("prv-a")
    client.accredit("prv-b")
    offer = client.offer("prv-a")
    enrolment = client.enrol("prv-a", offer.offer_id, person_id="person-7")
    refused = rpc_error(client, "CancelEnrolment", api.CancelEnrolmentRequest(
        request_id="cancel-by-b", enrolment_id=enrolment.enrolment_id, reason="not mine"), client.provider("prv-b"))
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED

    entries = trail(runtime, client.regisseur, "enrolment", enrolment.enrolment_id)
    assert [(e.seq, e.method.rsplit("/", 1)[1], e.decision, e.code, e.request_id) for e in entries] == [
        (1, "CreateEnrolment", ACCEPTED, "OK", "req-REF-1"),
        (2, "CancelEnrolment", REFUSED, "PERMISSION_DENIED", "cancel-by-b")]
    created, cancel = entries
    assert (created.actor.organisation_id, created.actor.role, created.actor.subject) == \
        ("prv-a", "PROVIDER", "provider:prv-a")
    assert (cancel.actor.organisation_id, cancel.reason) == ("prv-b", refused.details())
    assert created.at.ToDatetime() == runtime.clock.now().replace(tzinfo=None) and created.service == "enrolments"
    # the same entry is in the trail of the person's account, of the provider and of the caller
    assert {"account:person-7", f"enrolment:{enrolment.enrolment_id}", "provider:prv-a",
            "organisation:prv-a"} <= set(created.subjects)
    assert [e.request_id for e in trail(runtime, client.regisseur, "account", "person-7")] == ["req-REF-1"]
    provider_trail = trail(runtime, client.regisseur, "provider", "prv-a")
    assert [(e.method.rsplit("/", 1)[1], e.actor.organisation_id, e.actor.role) for e in provider_trail] == [
        ("AccreditProvider", "vdab", "REGISSEUR"), ("CreateOffer", "prv-a", "PROVIDER"),
        ("CreateEnrolment", "prv-a", "PROVIDER")]

    # the event the command raised names its caller; the one the saga raised names the service
    requested = [e for e in events(lambda seen: "EnrolmentRequested" in types(seen, enrolment.enrolment_id))
                 if e.aggregate_id == enrolment.enrolment_id]
    assert (requested[0].actor.organisation_id, requested[0].actor.role, requested[0].actor.subject) == \
        ("prv-a", "PROVIDER", "provider:prv-a")
    broker.reserved(enrolment.enrolment_id)
    funded = [e for e in events(lambda seen: "EnrolmentFunded" in types(seen, enrolment.enrolment_id))
              if e.event_type.endswith("EnrolmentFunded")]
    assert (funded[0].actor.role, funded[0].actor.subject, funded[0].actor.organisation_id) == \
        ("SYSTEM", "enrolments", "")
    assert funded[0].causation_id   # the saga's event names what caused it


def test_only_the_regisseur_reads_the_trail(client, runtime, token_for):
    client.accredit("prv-a")
    for token in (client.provider("prv-a"), token_for("loket", Role.CITIZEN_COUNTER, person_id="person-1")):
        with pytest.raises(grpc.RpcError) as denied:
            trail(runtime, token, "provider", "prv-a")
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert len(trail(runtime, client.regisseur, "provider", "prv-a")) == 1


def test_two_instances_racing_on_one_provider_leave_a_trail_without_gaps_or_doubles(client, runtime, settings,
                                                                                   clock, monkeypatch):
    client.accredit("prv-a")
    # Another replica: its own stores and database connection (in this process the connection is
    # registered under the service's name, which the first instance holds), the same database.
    monkeypatch.setattr(service_runtime, "connect", lambda s: mongo.connect(s, alias="enrolments-replica"))
    monkeypatch.setattr(service_runtime, "disconnect", lambda _: mongo.disconnect("enrolments-replica"))
    second = build(settings, clock)
    channels = [service_channel(settings, rt.grpc.port) for rt in (runtime, second)]
    try:
        stubs = [api_grpc.EnrolmentServiceStub(c) for c in channels]
        regisseur = bearer(client.regisseur)

        def command(i: int) -> str:
            stub = stubs[i % 2]
            try:
                if i % 3 == 0:
                    stub.ReinstateProvider(api.ReinstateProviderRequest(request_id=f"r{i}", provider_id="prv-a"),
                                           metadata=regisseur, timeout=120)
                else:
                    stub.SuspendProvider(api.SuspendProviderRequest(request_id=f"r{i}", provider_id="prv-a",
                                                                    reason=f"check {i}"),
                                         metadata=regisseur, timeout=120)
                return "OK"
            except grpc.RpcError as err:   # a rule said no (already suspended, ...): recorded as well
                return err.code().name
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(command, range(40)))
    finally:
        for c in channels:
            c.close()
        second.stop(grace_s=1)
    assert set(answers) <= {"OK", "FAILED_PRECONDITION"}, answers
    entries = trail(runtime, client.regisseur, "provider", "prv-a")
    assert [e.seq for e in entries] == list(range(1, 42))
    assert sorted(e.request_id for e in entries[1:]) == sorted(f"r{i}" for i in range(40))
    assert [e.code for e in sorted(entries[1:], key=lambda e: int(e.request_id[1:]))] == answers
    with pymongo.MongoClient(settings.mongo_uri) as database_client:
        stored = database_client[settings.mongo_db][LOG_NAME].count_documents({"_id": {"$regex": "^provider:prv-a#"}})
    assert stored == 41
