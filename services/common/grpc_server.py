"""gRPC server bootstrap shared by every service: health checking, reflection, authentication,
the domain-error to status-code mapping and the ``PlatformService.WhoAmI`` call."""
from __future__ import annotations

import logging
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from llr.common.v1 import platform_pb2, platform_pb2_grpc

from . import errors
from .auth import AuthInterceptor, TokenVerifier, current_principal
from .grpc_util import wrap_rpc_handler

log = logging.getLogger(__name__)

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


class ErrorInterceptor(grpc.ServerInterceptor):
    """Turns a ``DomainError`` raised by a handler into its status code with the reason as details."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None

        def unary(fn):
            def call(request, context):
                try:
                    return fn(request, context)
                except errors.DomainError as exc:
                    context.abort(status_for(exc), exc.reason)
            return call

        def streaming(fn):
            def call(request, context):
                try:
                    yield from fn(request, context)
                except errors.DomainError as exc:
                    context.abort(status_for(exc), exc.reason)
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
) -> GrpcApp:
    """Create and start a server; ``port=0`` picks a free port (returned in ``GrpcApp.port``)."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=f"{service_name}-grpc"),
        interceptors=[AuthInterceptor(verifier, public_methods), ErrorInterceptor()],
        options=[("grpc.so_reuseport", 0)],
    )
    registrations = list(registrations)
    registrations.append((platform_pb2_grpc.add_PlatformServiceServicer_to_server, PlatformServicer(service_name),
                          platform_pb2.DESCRIPTOR.services_by_name["PlatformService"].full_name))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
    for add, servicer, name in registrations:
        add(servicer, server)
        names.append(name)
    reflection.enable_server_reflection(names, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise RuntimeError(f"{service_name}: cannot listen on {host}:{port} (port in use?)")
    server.start()
    app = GrpcApp(server=server, port=bound, health=health_servicer,
                  services=tuple(name for _, _, name in registrations))
    app.set_serving(True)
    log.info("%s gRPC listening on %s:%s", service_name, host, bound)
    return app


def bearer(token: str) -> list[tuple[str, str]]:
    """Call metadata carrying a token, for clients: ``stub.Call(req, metadata=bearer(t))``."""
    return [("authorization", f"Bearer {token}")]
