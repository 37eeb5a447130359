"""An outbox entry the real broker can never take (written before events had a size limit) is set
aside in ``outbox_parked`` with its reason, and everything else is still published: the relay
neither blocks on it nor retries it forever."""
from __future__ import annotations

from datetime import datetime, timezone

from google.protobuf.wrappers_pb2 import StringValue

from services.common.envelope import wrap
from services.common.kafka import TopicSpec, ensure_topics, make_producer
from services.common.outbox import OutboxRelay, PendingEvent
from services.common.persistence import CommitOutbox, MongoAggregateStore

from .test_outbox_crash import _topic_records

NOW = datetime(2026, 7, 6, 9, 0, tzinfo=timezone.utc)


def test_an_event_kafka_refuses_is_parked_and_the_rest_is_published(mongo_db, kafka, unique):
    topic = f"test.parking.{unique}"
    ensure_topics(kafka, [TopicSpec(topic, partitions=1)])
    store = MongoAggregateStore(mongo_db, "things", CommitOutbox(mongo_db))
    ok = PendingEvent(topic, wrap(StringValue(value="fine"), aggregate_type="thing", aggregate_id="small",
                                  aggregate_version=1, producer="test", occurred_at=NOW, event_id="small:1"))
    store.create("small", {"n": 1}, [ok])
    # An entry as an older version could write it: a 1.5 MB event, above Kafka's 1 MiB limit.
    huge = wrap(StringValue(value="x" * 1_500_000), aggregate_type="thing", aggregate_id="huge",
                aggregate_version=1, producer="test", occurred_at=NOW, event_id="huge:1")
    mongo_db["outbox"].insert_one({"_id": "things:huge#1", "at": 0.0})
    mongo_db["things_commits"].insert_one({"_id": "huge#1", "body": {"n": 1}, "events": [
        {"event_id": "huge:1", "topic": topic, "key": "huge", "value": huge.SerializeToString()}]})

    producer = make_producer(kafka, "parking-test")
    relay = OutboxRelay(producer, [CommitOutbox(mongo_db, grace_s=0.0)], sweep_interval_s=0.0)
    try:
        relay.run_once()
        relay.run_once()
    finally:
        relay.stop()
        producer.close()
    assert [r.key for r in _topic_records(kafka, topic)] == [b"small"]
    [parked] = list(mongo_db["outbox_parked"].find({}))
    assert parked["_id"] == "things:huge#1" and "MessageSizeTooLarge" in parked["reason"]
    assert parked["events"][0]["event_id"] == "huge:1"
    assert list(mongo_db["outbox"].find({})) == [], "nothing is left to retry"
    assert relay.parked == 1
