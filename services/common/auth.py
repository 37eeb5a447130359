"""Signed access tokens and the gRPC authentication interceptor.

A token is a JWT signed with Ed25519 (EdDSA) by the platform's identity provider; it carries the
caller's organisation id and role. Services hold only the public key, so a compromised service
cannot mint tokens. Expiry is checked against the injectable clock, not the wall clock.
"""
from __future__ import annotations

import contextvars
import enum
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterable

import grpc
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .clock import Clock
from .errors import PermissionDenied, Unauthenticated
from .grpc_util import wrap_rpc_handler


class Role(str, enum.Enum):
    REGISSEUR = "REGISSEUR"  # VDAB back office, the platform's director ("regisseur")
    PROVIDER = "PROVIDER"  # accredited training provider
    MENTORING_ORGANISATION = "MENTORING_ORGANISATION"
    CITIZEN_COUNTER = "CITIZEN_COUNTER"  # a citizen's counter, acting for one person
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
    ) -> str:
        if not organisation_id:
            raise ValueError("organisation_id is required")
        now = self.clock.now()
        claims = {
            "iss": self.issuer,
            "sub": subject or f"{role.value.lower()}:{organisation_id}",
            "org": organisation_id,
            "role": Role(role).value,
            "iat": int(now.timestamp()),
            "exp": int((now + ttl).timestamp()),
            "jti": str(uuid.uuid4()),
        }
        if person_id:
            claims["person"] = person_id
        return jwt.encode(claims, self._key, algorithm="EdDSA")


class TokenVerifier:
    def __init__(self, public_key_pem: bytes, issuer: str, clock: Clock, leeway_s: int = 30) -> None:
        self._key = serialization.load_pem_public_key(public_key_pem)
        self.issuer = issuer
        self.clock = clock
        self.leeway_s = leeway_s

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["EdDSA"],
                issuer=self.issuer,
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "iss", "org", "role", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        if claims["exp"] + self.leeway_s < self.clock.now().timestamp():
            raise Unauthenticated("token expired")
        try:
            role = Role(claims["role"])
        except ValueError as exc:
            raise Unauthenticated(f"unknown role {claims['role']!r}") from exc
        return Principal(subject=claims["sub"], organisation_id=claims["org"], role=role,
                         person_id=claims.get("person", ""))


_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("llr_principal", default=None)


def current_principal() -> Principal:
    """The authenticated caller of the RPC being handled."""
    p = _principal.get()
    if p is None:
        raise Unauthenticated("no authenticated caller")
    return p


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
