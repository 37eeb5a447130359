"""The compose healthcheck: exit 0 only while grpc.health.v1 answers SERVING."""
from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from services.common import healthcheck


@pytest.fixture
def server():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, servicer
    server.stop(0)


def test_serving_not_serving_and_nobody_there(server):
    port, servicer = server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert healthcheck.main([str(port)]) == 0
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert healthcheck.main([str(port), "127.0.0.1"]) == 1
    server_less = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    free = server_less.add_insecure_port("127.0.0.1:0")   # bound, never started: refuses
    assert healthcheck.serving(free, timeout_s=0.5) is False


def test_usage():
    assert healthcheck.main([]) == 2
    assert healthcheck.main(["port"]) == 2
