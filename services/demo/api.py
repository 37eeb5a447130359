"""The demo's view of the platform: gRPC stubs of every service and development tokens."""
from __future__ import annotations

from functools import lru_cache

from services.cli.connect import channel, token
from services.common.auth import Role
from services.common.grpc_server import bearer


class Api:
    def __init__(self) -> None:
        from llr.certification.v1 import certification_service_pb2_grpc as cert_rpc

        self._channels = {name: channel(name) for name in ("accounts", "certification", "enrolments", "kpi")}
        self.certification = cert_rpc.CertificationServiceStub(self._channels["certification"])

    def stub(self, service: str, module: str, name: str):
        import importlib

        rpc = importlib.import_module(f"llr.{service}.v1.{module}_pb2_grpc")
        return getattr(rpc, f"{name}Stub")(self._channels[service])

    @staticmethod
    @lru_cache(maxsize=None)
    def auth(organisation_id: str, role: Role, person_id: str = "") -> tuple:
        return tuple(bearer(token(organisation_id, role, person_id, hours=24)))

    def close(self) -> None:
        for ch in self._channels.values():
            ch.close()
