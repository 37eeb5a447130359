"""The outbox relay is killed with SIGKILL between publishing and clearing its pointers; after a
restart every event arrives, and an idempotent consumer (the event id recorded in the same commit
as its effect) applies each exactly once."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

from google.protobuf.wrappers_pb2 import StringValue
from kafka import TopicPartition

from services.common.envelope import unwrap, wrap
from services.common.kafka import EventConsumer, TopicSpec, ensure_topics, make_consumer
from services.common.outbox import PendingEvent
from services.common.persistence import AggregateNotFound, CommitOutbox, Decision, MongoAggregateStore

AGGREGATES = 40
EVENTS_EACH = 3


def _event(topic, agg_id, version):
    env = wrap(StringValue(value=f"{agg_id} v{version}"), aggregate_type="counter", aggregate_id=agg_id,
               aggregate_version=version, producer="test", occurred_at=datetime.now(timezone.utc))
    return PendingEvent(topic, env)


def _relay(mongo_uri, db, kafka, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.common.relay_process", "--mongo-uri", mongo_uri, "--db", db,
         "--bootstrap", kafka.bootstrap, "--kafka-user", kafka.username, "--kafka-password", kafka.password, *extra],
        cwd=os.getcwd(),
    )


def _pending(store: MongoAggregateStore) -> int:
    """Events of the commits whose outbox pointer is still there."""
    return sum(len(store.commits.find_one({"_id": p["_id"].partition(":")[2]})["events"])
               for p in store.outbox.pointers.find({}))


def _wait(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _topic_records(kafka, topic):
    consumer = make_consumer(kafka, consumer_timeout_ms=3000, auto_offset_reset="earliest")
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    end = consumer.end_offsets(parts)
    total = sum(end.values())
    records = []
    while len(records) < total:
        batch = consumer.poll(timeout_ms=1000)
        for recs in batch.values():
            records.extend(recs)
    consumer.close()
    return records


def test_relay_killed_mid_flight_loses_nothing_and_consumer_applies_each_once(
        mongo_db, mongo_uri, kafka, unique, tmp_path):
    topic = f"test.outbox.{unique}"
    ensure_topics(kafka, [TopicSpec(topic, partitions=3)])
    # The writes, by this process (whose own relay never runs: the relay process finds them).
    aggregates = MongoAggregateStore(mongo_db, "aggregates", CommitOutbox(mongo_db))
    written = set()
    for i in range(AGGREGATES):
        agg = f"agg-{i:03d}"
        first = _event(topic, agg, 1)
        aggregates.create(agg, {"n": 1}, [first])
        written.add(first.envelope.event_id)
        for version in range(2, EVENTS_EACH + 1):
            ev = _event(topic, agg, version)
            aggregates.update(agg, lambda r, ev=ev: Decision(None, {"n": r.body["n"] + 1}, [ev]))
            written.add(ev.envelope.event_id)
    assert _pending(aggregates) == AGGREGATES * EVENTS_EACH

    # First relay: publishes one batch of 10 commits, then is SIGKILLed before clearing them.
    marker = tmp_path / "published"
    first = _relay(mongo_uri, mongo_db.name, kafka, "--batch-size", "10", "--pause-after-publish", str(marker))
    try:
        _wait(marker.exists, 60, "the first relay to publish a batch")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert first.returncode == -signal.SIGKILL
    published_before_crash = len(_topic_records(kafka, topic))
    assert published_before_crash == 10
    assert _pending(aggregates) == AGGREGATES * EVENTS_EACH, "nothing may be cleared before the crash"

    # Restarted relay drains every outbox.
    second = _relay(mongo_uri, mongo_db.name, kafka)
    try:
        _wait(lambda: _pending(aggregates) == 0, 60, "the restarted relay to drain the outboxes")
    finally:
        second.terminate()
        second.wait(10)

    records = _topic_records(kafka, topic)
    ids_on_topic = [r.headers[0][1].decode() for r in records]
    assert set(ids_on_topic) == written, "every written event arrives"
    assert len(records) == len(written) + published_before_crash, "the crashed batch was published twice"

    # An idempotent consumer applies each event exactly once, even when it reads everything twice:
    # the event id is recorded in the same commit as the effect.
    counters = MongoAggregateStore(mongo_db, "counters", CommitOutbox(mongo_db))

    def count(record):
        if envelope_id in record.body["applied"]:
            return Decision(None)
        return Decision(None, {"applied": record.body["applied"] + [envelope_id]})

    def handle(envelope):
        nonlocal envelope_id
        unwrap(envelope)
        envelope_id = envelope.event_id
        try:
            counters.update(envelope.aggregate_id, count)
        except AggregateNotFound:
            try:
                counters.create(envelope.aggregate_id, {"applied": [envelope_id]})
            except Exception:  # created concurrently: count on it
                counters.update(envelope.aggregate_id, count)
    envelope_id = ""

    for group in ("first-pass", "replay-from-zero"):
        consumer = EventConsumer(kafka=kafka, group_id=f"{group}-{unique}", topics=[topic],
                                 handler=handle)
        seen = 0
        deadline = time.monotonic() + 60
        while seen < len(records) and time.monotonic() < deadline:
            seen += consumer.poll_once(timeout_ms=500)
        consumer.close()
        assert seen == len(records)
        applied = {f"agg-{i:03d}": len(counters.load(f"agg-{i:03d}").body["applied"]) for i in range(AGGREGATES)}
        assert applied == {f"agg-{i:03d}": EVENTS_EACH for i in range(AGGREGATES)}
