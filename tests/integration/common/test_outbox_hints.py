"""The relay finds this process's new outbox events by ``_id`` (write hints), without scanning
the collection: on FerretDB v1 a scan decodes every document, so the relay sweeps only at start,
after a failure and every ``sweep_interval_s``. Real FerretDB and Kafka."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pymongo
from google.protobuf.wrappers_pb2 import StringValue
from kafka import KafkaConsumer, TopicPartition

from services.common.envelope import decode, wrap
from services.common.kafka import TopicSpec, ensure_topics, make_producer
from services.common.outbox import OutboxRelay, PendingEvent, insert_with_outbox, update_with_outbox


def _event(topic: str, agg_id: str, version: int) -> PendingEvent:
    return PendingEvent(topic, wrap(StringValue(value=f"{agg_id} v{version}"), aggregate_type="counter",
                                    aggregate_id=agg_id, aggregate_version=version, producer="test",
                                    occurred_at=datetime.now(timezone.utc)))


def _published(bootstrap: str, topic: str) -> list[str]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends, seen = consumer.end_offsets(parts), []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for records in consumer.poll(timeout_ms=1000).values():
                seen += [decode(r.value).aggregate_id + f" v{decode(r.value).aggregate_version}" for r in records]
        return sorted(seen)
    finally:
        consumer.close()


def test_relay_publishes_new_events_of_this_process_by_id_without_sweeping(mongo_db, mongo_uri, kafka_bootstrap):
    topic = f"test.hints.{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [TopicSpec(topic, partitions=1)])
    coll = mongo_db["aggregates"]
    # A client without the hint listener writes as another process would: only a sweep finds it.
    other_process = pymongo.MongoClient(mongo_uri)
    elsewhere = other_process[mongo_db.name]["aggregates"]
    insert_with_outbox(elsewhere, {"_id": "before"}, [_event(topic, "before", 1)])
    producer = make_producer(kafka_bootstrap, "hints-test")
    relay = OutboxRelay(producer, [coll], sweep_interval_s=3600)
    try:
        assert relay.run_once() == 1, "the first pass sweeps"
        insert_with_outbox(coll, {"_id": "a"}, [_event(topic, "a", 1)])
        update_with_outbox(coll, "a", 1, {"n": 2}, [_event(topic, "a", 2)])
        assert relay.run_once() == 2, "the hinted document, read by _id"
        elsewhere.update_one({"_id": "a"}, {"$push": {"outbox": _event(topic, "a", 3).to_doc()}})
        assert relay.run_once() == 0, "a write of another process waits for the sweep"
        relay._next_sweep = 0.0  # the sweep interval elapsed
        assert relay.run_once() == 1
    finally:
        relay.stop()
        producer.close()
        other_process.close()
    assert _published(kafka_bootstrap, topic) == ["a v1", "a v2", "a v3", "before v1"]
    assert coll.count_documents({"outbox.0": {"$exists": True}}) == 0
