"""The outbox relay on an in-memory outbox and a recording producer (no Kafka): what it publishes,
that it reports published events to their source in batches instead of once per pass, that an
entry Kafka refuses for good is set aside instead of retried forever, and that an event too large
to publish cannot be made."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from kafka.errors import MessageSizeTooLargeError

from services.common.envelope import wrap
from services.common.errors import InvalidArgument
from services.common.outbox import MAX_EVENT_BYTES, OutboxRelay, PendingEvent
from services.common.persistence import InMemoryAggregateStore, InMemoryOutbox

NOW = datetime(2026, 7, 6, 9, 0, tzinfo=timezone.utc)


class Sent:
    """What kafka-python's ``send`` returns, already acknowledged."""

    def get(self, timeout: float) -> None:
        return None


class RecordingProducer:
    def __init__(self, refuse: bytes | None = None) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.refuse = refuse
        self.attempts: list[bytes] = []

    def send(self, topic, key, value, headers):
        self.attempts.append(key)
        if key == self.refuse:  # what kafka-python raises for a record above max.request.size
            raise MessageSizeTooLargeError("The message is 2000000 bytes when serialized")
        self.sent.append((topic, key))
        return Sent()

    def flush(self) -> None:
        pass


class CountingOutbox(InMemoryOutbox):
    def __init__(self) -> None:
        super().__init__()
        self.done_calls: list[int] = []

    def done(self, items) -> None:
        items = list(items)
        self.done_calls.append(len(items))
        super().done(items)


def event(aggregate_id: str, n: int, text: str = "made") -> PendingEvent:
    return PendingEvent("t.events", wrap(StringValue(value=text), aggregate_type="thing", aggregate_id=aggregate_id,
                                         aggregate_version=n, producer="test", occurred_at=NOW,
                                         event_id=f"{aggregate_id}:{n}"))


def test_published_events_are_cleared_in_one_batch_after_the_interval():
    outbox = CountingOutbox()
    store = InMemoryAggregateStore("things", outbox)
    producer = RecordingProducer()
    relay = OutboxRelay(producer, [outbox], clear_interval_s=3600, sweep_interval_s=3600)
    relay.run_once()  # the first pass sweeps (nothing there yet)
    for i in range(3):
        store.create(f"t-{i}", {"n": i}, [event(f"t-{i}", 1)])
        assert relay.run_once() == 1
    assert [key for _, key in producer.sent] == [b"t-0", b"t-1", b"t-2"]
    assert outbox.done_calls == [], "published, not yet reported: the interval has not passed"
    relay.clear(force=True)
    assert outbox.done_calls == [3]
    assert outbox.pending() == []
    assert relay.run_once() == 0, "nothing is published twice"


def test_a_full_batch_is_cleared_at_once():
    outbox = CountingOutbox()
    store = InMemoryAggregateStore("things", outbox)
    relay = OutboxRelay(RecordingProducer(), [outbox], batch_size=2, clear_interval_s=3600, sweep_interval_s=3600)
    relay.run_once()
    store.create("a", {}, [event("a", 1)])
    store.create("b", {}, [event("b", 1)])
    relay.run_once()
    assert outbox.done_calls == [2]


def test_an_entry_kafka_refuses_for_good_is_set_aside_and_the_others_are_published():
    outbox = CountingOutbox()
    store = InMemoryAggregateStore("things", outbox)
    producer = RecordingProducer(refuse=b"huge")
    relay = OutboxRelay(producer, [outbox], clear_interval_s=0, sweep_interval_s=0)
    for name in ("a", "huge", "b"):
        store.create(name, {}, [event(name, 1)])
    relay.run_once()
    assert [key for _, key in producer.sent] == [b"a", b"b"]
    assert list(outbox.parked) == ["things:huge#1"] and "MessageSizeTooLargeError" in outbox.parked["things:huge#1"]["reason"]
    assert relay.parked == 1
    for _ in range(3):  # every pass sweeps here: the parked entry is never tried again
        relay.run_once()
    assert producer.attempts.count(b"huge") == 1
    assert outbox.pending(sweep=True) == []


def test_an_event_larger_than_kafka_carries_cannot_be_made():
    event("t", 1, "x" * (MAX_EVENT_BYTES - 1000))  # just under the limit: fine
    with pytest.raises(InvalidArgument, match="more than the 524,288 bytes an event may have"):
        event("t", 1, "x" * MAX_EVENT_BYTES)
