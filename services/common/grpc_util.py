"""Wrapping gRPC method handlers of any of the four call shapes."""
from __future__ import annotations

from typing import Any, Callable

import grpc

Behaviour = Callable[[Any, grpc.ServicerContext], Any]
Decorator = Callable[[Behaviour], Behaviour]


def wrap_rpc_handler(handler: grpc.RpcMethodHandler, unary: Decorator, streaming: Decorator) -> grpc.RpcMethodHandler:
    """Decorate the behaviour of ``handler``.

    ``unary`` decorates calls that return one response; ``streaming`` decorates calls that return
    a response iterator and must itself return a generator function (so that code around its
    ``yield from`` runs while the responses are produced).
    """
    ser, de = handler.response_serializer, handler.request_deserializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary), de, ser)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary(handler.stream_unary), de, ser)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(streaming(handler.unary_stream), de, ser)
    return grpc.stream_stream_rpc_method_handler(streaming(handler.stream_stream), de, ser)
