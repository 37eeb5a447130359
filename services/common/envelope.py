"""The event envelope: every event on every topic is an ``llr.common.v1.EventEnvelope``.

Its ``actor`` says who caused the event: the authenticated caller of the gRPC call during which
it was wrapped (``auth.acting_principal``), or, outside a call (a saga step, a deadline, a job),
the system actor: role ``SYSTEM`` and the producing service as subject.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from google.protobuf import any_pb2, descriptor_pool, message, message_factory
from google.protobuf.timestamp_pb2 import Timestamp

from llr.common.v1 import envelope_pb2

from .auth import Principal, acting_principal
from .clock import Clock

EventEnvelope = envelope_pb2.EventEnvelope
Actor = envelope_pb2.Actor
SYSTEM_ROLE = "SYSTEM"


class UnknownEventType(Exception):
    """The payload type is not a message this process knows (its pb2 module is not imported)."""


def new_event_id() -> str:
    return str(uuid.uuid4())


def to_timestamp(instant: datetime) -> Timestamp:
    if instant.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    ts = Timestamp()
    ts.FromDatetime(instant)
    return ts


def from_timestamp(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=timezone.utc)


def actor_of(principal: Principal) -> Actor:
    return Actor(organisation_id=principal.organisation_id, role=principal.role.value, subject=principal.subject)


def system_actor(service: str) -> Actor:
    return Actor(role=SYSTEM_ROLE, subject=service)


def current_actor(service: str) -> Actor:
    """The caller of the gRPC call this thread handles, else ``service``'s system actor."""
    principal = acting_principal()
    return system_actor(service) if principal is None else actor_of(principal)


def wrap(
    payload: message.Message,
    *,
    aggregate_type: str,
    aggregate_id: str,
    aggregate_version: int,
    producer: str,
    clock: Clock | None = None,
    occurred_at: datetime | None = None,
    correlation_id: str = "",
    causation_id: str = "",
    event_id: str | None = None,
    actor: Actor | None = None,
) -> EventEnvelope:
    """Wrap a payload message; ``occurred_at`` defaults to ``clock.now()``, ``actor`` to
    ``current_actor(producer)``."""
    if occurred_at is None:
        if clock is None:
            raise ValueError("wrap() needs a clock or an explicit occurred_at")
        occurred_at = clock.now()
    packed = any_pb2.Any()
    packed.Pack(payload)
    return EventEnvelope(
        event_id=event_id or new_event_id(),
        event_type=payload.DESCRIPTOR.full_name,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        aggregate_version=aggregate_version,
        occurred_at=to_timestamp(occurred_at),
        correlation_id=correlation_id,
        causation_id=causation_id,
        producer=producer,
        payload=packed,
        actor=actor if actor is not None else current_actor(producer),
    )


def unwrap(envelope: EventEnvelope) -> message.Message:
    """The payload as its concrete message class (its pb2 module must have been imported)."""
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(envelope.event_type)
    except KeyError as exc:
        raise UnknownEventType(envelope.event_type) from exc
    payload = message_factory.GetMessageClass(descriptor)()
    if not envelope.payload.Unpack(payload):
        raise UnknownEventType(f"payload is {envelope.payload.TypeName()}, envelope says {envelope.event_type}")
    return payload


def decode(data: bytes) -> EventEnvelope:
    env = EventEnvelope()
    env.ParseFromString(data)
    if not env.event_id or not env.event_type:
        raise ValueError("not an event envelope: event_id or event_type missing")
    return env
