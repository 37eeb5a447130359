"""``python -m services.common.healthcheck PORT [HOST]``: exit 0 when the gRPC server on PORT
answers ``grpc.health.v1`` SERVING, 1 otherwise; the container healthcheck of docker-compose.yml
(Kubernetes asks the same service through its built-in gRPC probe)."""
from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def serving(port: int, host: str = "127.0.0.1", timeout_s: float = 3.0) -> bool:
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2 or not argv[0].isdigit():
        print("usage: python -m services.common.healthcheck PORT [HOST]", file=sys.stderr)
        return 2
    return 0 if serving(int(argv[0]), *argv[1:]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
