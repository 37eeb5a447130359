"""gRPC server bootstrap shared by every service: health checking, reflection (v1 and v1alpha,
``services.common.reflection``), authentication,
the audit trail of commands (``services.common.audit``), the request limits, the domain-error to status-code mapping and the ``PlatformService.WhoAmI`` call.

Bad input never crashes a call or floods a client:

* every unary request is checked against the limits of its fields (``services.common.limits``)
  before the servicer sees it;
* a status message is at most ``errors.MAX_DETAILS_BYTES`` long (the messages themselves quote
  input with ``errors.quote``): gRPC sends it as metadata, and a client refuses metadata above
  8 KiB by default, which would turn the error into RESOURCE_EXHAUSTED;
* a dependency that is out (the database unreachable or still busy: an INFRASTRUCTURE fault of
  ``services.common.faults``) is answered UNAVAILABLE, which tells a client to retry later;
* any other exception that is not a ``DomainError`` is a bug: it is logged with its traceback and
  answered INTERNAL with a short, fixed message (never the exception's text, which may quote
  the request);
* a request may be at most ``MAX_REQUEST_BYTES`` (the largest legitimate one, a 256 KiB
  credential to verify, fits with room to spare), an answer at most ``MAX_RESPONSE_BYTES``
  (what a default gRPC client accepts).
"""
from __future__ import annotations

import logging
import traceback
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import grpc
from google.protobuf import message as pb_message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from llr.common.v1 import platform_pb2, platform_pb2_grpc

from . import audit, errors, limits
from .auth import AuthInterceptor, TokenVerifier, current_principal
from .faults import Fault, fault_of
from .grpc_util import wrap_rpc_handler
from .reflection import enable_reflection

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_RESPONSE_BYTES = 4 * 1024 * 1024

# One translation table from domain errors to gRPC status codes, most specific first.
STATUS_FOR: list[tuple[type[errors.DomainError], grpc.StatusCode]] = [
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.ConcurrencyConflict, grpc.StatusCode.ABORTED),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.DomainError, grpc.StatusCode.FAILED_PRECONDITION),
]


def status_for(exc: errors.DomainError) -> grpc.StatusCode:
    return next(code for cls, code in STATUS_FOR if isinstance(exc, cls))


def _check_limits(request: object) -> None:
    """The limits of a request message of the platform (a request stream is checked by its servicer)."""
    if isinstance(request, pb_message.Message) and request.DESCRIPTOR.full_name.startswith("llr."):
        limits.check(request)


class ErrorInterceptor(grpc.ServerInterceptor):
    """Checks the request's limits, turns a ``DomainError`` raised by a handler into its status
    code with the (length-capped) reason as details, an outage of a dependency into UNAVAILABLE and
    any other exception into INTERNAL."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method

        def fail(context, exc: Exception):
            if isinstance(exc, errors.DomainError):
                context.abort(status_for(exc), errors.cut(exc.reason))
            if fault_of(exc) is Fault.INFRASTRUCTURE:
                log.warning("%s: a dependency is unavailable: %s: %s", method, type(exc).__name__,
                            errors.cut(str(exc), 300))
                context.abort(grpc.StatusCode.UNAVAILABLE, f"{method} cannot be served now: a dependency is "
                              f"unavailable ({type(exc).__name__}); retry later")
            log.error("%s failed unexpectedly: %s: %s\n%s", method, type(exc).__name__, errors.cut(str(exc), 500),
                      "".join(traceback.format_tb(exc.__traceback__)))
            context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method} ({type(exc).__name__}); "
                          "the service logged it")

        def unary(fn):
            def call(request, context):
                try:
                    _check_limits(request)
                    return fn(request, context)
                except grpc.RpcError:
                    raise   # the call itself broke (e.g. the client cancelled a request stream)
                except Exception as exc:
                    fail(context, exc)
            return call

        def streaming(fn):
            def call(request, context):
                try:
                    _check_limits(request)
                    yield from fn(request, context)
                except grpc.RpcError:
                    raise
                except Exception as exc:
                    fail(context, exc)
            return call

        return wrap_rpc_handler(handler, unary, streaming)


class PlatformServicer(platform_pb2_grpc.PlatformServiceServicer):
    def __init__(self, service_name: str) -> None:
        self.service_name = service_name

    def WhoAmI(self, request, context):
        p = current_principal()
        return platform_pb2.WhoAmIResponse(
            organisation_id=p.organisation_id, role=p.role.value, subject=p.subject, service=self.service_name
        )


# (add_XxxServicer_to_server, servicer instance, full service name)
Registration = tuple[Callable[[Any, grpc.Server], None], Any, str]


@dataclass
class GrpcApp:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    services: tuple[str, ...] = ()  # the full names of the services it offers (health answers for each)

    def set_serving(self, serving: bool) -> None:
        """Report the whole server ("") and each of its services SERVING or NOT_SERVING."""
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *self.services):
            self.health.set(name, status)

    def stop(self, grace_s: float = 5.0) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s).wait()


def build_server(
    *,
    service_name: str,
    host: str,
    port: int,
    registrations: Iterable[Registration],
    verifier: TokenVerifier,
    public_methods: Iterable[str] = (),
    max_workers: int = 16,
    credentials: grpc.ServerCredentials | None = None,
    audit_trail: audit.AuditTrail | None = None,
) -> GrpcApp:
    """Create and start a server; ``port=0`` picks a free port (returned in ``GrpcApp.port``).
    With ``credentials`` (``services.common.tls.server_credentials``) it serves TLS only. With an
    ``audit_trail`` every command is recorded in it (``services.common.audit``) and the server
    offers ``AuditService``."""
    auditing = [] if audit_trail is None else [audit.AuditInterceptor(audit_trail)]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"{service_name}-grpc"),
        interceptors=[AuthInterceptor(verifier, public_methods), *auditing, ErrorInterceptor()],
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
                 ("grpc.max_send_message_length", MAX_RESPONSE_BYTES)],
    )
    registrations = list(registrations)
    registrations.append((platform_pb2_grpc.add_PlatformServiceServicer_to_server, PlatformServicer(service_name),
                          platform_pb2.DESCRIPTOR.services_by_name["PlatformService"].full_name))
    if audit_trail is not None:
        registrations.append(audit.registration(audit_trail))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
    for add, servicer, name in registrations:
        add(servicer, server)
        names.append(name)
    enable_reflection(names, server)
    address = f"{host}:{port}"
    bound = server.add_insecure_port(address) if credentials is None else server.add_secure_port(address, credentials)
    if bound == 0:
        raise RuntimeError(f"{service_name}: cannot listen on {host}:{port} (port in use?)")
    server.start()
    app = GrpcApp(server=server, port=bound, health=health_servicer,
                  services=tuple(name for _, _, name in registrations))
    app.set_serving(True)
    log.info("%s gRPC listening on %s:%s (%s)", service_name, host, bound, "plaintext" if credentials is None else "TLS")
    return app


def bearer(token: str) -> list[tuple[str, str]]:
    """Call metadata carrying a token, for clients: ``stub.Call(req, metadata=bearer(t))``."""
    return [("authorization", f"Bearer {token}")]
