"""The outbox relay on an in-memory outbox and a recording producer (no Kafka): what it publishes,
and that it reports published events to their source in batches instead of once per pass."""
from __future__ import annotations

from datetime import datetime, timezone

from services.common.envelope import wrap
from services.common.outbox import OutboxRelay, PendingEvent
from services.common.persistence import InMemoryAggregateStore, InMemoryOutbox

from llr.common.v1 import envelope_pb2

NOW = datetime(2026, 7, 6, 9, 0, tzinfo=timezone.utc)


class Sent:
    """What kafka-python's ``send`` returns, already acknowledged."""

    def get(self, timeout: float) -> None:
        return None


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def send(self, topic, key, value, headers):
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


def event(aggregate_id: str, n: int) -> PendingEvent:
    payload = envelope_pb2.EventEnvelope(event_type="test.Made")  # any registered message will do
    return PendingEvent("t.events", wrap(payload, aggregate_type="thing", aggregate_id=aggregate_id,
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
