"""What the consumer loop does when handling fails, on a fake Kafka consumer and dead-letter
sender (no broker): a failure that is the message's fault dead-letters it after a bounded number
of attempts; an infrastructure failure never does, it pauses the stream and nothing is skipped."""
from __future__ import annotations

import logging
import threading
from collections import namedtuple
from datetime import datetime, timezone

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from kafka import TopicPartition
from kafka.errors import CommitFailedError, KafkaConnectionError, KafkaTimeoutError, NoBrokersAvailable
from pymongo.errors import AutoReconnect, ConnectionFailure, OperationFailure, ServerSelectionTimeoutError

from services.common import errors
from services.common.envelope import UnknownEventType, unwrap, wrap
from services.common.kafka import EventConsumer, Fault, KafkaAccess, PoisonMessage, fault_of
from tests.eventually import eventually

Record = namedtuple("Record", "topic partition offset key value")
TOPIC = "t"
ATTEMPTS = 3

INFRASTRUCTURE_ERRORS = [
    CommitFailedError("member expired"), NoBrokersAvailable(), KafkaTimeoutError(), KafkaConnectionError("reset"),
    AutoReconnect("lost"), ServerSelectionTimeoutError("no server"), ConnectionFailure("refused"),
    OperationFailure("SQLITE_BUSY: database is locked"), errors.ConcurrencyConflict("raced"),
    ConnectionResetError(), TimeoutError(),
]
MESSAGE_ERRORS = [
    errors.FailedPrecondition("account closed"), errors.InvalidArgument("amount", "negative"), ValueError("bad"),
    KeyError("missing"), OperationFailure("unknown operator $foo"),
]


class FakeKafka:
    """Just enough of a subscribed ``KafkaConsumer``: partitions of one topic, positions, commits."""

    def __init__(self, partitions: dict[int, list[bytes]]) -> None:
        self.records = {TopicPartition(TOPIC, p): [Record(TOPIC, p, i, b"k", v) for i, v in enumerate(values)]
                        for p, values in partitions.items()}
        self.position = {tp: 0 for tp in self.records}
        self.committed: dict[TopicPartition, int] = {}
        self.commit_failures: list[Exception] = []  # raised by the next commits, in order

    def poll(self, timeout_ms: int = 0) -> dict:
        batches = {tp: records[self.position[tp]:] for tp, records in self.records.items()
                   if records[self.position[tp]:]}
        for tp, records in batches.items():
            self.position[tp] = records[-1].offset + 1
        return batches

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.position[tp] = offset

    def commit(self, offsets: dict, timeout_ms: int | None = None) -> None:
        if self.commit_failures:
            exc = self.commit_failures.pop(0)
            if isinstance(exc, CommitFailedError):  # the member is out; rejoining resumes from the commits
                self.position = {tp: self.committed.get(tp, 0) for tp in self.records}
            raise exc
        self.committed.update({tp: meta.offset for tp, meta in offsets.items()})

    def close(self, timeout_ms: int | None = None) -> None:
        pass

    def all_committed(self) -> bool:
        return all(self.committed.get(tp) == len(records) for tp, records in self.records.items())


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[Record, str]] = []

    def send(self, record, reason: str) -> None:
        self.sent.append((record, reason))

    def close(self) -> None:
        pass


def envelope(text: str) -> bytes:
    return wrap(StringValue(value=text), aggregate_type="t", aggregate_id=text, aggregate_version=1,
                producer="test", occurred_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
                event_id=f"ev-{text}").SerializeToString()


def consumer_on(kafka: FakeKafka, handler, workers: int = 1) -> tuple[EventConsumer, FakeDeadLetters]:
    dlq = FakeDeadLetters()
    consumer = EventConsumer(kafka=KafkaAccess("unused:9092", "test", "unused"), group_id="g", topics=[TOPIC], handler=handler,
                             attempts=ATTEMPTS, retry_pause_s=0, max_outage_pause_s=0.01,
                             dead_letters=dlq, connect=lambda config: kafka, workers=workers)
    return consumer, dlq


@pytest.mark.parametrize("exc", INFRASTRUCTURE_ERRORS, ids=lambda e: type(e).__name__)
def test_infrastructure_failures_are_nobody_s_message_fault(exc):
    assert fault_of(exc) is Fault.INFRASTRUCTURE


@pytest.mark.parametrize("exc", MESSAGE_ERRORS, ids=lambda e: type(e).__name__)
def test_other_handler_errors_may_be_the_message_s_fault(exc):
    assert fault_of(exc) is Fault.HANDLER


def test_poison_is_known_at_once():
    assert fault_of(PoisonMessage("schema")) is fault_of(UnknownEventType("x.Y")) is Fault.POISON


@pytest.mark.parametrize("exc", MESSAGE_ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("workers", [1, 4])
def test_a_message_that_keeps_failing_is_dead_lettered_after_the_attempts_and_the_stream_moves_on(exc, workers):
    kafka = FakeKafka({0: [envelope("a"), envelope("bad"), envelope("c")]})
    calls, handled = [], []

    def handler(env):
        value = unwrap(env).value
        calls.append(value)
        if value == "bad":
            raise exc
        handled.append(value)

    consumer, dlq = consumer_on(kafka, handler, workers)
    assert consumer.poll_once() == 3
    assert handled == ["a", "c"]
    assert calls.count("bad") == ATTEMPTS
    [(record, reason)] = dlq.sent
    assert (record.offset, record.value) == (1, envelope("bad"))
    assert reason.startswith(f"handler failed {ATTEMPTS} times: {type(exc).__name__}")
    assert kafka.all_committed()


def test_a_failure_that_clears_on_a_retry_is_not_dead_lettered():
    kafka = FakeKafka({0: [envelope("flaky")]})
    calls = []

    def handler(env):
        calls.append(1)
        if len(calls) < ATTEMPTS:
            raise errors.FailedPrecondition("not yet")

    consumer, dlq = consumer_on(kafka, handler)
    assert consumer.poll_once() == 1
    assert (len(calls), dlq.sent, kafka.all_committed()) == (ATTEMPTS, [], True)


def test_poison_is_dead_lettered_without_a_retry():
    kafka = FakeKafka({0: [b"\xff\xfenot a protobuf", envelope("ok")]})
    calls = []
    consumer, dlq = consumer_on(kafka, lambda env: calls.append(unwrap(env).value))
    consumer.poll_once()
    assert calls == ["ok"]
    [(record, reason)] = dlq.sent
    assert record.offset == 0 and reason.startswith("undecodable envelope")


@pytest.mark.parametrize("exc", INFRASTRUCTURE_ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("workers", [1, 4])
def test_an_infrastructure_failure_never_dead_letters_and_skips_nothing(exc, workers):
    """However often it fails (many more times than the attempts a message gets), the stream
    waits at the failing record and, once the failure is gone, carries on from there."""
    kafka = FakeKafka({0: [envelope("a0"), envelope("a1"), envelope("a2")], 1: [envelope("b0"), envelope("b1")]})
    outage = {"left": 10}
    handled = []

    def handler(env):
        value = unwrap(env).value
        if value == "a1" and outage["left"]:
            outage["left"] -= 1
            raise exc
        handled.append(value)

    consumer, dlq = consumer_on(kafka, handler, workers)
    for _ in range(10):
        with pytest.raises(type(exc)):
            consumer.poll_once()
        assert kafka.committed.get(TopicPartition(TOPIC, 0), 0) <= 1  # never past the failing record
    assert consumer.poll_once() > 0
    consumer.poll_once()
    assert dlq.sent == []
    assert set(handled) == {"a0", "a1", "a2", "b0", "b1"}
    assert kafka.all_committed()


@pytest.mark.parametrize("workers", [1, 4])
def test_the_loop_survives_failed_commits_logs_the_outage_once_and_carries_on(caplog, workers):
    kafka = FakeKafka({0: [envelope("a"), envelope("b")]})
    kafka.commit_failures = [CommitFailedError("UnknownMemberIdError"), KafkaTimeoutError(), KafkaTimeoutError()]
    handled = []
    consumer, dlq = consumer_on(kafka, lambda env: handled.append(unwrap(env).value), workers)
    caplog.set_level(logging.INFO, logger="services.common.kafka")
    thread = threading.Thread(target=consumer.run)
    thread.start()
    try:
        eventually(kafka.all_committed, what="the commits to go through")
        assert thread.is_alive()
    finally:
        consumer.stop()
        thread.join(10)
    assert handled == ["a", "b", "a", "b"]  # what was not committed came back
    assert dlq.sent == [] and consumer.outages == 1
    paused = [r for r in caplog.records if "paused" in r.getMessage()]
    assert len(paused) == 1 and "CommitFailedError" in paused[0].getMessage()
    assert any("works again" in r.getMessage() for r in caplog.records)


def test_side_by_side_each_key_keeps_its_order_and_a_failed_key_is_rewound_to_where_it_stopped():
    """Four workers, one partition, two keys interleaved: the records of each key are handled in
    order while the other key goes on; when key "x" meets an outage at its second record, the
    poll commits nothing of the partition, and the next poll starts again at that record (what
    "y" handled after it comes again: handlers are idempotent)."""
    kafka = FakeKafka({0: []})
    tp = TopicPartition(TOPIC, 0)
    kafka.records[tp] = [Record(TOPIC, 0, i, key, envelope(f"{key.decode()}{i}"))
                         for i, key in enumerate([b"x", b"y", b"x", b"y", b"x", b"y"])]
    outage = {"left": 1}
    seen: list[str] = []
    both_running = threading.Barrier(2, timeout=5)

    def handler(env):
        value = unwrap(env).value
        if value in ("x0", "y1"):
            both_running.wait()  # each key's first record waits for the other key's: side by side
        if value == "x2" and outage["left"]:
            outage["left"] -= 1
            raise AutoReconnect("lost")
        seen.append(value)

    consumer, dlq = consumer_on(kafka, handler, workers=4)
    with pytest.raises(AutoReconnect):
        consumer.poll_once()
    assert kafka.committed.get(tp) is None and kafka.position[tp] == 2
    assert [v for v in seen if v[0] == "x"] == ["x0"] and [v for v in seen if v[0] == "y"] == ["y1", "y3", "y5"]
    seen.clear()
    assert consumer.poll_once() == 4
    assert [v for v in seen if v[0] == "x"] == ["x2", "x4"] and [v for v in seen if v[0] == "y"] == ["y3", "y5"]
    assert kafka.all_committed() and dlq.sent == []
