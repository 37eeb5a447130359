"""How the CLI reaches the services: endpoints from each service's settings, tokens signed with
the development key pair that ``make run`` / ``make keys`` created under ``.llr/keys``, and the
platform's date from the run record ``make run`` keeps (``infra.runstate``)."""
from __future__ import annotations

from datetime import date, timedelta

import grpc

from infra.stack import InfraSettings
from services.common.auth import Role, TokenIssuer
from services.common.clock import SystemClock
from services.common.grpc_server import bearer
from services.common.settings import ServiceSettings
from services.common.tls import client_host, service_channel

from .show import UsageError


def service_settings(service: str) -> ServiceSettings:
    import importlib

    module = importlib.import_module(f"services.{service}.settings")
    cls = next(v for k, v in vars(module).items() if k.endswith("Settings") and k != "ServiceSettings")
    return cls()


def endpoint(service: str) -> str:
    s = service_settings(service)
    return f"{client_host(s.grpc_host)}:{s.grpc_port}"


def channel(service: str) -> grpc.Channel:
    """TLS when the service's settings name the CA of its certificate (``LLR_<SERVICE>_GRPC_TLS_CA_FILE``)."""
    try:
        return service_channel(service_settings(service))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def token(organisation_id: str, role: Role, person_id: str = "", hours: float = 8) -> str:
    key_file = InfraSettings().home / "keys" / "token-signing.pem"
    try:
        key = key_file.read_bytes()
    except OSError as exc:
        raise UsageError(f"no development signing key at {key_file}: run `make keys` or `make run` first") from exc
    return TokenIssuer(key, "llr-dev-idp", SystemClock()).issue(
        organisation_id, role, person_id=person_id, ttl=timedelta(hours=hours))


def parse_identity(identity: str) -> tuple[str, Role, str]:
    """``ORG:ROLE``, or ``ORG:CITIZEN_COUNTER:PERSON_ID`` for a counter serving one person, as
    (organisation, role, person). A counter's token is bound to the person it serves, so the
    accounts service lets it see that person's account only."""
    roles = ", ".join(r.value for r in Role)
    parts = identity.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(f"--as must be ORGANISATION:ROLE (a counter: ORGANISATION:CITIZEN_COUNTER:PERSON_ID) "
                         f"with ROLE one of {roles}; got {identity!r}")
    try:
        role = Role(parts[1].upper())
    except ValueError:
        raise UsageError(f"--as: unknown role {parts[1]!r}; the roles are {roles}") from None
    person = parts[2] if len(parts) == 3 else ""
    if role is Role.CITIZEN_COUNTER and not person:
        raise UsageError(f"--as: a citizen's counter acts for the one person it serves: "
                         f"--as {parts[0]}:CITIZEN_COUNTER:PERSON_ID")
    if person and role is not Role.CITIZEN_COUNTER:
        raise UsageError(f"--as: only a CITIZEN_COUNTER acts for a person; use {parts[0]}:{role.value}")
    return parts[0], role, person


def auth(identity: str) -> list[tuple[str, str]]:
    """Call metadata for ``--as`` (e.g. ``vdab:REGISSEUR``)."""
    organisation, role, person = parse_identity(identity)
    return bearer(token(organisation, role, person))


def platform_today() -> date:
    """The platform's date: on the demo's time line after ``make run``, else the real date."""
    from infra import runstate

    try:
        record = runstate.load(runstate.RunSettings().record_path(InfraSettings().home))
    except runstate.RecordError:
        record = None
    return (record.platform_clock() if record else SystemClock()).now().date()
