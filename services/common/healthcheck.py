"""``python -m services.common.healthcheck PORT [HOST] [--cacert FILE] [--server-name NAME]``: exit 0
when the gRPC server on PORT answers ``grpc.health.v1`` SERVING, 1 otherwise; the container
healthcheck of docker-compose.yml and the exec probe of deploy/k8s (Kubernetes' built-in gRPC probe
speaks no TLS). With ``--cacert`` it dials TLS, trusting that CA and verifying the server's name
(HOST, or ``--server-name``). ``status`` is the one health probe of every client of ours
(``make run``'s supervisor, ``make status``)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .tls import open_channel


def status(port: int, host: str = "127.0.0.1", timeout_s: float = 3.0, ca_file: Path | None = None,
           server_name: str = "") -> str:
    """What the gRPC server on ``host:port`` says: SERVING, NOT_SERVING, or "not running"
    (nothing answers, or not over the transport asked for)."""
    with open_channel(f"{host}:{port}", ca_file, server_name) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
        except grpc.RpcError:
            return "not running"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def serving(port: int, host: str = "127.0.0.1", timeout_s: float = 3.0, ca_file: Path | None = None,
            server_name: str = "") -> bool:
    return status(port, host, timeout_s, ca_file, server_name) == "SERVING"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):   # usage errors exit 2, as before
        print(f"usage: python -m services.common.healthcheck PORT [HOST] [--cacert FILE] [--server-name NAME]"
              f"\n{message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str]) -> int:
    parser = _Parser(add_help=False)
    parser.add_argument("port", type=int)
    parser.add_argument("host", nargs="?", default="127.0.0.1")
    parser.add_argument("--cacert", type=Path)
    parser.add_argument("--server-name", default="")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0 if serving(args.port, args.host, ca_file=args.cacert, server_name=args.server_name) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
