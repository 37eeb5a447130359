"""The shared gRPC bootstrap: health, reflection, token authentication, request limits and error mapping."""
from __future__ import annotations

import socket
from datetime import timedelta

import grpc
import pymongo
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from llr.common.v1 import platform_pb2, platform_pb2_grpc
from llr.kpi.v1 import kpi_service_pb2 as kpi_api
from llr.kpi.v1 import kpi_service_pb2_grpc as kpi_grpc
from services.common.auth import Role, TokenIssuer, generate_keypair
from services.common.clock import SystemClock
from services.common.errors import NotFound
from services.common.grpc_server import bearer, build_server


@pytest.fixture
def server(token_verifier):
    app = build_server(service_name="probe", host="127.0.0.1", port=0, registrations=[],
                       verifier=token_verifier)
    channel = grpc.insecure_channel(f"127.0.0.1:{app.port}")
    yield app, channel
    channel.close()
    app.stop(0)


def test_health_and_reflection_need_no_token(server):
    _, channel = server
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(service="")).status == health_pb2.HealthCheckResponse.SERVING
    assert health.Check(health_pb2.HealthCheckRequest(service="llr.common.v1.PlatformService")).status == \
        health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert {"llr.common.v1.PlatformService", "grpc.health.v1.Health"} <= names


def test_whoami_returns_the_token_principal(server, token_for):
    _, channel = server
    stub = platform_pb2_grpc.PlatformServiceStub(channel)
    reply = stub.WhoAmI(platform_pb2.WhoAmIRequest(), metadata=bearer(token_for("prov-42", Role.PROVIDER)))
    assert (reply.organisation_id, reply.role, reply.service) == ("prov-42", "PROVIDER", "probe")


@pytest.mark.parametrize("case", ["missing", "garbage", "foreign-key", "expired"])
def test_calls_without_a_valid_token_are_unauthenticated(server, token_for, case):
    _, channel = server
    stub = platform_pb2_grpc.PlatformServiceStub(channel)
    if case == "missing":
        metadata = None
    elif case == "garbage":
        metadata = bearer("not-a-jwt")
    elif case == "foreign-key":
        other = TokenIssuer(generate_keypair()[0], issuer="llr-test-idp", clock=SystemClock())
        metadata = bearer(other.issue("prov-42", Role.PROVIDER))
    else:
        metadata = bearer(token_for("prov-42", Role.PROVIDER, ttl=timedelta(seconds=-120)))
    with pytest.raises(grpc.RpcError) as err:
        stub.WhoAmI(platform_pb2.WhoAmIRequest(), metadata=metadata)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details()


def test_a_taken_port_is_a_clear_error(server, token_verifier):
    app, _ = server
    with pytest.raises(RuntimeError, match=f"127.0.0.1:{app.port}"):
        build_server(service_name="second", host="127.0.0.1", port=app.port, registrations=[],
                     verifier=token_verifier)


class _Probe(kpi_grpc.KpiServiceServicer):
    """Answers Get as told by ``kpi``: a domain error or a bug, each with a 1 MB message, or a read from a
    database that is down."""

    calls = 0

    def Get(self, request, context):
        _Probe.calls += 1
        if request.kpi == "rule":
            raise NotFound("no cell " + "x" * 1_000_000)
        if request.kpi == "db-down":
            with socket.socket() as closed:   # a port nobody listens on
                closed.bind(("127.0.0.1", 0))
                port = closed.getsockname()[1]
            with pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/", serverSelectionTimeoutMS=300) as client:
                client.llr.cells.find_one({"_id": request.cell})
        raise ValueError("Invalid isoformat string: '" + "y" * 1_000_000 + "'")


@pytest.fixture
def probe(token_verifier):
    name = kpi_api.DESCRIPTOR.services_by_name["KpiService"].full_name
    app = build_server(service_name="probe", host="127.0.0.1", port=0, verifier=token_verifier,
                       registrations=[(kpi_grpc.add_KpiServiceServicer_to_server, _Probe(), name)],
                       public_methods=[f"/{name}/Get"])
    channel = grpc.insecure_channel(f"127.0.0.1:{app.port}")   # a client with gRPC's default limits
    yield kpi_grpc.KpiServiceStub(channel)
    channel.close()
    app.stop(0)


@pytest.mark.parametrize("kpi, code", [("rule", grpc.StatusCode.NOT_FOUND), ("bug", grpc.StatusCode.INTERNAL)])
def test_an_error_with_a_huge_message_reaches_the_client_cut_short(probe, kpi, code):
    with pytest.raises(grpc.RpcError) as err:
        probe.Get(kpi_api.GetRequest(kpi=kpi, cell="c"), timeout=10)
    assert err.value.code() == code   # not RESOURCE_EXHAUSTED: the message fits the client's metadata limit
    assert len(err.value.details().encode()) <= 1000
    if code == grpc.StatusCode.INTERNAL:
        assert "yyy" not in err.value.details() and "ValueError" in err.value.details()


def test_a_database_outage_is_unavailable_not_a_bug(probe):
    with pytest.raises(grpc.RpcError) as err:
        probe.Get(kpi_api.GetRequest(kpi="db-down", cell="c"), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE   # a client retries this; INTERNAL would say "bug"
    assert "ServerSelectionTimeoutError" in err.value.details() and "retry later" in err.value.details()


def test_a_request_out_of_its_limits_never_reaches_the_servicer(probe):
    before = _Probe.calls
    with pytest.raises(grpc.RpcError) as err:
        probe.Get(kpi_api.GetRequest(kpi="k" * 1_000_000, cell="region\tflanders"), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == ("kpi: must be at most 64 characters (has 1000000); "
                                   "cell: must be an identifier: one line without control characters")
    assert _Probe.calls == before


def test_a_request_above_the_size_limit_is_refused_by_grpc(probe):
    with pytest.raises(grpc.RpcError) as err:
        probe.Get(kpi_api.GetRequest(kpi="k" * (3 * 1024 * 1024)), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
