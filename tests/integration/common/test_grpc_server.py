"""The shared gRPC bootstrap: health, reflection, token authentication and error mapping."""
from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from llr.common.v1 import platform_pb2, platform_pb2_grpc
from services.common.auth import Role, TokenIssuer, generate_keypair
from services.common.clock import SystemClock
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
