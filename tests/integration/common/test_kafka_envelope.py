"""Envelopes over the real Kafka broker, and dead-lettering of poison messages."""
from __future__ import annotations

from datetime import datetime, timezone

from google.protobuf.wrappers_pb2 import StringValue

from services.common.envelope import decode, unwrap, wrap
from services.common.kafka import DLQ_SUFFIX, EventConsumer, TopicSpec, ensure_topics, make_consumer, make_producer


def test_envelope_round_trip_over_kafka(kafka, unique):
    topic = f"test.envelope.{unique}"
    ensure_topics(kafka, [TopicSpec(topic, partitions=3)])
    when = datetime(2025, 3, 1, 10, 30, tzinfo=timezone.utc)
    sent = [
        wrap(StringValue(value=f"hello {i}"), aggregate_type="greeting", aggregate_id=f"agg-{i % 2}",
             aggregate_version=i + 1, producer="test", occurred_at=when, correlation_id="corr-1")
        for i in range(6)
    ]
    producer = make_producer(kafka, "test")
    for env in sent:
        producer.send(topic, key=env.aggregate_id.encode(), value=env.SerializeToString()).get(30)
    producer.close()

    consumer = make_consumer(kafka, topic, auto_offset_reset="earliest",
                             group_id=f"g-{unique}", consumer_timeout_ms=10000)
    received = []
    for record in consumer:
        received.append((record.key.decode(), decode(record.value)))
        if len(received) == len(sent):
            break
    consumer.close()

    assert sorted(e.event_id for _, e in received) == sorted(e.event_id for e in sent)
    for key, env in received:
        assert key == env.aggregate_id
        assert env.occurred_at.ToDatetime(tzinfo=timezone.utc) == when
        assert unwrap(env).value.startswith("hello ")
    # Events of one aggregate keep their order (same key -> same partition).
    versions = [e.aggregate_version for k, e in received if k == "agg-0"]
    assert versions == sorted(versions) == [1, 3, 5]


def test_poison_message_goes_to_dead_letter_topic_and_stream_moves_on(kafka, unique):
    topic = f"test.poison.{unique}"
    ensure_topics(kafka, [TopicSpec(topic, partitions=1)])
    producer = make_producer(kafka, "test")
    good1 = wrap(StringValue(value="a"), aggregate_type="t", aggregate_id="x", aggregate_version=1,
                 producer="test", occurred_at=datetime.now(timezone.utc))
    good2 = wrap(StringValue(value="b"), aggregate_type="t", aggregate_id="x", aggregate_version=2,
                 producer="test", occurred_at=datetime.now(timezone.utc))
    for value in (good1.SerializeToString(), b"\xff\xfenot a protobuf", good2.SerializeToString()):
        producer.send(topic, key=b"x", value=value).get(30)
    producer.close()

    handled = []
    consumer = EventConsumer(kafka=kafka, group_id=f"g-{unique}", topics=[topic],
                             handler=lambda env: handled.append(unwrap(env).value))
    for _ in range(100):
        consumer.poll_once(timeout_ms=200)
        if len(handled) == 2:
            break
    consumer.close()
    assert handled == ["a", "b"]
    assert consumer.dead_lettered == 1

    dlq = make_consumer(kafka, topic + DLQ_SUFFIX, auto_offset_reset="earliest",
                        consumer_timeout_ms=10000)
    record = next(iter(dlq))
    dlq.close()
    headers = dict(record.headers)
    assert record.value == b"\xff\xfenot a protobuf"
    assert b"undecodable" in headers["dlq.reason"]
    assert headers["dlq.source"] == f"{topic}/0/1".encode()


def test_a_consumer_catching_up_on_many_full_partitions_reads_them_without_dropping_its_connection(
        kafka, unique, caplog):
    """Six partitions with 1.5 MB each: one fetch answers more than kafka-python's default frame
    limit (1 MB), which used to close the connection with "Invalid frame length"."""
    topic = f"test.catchup.{unique}"
    ensure_topics(kafka, [TopicSpec(topic, partitions=6)])
    producer = make_producer(kafka, "test")
    value = b"x" * 50_000
    for i in range(180):
        producer.send(topic, key=f"k{i}".encode(), value=value, partition=i % 6)
    producer.flush()
    producer.close()

    consumer = make_consumer(kafka, topic, auto_offset_reset="earliest", group_id=f"g-{unique}",
                             consumer_timeout_ms=10000)
    try:
        received = 0
        for _ in consumer:
            received += 1
            if received == 180:
                break
    finally:
        consumer.close()
    assert received == 180
    assert not [r for r in caplog.records if "Invalid frame length" in r.getMessage()]
