"""How the CLI reaches the services: endpoints from each service's settings, tokens signed with
the development key pair that ``make run`` / ``make keys`` created under ``.llr/keys``."""
from __future__ import annotations

from datetime import timedelta

import grpc

from infra.stack import InfraSettings
from services.common.auth import Role, TokenIssuer
from services.common.clock import SystemClock
from services.common.grpc_server import bearer


def endpoint(service: str) -> str:
    import importlib

    module = importlib.import_module(f"services.{service}.settings")
    cls = next(v for k, v in vars(module).items() if k.endswith("Settings") and k != "ServiceSettings")
    s = cls()
    host = "127.0.0.1" if s.grpc_host in ("0.0.0.0", "") else s.grpc_host
    return f"{host}:{s.grpc_port}"


def channel(service: str) -> grpc.Channel:
    return grpc.insecure_channel(endpoint(service))


def token(organisation_id: str, role: Role, person_id: str = "", hours: float = 8) -> str:
    key_file = InfraSettings().home / "keys" / "token-signing.pem"
    try:
        key = key_file.read_bytes()
    except OSError as exc:
        raise SystemExit(f"no development signing key at {key_file}: run `make keys` or `make run` first") from exc
    return TokenIssuer(key, "llr-dev-idp", SystemClock()).issue(
        organisation_id, role, person_id=person_id, ttl=timedelta(hours=hours))


def auth(identity: str, person_id: str = "") -> list[tuple[str, str]]:
    """Call metadata for ``ORG:ROLE`` (e.g. ``vdab:REGISSEUR``)."""
    try:
        org, role = identity.split(":", 1)
        return bearer(token(org, Role(role.upper()), person_id))
    except ValueError as exc:
        roles = ", ".join(r.value for r in Role)
        raise SystemExit(f"--as must be ORGANISATION:ROLE with ROLE one of {roles}; got {identity!r}") from exc
