"""Domain events -> ``llr.accounts.v1`` protobuf messages in the platform envelope.

The proto messages mirror the domain dataclasses field by field, so one generic mapper serves
them all: dates become ISO strings, enums their value, ``None`` the proto default.
"""
from __future__ import annotations

import dataclasses
import enum
from datetime import date, datetime

from llr.accounts.v1 import events_pb2

from services.common.envelope import wrap
from services.common.outbox import PendingEvent


def to_proto(event):
    message_class = getattr(events_pb2, type(event).__name__)
    message = message_class()
    for field in message.DESCRIPTOR.fields:
        value = getattr(event, field.name, None)
        if value is None:
            continue
        if isinstance(value, tuple) and field.message_type is not None:
            # a repeated message, e.g. the scores of CareerOutcomesRecorded
            getattr(message, field.name).extend(field.message_type._concrete_class(**dataclasses.asdict(v))
                                                for v in value)
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, (tuple, list)):
            getattr(message, field.name).extend(value)
            continue
        setattr(message, field.name, value)
    return message


def pending(events, topic: str, version: int) -> list[PendingEvent]:
    """Envelopes for an aggregate's new events (an account's, a budget opening's, keyed by the
    opening id, or a career centre's, keyed by the centre id); ``version`` is the aggregate version they lead to."""
    def aggregate(e) -> tuple[str, str]:
        if hasattr(e, "opening_id"):
            return "budget_opening", e.opening_id
        if not hasattr(e, "account_id"):
            return "career_centre", e.centre_id
        return "account", e.account_id or e.enrolment_id
    return [
        PendingEvent(topic, wrap(to_proto(e), aggregate_type=kind, aggregate_id=key, aggregate_version=version,
                                 producer="accounts", occurred_at=e.occurred_at, event_id=e.event_id))
        for e in events for kind, key in [aggregate(e)]
    ]
