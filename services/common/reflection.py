"""gRPC server reflection as third-party tools expect it: ``grpc.reflection.v1`` beside
``grpc.reflection.v1alpha``, and every symbol resolvable, methods included.

grpcio-reflection (1.85) offers only v1alpha (grpc/grpc#38576) and answers
``file_containing_symbol`` from the descriptor pool, whose ``FindFileContainingSymbol`` (upb)
knows messages, enums, services and extensions but not a service's methods or a message's
fields: ``grpcurl describe llr.certification.v1.CertificationService.Verify`` said "Symbol not
found". So:

* a symbol the pool does not know is looked up as ``<parent>.<member>``: a method of a
  service, a field or oneof of a message, a value of an enum; the answer is the parent's file;
* v1 is the same protocol under another package (its messages are field for field those of
  v1alpha); its file descriptor is derived from v1alpha's and added to the pool, so clients
  can describe the reflection service itself, and one servicer answers on both names.
"""
from __future__ import annotations

import threading
from typing import Iterable

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2
from grpc_reflection.v1alpha.reflection import ReflectionServicer

V1ALPHA_SERVICE = "grpc.reflection.v1alpha.ServerReflection"
V1_SERVICE = "grpc.reflection.v1.ServerReflection"
V1_FILE = "grpc/reflection/v1/reflection.proto"
SERVICE_NAMES = (V1_SERVICE, V1ALPHA_SERVICE)
METHOD = "ServerReflectionInfo"
_ADDING = threading.Lock()


def _v1_file(pool: descriptor_pool.DescriptorPool):
    """The ``grpc/reflection/v1/reflection.proto`` descriptor, added to ``pool`` on first use."""
    with _ADDING:
        try:
            return pool.FindFileByName(V1_FILE)
        except KeyError:
            pool.Add(_v1_file_proto())
            return pool.FindFileByName(V1_FILE)


def _v1_file_proto() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    v1alpha_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name, proto.package = V1_FILE, "grpc.reflection.v1"
    proto.ClearField("options")
    for message in proto.message_type:
        for field in message.field:
            if field.type_name:
                field.type_name = field.type_name.replace(".grpc.reflection.v1alpha.", ".grpc.reflection.v1.")
    for method in proto.service[0].method:
        method.input_type = method.input_type.replace(".v1alpha.", ".v1.")
        method.output_type = method.output_type.replace(".v1alpha.", ".v1.")
    return proto


def _member_file(pool: descriptor_pool.DescriptorPool, symbol: str):
    """The file of ``parent.member`` where the member is a method, field, oneof or enum value."""
    parent, _, member = symbol.rpartition(".")
    lookups = (
        (pool.FindServiceByName, lambda d: member in d.methods_by_name),
        (pool.FindMessageTypeByName, lambda d: member in d.fields_by_name or member in d.oneofs_by_name),
        (pool.FindEnumTypeByName, lambda d: member in d.values_by_name),
    )
    for find, has_member in lookups:
        try:
            descriptor = find(parent)
        except KeyError:
            continue
        if has_member(descriptor):
            return descriptor.file
    raise KeyError(symbol)


class MemberResolvingPool:
    """A descriptor pool whose ``FindFileContainingSymbol`` also finds members (see above);
    everything else is the wrapped pool's."""

    def __init__(self, pool: descriptor_pool.DescriptorPool) -> None:
        self._pool = pool

    def __getattr__(self, name: str):
        return getattr(self._pool, name)

    def FindFileContainingSymbol(self, symbol: str):  # noqa: N802 (the pool's API)
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            return _member_file(self._pool, symbol)


def enable_reflection(service_names: Iterable[str], server: grpc.Server,
                      pool: descriptor_pool.DescriptorPool | None = None) -> None:
    """Offer reflection v1 and v1alpha on ``server`` for ``service_names`` (plus both reflection services)."""
    pool = pool or descriptor_pool.Default()
    _v1_file(pool)
    servicer = ReflectionServicer(tuple(service_names) + SERVICE_NAMES, pool=MemberResolvingPool(pool))
    # One behaviour on both names: v1 messages are field for field v1alpha's, so the v1 bytes
    # decode as v1alpha messages and the answers encode back the same.
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=v1alpha_pb2.ServerReflectionRequest.FromString,
        response_serializer=v1alpha_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(name, {METHOD: handler}) for name in SERVICE_NAMES])
