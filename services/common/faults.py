"""Whose fault a failure is: one table that the consumer loop (``services.common.kafka``) and the
gRPC error interceptor (``services.common.grpc_server``) both use.

- POISON: the message can never be handled; a consumer dead-letters it at once.
- INFRASTRUCTURE: a dependency is out (Kafka, the database) or an aggregate is contended; nobody's
  message or request is wrong. A consumer pauses its stream and retries; an RPC answers UNAVAILABLE,
  which a gRPC client may retry (a ``ConcurrencyConflict`` is a ``DomainError`` and answers ABORTED).
- HANDLER: anything else, a bug or a domain error; a consumer retries a few times, then dead-letters.
"""
from __future__ import annotations

from enum import Enum

from kafka.errors import KafkaError
from pymongo.errors import ConnectionFailure, OperationFailure

from .envelope import UnknownEventType
from .errors import ConcurrencyConflict


class PoisonMessage(Exception):
    """The message can never be handled (undecodable, violates the schema): dead-letter it."""


class Fault(Enum):
    """Whose fault a failure is, which decides what the consumer does about it."""

    INFRASTRUCTURE = "infrastructure"  # nobody's message: pause the stream, retry until it works
    POISON = "poison"  # the message can never be handled: dead-letter it now
    HANDLER = "handler"  # the handler failed on this message: retry a few times, then dead-letter


# One table from a failure to its fault, most specific first; anything else is a HANDLER fault.
FAULT_FOR: list[tuple[type[BaseException], Fault]] = [
    (PoisonMessage, Fault.POISON),
    (UnknownEventType, Fault.POISON),
    (KafkaError, Fault.INFRASTRUCTURE),  # failed commits (member expired, rebalance), outages, timeouts
    (ConnectionFailure, Fault.INFRASTRUCTURE),  # pymongo: AutoReconnect, ServerSelectionTimeoutError, ...
    (ConcurrencyConflict, Fault.INFRASTRUCTURE),  # contention on an aggregate, not the message
    (ConnectionError, Fault.INFRASTRUCTURE),
    (TimeoutError, Fault.INFRASTRUCTURE),
]


def fault_of(exc: BaseException) -> Fault:
    if isinstance(exc, OperationFailure) and "SQLITE_BUSY" in str(exc):
        return Fault.INFRASTRUCTURE  # FerretDB's SQLite still busy after its busy_timeout
    return next((fault for cls, fault in FAULT_FOR if isinstance(exc, cls)), Fault.HANDLER)
