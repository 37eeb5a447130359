"""Signed access tokens and the gRPC authentication interceptor.

A token is a JWT signed with Ed25519 (EdDSA) by the platform's identity provider; it carries the
caller's organisation id and role. Services hold only the public key, so a compromised service
cannot mint tokens. The claims policy (README, "Security: TLS and tokens"), checked by every
service for every call but the public ones, each failure UNAUTHENTICATED naming the claim:

| claim | rule |
|---|---|
| signature | EdDSA with the configured public key; no other algorithm |
| `iss` | equals the configured issuer (``auth_issuer``) |
| `aud` | a string or list that contains the service's own audience (``llr-<service>``) |
| `exp` | required; not passed (with ``leeway_s``, default 30 s) |
| `iat` | required; not in the future (with leeway), and before `exp` |
| `nbf` | if present: not in the future (with leeway) |
| `sub`, `org`, `role` | required; `role` one of ``Role``; optional `person`: whom a citizen's counter serves |

Times are checked against the clock the verifier is given: the services give it the wall clock
(``ServiceRuntime``), because tokens come from an identity provider on real time, also while the
platform itself runs on simulated time (the demo) or a fake clock (tests).
"""
from __future__ import annotations

import contextvars
import enum
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable

import grpc
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .clock import Clock
from .errors import PermissionDenied, Unauthenticated, quote
from .grpc_util import wrap_rpc_handler


class Role(str, enum.Enum):
    REGISSEUR = "REGISSEUR"  # VDAB back office, the platform's director ("regisseur")
    PROVIDER = "PROVIDER"  # accredited training provider
    MENTORING_ORGANISATION = "MENTORING_ORGANISATION"
    CITIZEN_COUNTER = "CITIZEN_COUNTER"  # a citizen's counter, acting for one person
    CAREER_CENTRE = "CAREER_CENTRE"  # a career centre (loopbaancentrum) accredited by the regisseur
    KPI_CONSUMER = "KPI_CONSUMER"
    SERVICE = "SERVICE"  # another service of the platform


@dataclass(frozen=True)
class Principal:
    subject: str
    organisation_id: str
    role: Role
    # Only for CITIZEN_COUNTER tokens: the pseudonymous person the counter acts for.
    person_id: str = ""

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise PermissionDenied(f"role {self.role.value} may not do this (allowed: {allowed})")


def generate_keypair() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def audience_of(service_name: str) -> str:
    """The audience a service accepts tokens for, e.g. ``llr-enrolments``."""
    return f"llr-{service_name}"


# What a development token is good for when no audience is asked: every service of the platform.
PLATFORM_AUDIENCES = tuple(audience_of(s) for s in ("accounts", "certification", "enrolments", "kpi"))


class TokenIssuer:
    def __init__(self, private_key_pem: bytes, issuer: str, clock: Clock) -> None:
        self._key = serialization.load_pem_private_key(private_key_pem, password=None)
        self.issuer = issuer
        self.clock = clock

    def issue(
        self,
        organisation_id: str,
        role: Role,
        *,
        subject: str | None = None,
        person_id: str = "",
        ttl: timedelta = timedelta(hours=8),
        audience: str | Iterable[str] = PLATFORM_AUDIENCES,
    ) -> str:
        if not organisation_id:
            raise ValueError("organisation_id is required")
        now = self.clock.now()
        claims = {
            "iss": self.issuer,
            "aud": audience if isinstance(audience, str) else list(audience),
            "sub": subject or f"{role.value.lower()}:{organisation_id}",
            "org": organisation_id,
            "role": Role(role).value,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": str(uuid.uuid4()),
        }
        if person_id:
            claims["person"] = person_id
        return jwt.encode(claims, self._key, algorithm="EdDSA")


REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub", "org", "role")


class TokenVerifier:
    def __init__(self, public_key_pem: bytes, issuer: str, clock: Clock, *, audience: str,
                 leeway_s: int = 30) -> None:
        self._key = serialization.load_pem_public_key(public_key_pem)
        self.issuer = issuer
        self.audience = audience
        self.clock = clock
        self.leeway_s = leeway_s

    def verify(self, token: str) -> Principal:
        """The caller the token names, or ``Unauthenticated`` naming the claim that failed."""
        try:
            # The signature and the token's form only; every claim is checked below, so that the
            # message names it and times come from our clock.
            claims = jwt.decode(token, self._key, algorithms=["EdDSA"], options={
                "verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_iss": False,
                "verify_aud": False})
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        missing = [c for c in REQUIRED_CLAIMS if c not in claims]
        if missing:
            raise Unauthenticated(f"token lacks the claim(s) {', '.join(missing)}")
        if claims["iss"] != self.issuer:
            raise Unauthenticated(f"token issuer (iss) {quote(claims['iss'])} is not the issuer this service "
                                  f"trusts ({self.issuer!r})")
        audiences = [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
        if not isinstance(audiences, list) or self.audience not in audiences:
            raise Unauthenticated(f"token audience (aud) {quote(claims['aud'])} does not include this service "
                                  f"({self.audience!r})")
        now = self.clock.now().timestamp()
        times = {c: claims[c] for c in ("exp", "iat", "nbf") if c in claims}
        for name, value in times.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise Unauthenticated(f"token claim {name} is not a time (seconds since 1970): {quote(value)}")
        if times["exp"] + self.leeway_s <= now:
            raise Unauthenticated(f"token expired (exp {_iso(times['exp'])}, now {_iso(now)})")
        if times["iat"] - self.leeway_s > now:
            raise Unauthenticated(f"token issued in the future (iat {_iso(times['iat'])}, now {_iso(now)})")
        if times["iat"] >= times["exp"]:
            raise Unauthenticated("token expires before it was issued (exp not after iat)")
        if "nbf" in times and times["nbf"] - self.leeway_s > now:
            raise Unauthenticated(f"token not valid yet (nbf {_iso(times['nbf'])}, now {_iso(now)})")
        try:
            role = Role(claims["role"])
        except ValueError as exc:
            raise Unauthenticated(f"token role {quote(claims['role'])} is not a role of the platform") from exc
        return Principal(subject=str(claims["sub"]), organisation_id=str(claims["org"]), role=role,
                         person_id=str(claims.get("person", "")))


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("llr_principal", default=None)


def current_principal() -> Principal:
    """The authenticated caller of the RPC being handled."""
    p = _principal.get()
    if p is None:
        raise Unauthenticated("no authenticated caller")
    return p


def acting_principal() -> Principal | None:
    """The authenticated caller of the RPC this thread handles, or None (a consumer, a job, a
    public call): who the events raised now are attributed to (``envelope.current_actor``)."""
    return _principal.get()


def _bearer(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
            return value[len("Bearer "):]
    return None


class AuthInterceptor(grpc.ServerInterceptor):
    """Verifies the bearer token of every call except the public methods.

    The check runs inside the handler's own thread (the handler is wrapped), so the principal
    set in a context variable is the one ``current_principal()`` sees while handling.
    """

    def __init__(self, verifier: TokenVerifier, public_methods: Iterable[str] = ()) -> None:
        self.verifier = verifier
        self.public_prefixes = ("/grpc.health.v1.Health/", "/grpc.reflection.")
        self.public_methods = set(public_methods)

    def _is_public(self, method: str) -> bool:
        return method in self.public_methods or method.startswith(self.public_prefixes)

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        public = self._is_public(handler_call_details.method)
        def unary(fn):
            def call(request, context):
                self._authenticate(context, public)
                return fn(request, context)
            return call

        def streaming(fn):
            def call(request, context):
                self._authenticate(context, public)
                yield from fn(request, context)
            return call

        return wrap_rpc_handler(handler, unary, streaming)

    def _authenticate(self, context: grpc.ServicerContext, public: bool) -> None:
        if public:
            _principal.set(None)
            return
        token = _bearer(context)
        if token is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing 'authorization: Bearer <token>' metadata")
        try:
            _principal.set(self.verifier.verify(token))
        except Unauthenticated as exc:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.reason)
