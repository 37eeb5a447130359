"""Consumers ride out what is not a message's fault, on the real Kafka and FerretDB, and the
service's gRPC health tells the truth about them (issue 13).

- a member expiry: the consumer is kept from polling longer than the group allows, the group
  expels it, the commit of its batch fails (``CommitFailedError``); the loop rejoins and every
  record is applied once, and health (NOT_SERVING while it was stuck) is SERVING again;
- a broker restart during a batch: a private broker (never the shared one) is SIGKILLed while
  the consumer is mid-stream and comes back after more than the session timeout; every record
  produced before and after is applied exactly once and the consumer thread lives on;
- a database outage: a private FerretDB is SIGKILLed mid-stream; the stream pauses (health
  NOT_SERVING) instead of dead-lettering, and carries on when the database is back;
- a consumer thread that dies makes the service NOT_SERVING, and the runtime starts it again.

Effects are idempotent the way the services' are: an effect is a document whose ``_id`` is the
event id, so a redelivery changes nothing (``Effects.applied`` counts the inserts that landed).
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

import grpc
import pymongo
import pytest
from google.protobuf.wrappers_pb2 import StringValue
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pymongo.errors import DuplicateKeyError

from services.common.envelope import wrap
from services.common.kafka import KafkaAccess, TopicSpec, make_producer
from services.common.runtime import ServiceRuntime
from services.common.settings import ServiceSettings
from tests.eventually import eventually

from .private_servers import private_broker, private_ferretdb

SESSION_TIMEOUT_MS = 6000  # the broker's minimum (group.min.session.timeout.ms); services use 10 s
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Effects:
    """An idempotent handler that can be held at a given record, as a slow database would."""

    def __init__(self, collection) -> None:
        self.collection = collection
        self._count = threading.Lock()  # a consumer handles different keys on several threads
        self.deliveries = 0
        self.applied = 0
        self.hold_at: int | None = None  # hold before applying this many-th effect
        self.held = threading.Event()
        self.released = threading.Event()

    def __call__(self, envelope) -> None:
        with self._count:
            self.deliveries += 1
        if self.hold_at is not None and self.applied + 1 >= self.hold_at and not self.released.is_set():
            self.held.set()
            self.released.wait()
        try:
            self.collection.insert_one({"_id": envelope.event_id})
            with self._count:
                self.applied += 1
        except DuplicateKeyError:
            pass  # a redelivery: already applied

    def distinct(self) -> int:
        return self.collection.count_documents({})


class ThreadKiller(BaseException):
    """Nothing in a consumer catches it: the consumer's thread ends."""


def produce(kafka: KafkaAccess, topic: str, first: int, count: int) -> None:
    producer = make_producer(kafka, "resilience-test")
    for i in range(first, first + count):
        env = wrap(StringValue(value=str(i)), aggregate_type="probe", aggregate_id=f"agg-{i % 7}",
                   aggregate_version=i + 1, producer="test", occurred_at=datetime.now(timezone.utc),
                   event_id=f"ev-{i:05d}")
        producer.send(topic, key=env.aggregate_id.encode(), value=env.SerializeToString())
    producer.flush()
    producer.close()


class Probe:
    """A service runtime with one consumer on one topic, and its gRPC health."""

    def __init__(self, kafka: KafkaAccess, public_key_file, unique: str, handler, *, stall_after_s: float = 120.0,
                 restart_parts: bool = True, **consumer_options) -> None:
        settings = ServiceSettings(service_name="probe", **kafka.settings_fields(), grpc_port=0,
                                   auth_public_key_file=public_key_file, auth_issuer="llr-test-idp",
                                   topic_namespace=f"{unique}.")
        self.topic = settings.topic("probe")
        self.runtime = ServiceRuntime(settings, stall_after_s=stall_after_s, restart_parts=restart_parts)
        try:
            self.runtime.ensure_topics([TopicSpec(self.topic, partitions=3)])
            self.consumer = self.runtime.add_consumer("probe", [self.topic], handler,
                                                      session_timeout_ms=SESSION_TIMEOUT_MS, **consumer_options)
            self.runtime.serve_grpc([])
        except BaseException:
            self.runtime.stop(grace_s=0)
            raise
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.runtime.grpc.port}")
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def status(self) -> int:
        return self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status

    def consumer_alive(self) -> bool:
        [part] = self.runtime.parts
        return part.thread.is_alive()

    def close(self) -> None:
        self.channel.close()
        self.runtime.stop(grace_s=0)


@pytest.fixture
def effects(mongo_db):
    return Effects(mongo_db["effects"])


@pytest.fixture
def probe_factory(public_key_file, unique):
    probes = []

    def start(kafka: KafkaAccess, handler, **options) -> Probe:
        probe = Probe(kafka, public_key_file, unique, handler, **options)
        probes.append(probe)
        return probe
    yield start
    for probe in probes:
        probe.close()


def warnings_about(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]


def test_member_expired_while_kept_from_polling_rejoins_and_applies_every_record_once(
        kafka, probe_factory, effects, caplog):
    """kafka-python heartbeats from a thread of its own, so what expels a member whose handler
    is stuck is the poll interval: held longer than it, the member leaves the group and the
    commit of its batch fails as after a broker restart."""
    caplog.set_level(logging.WARNING)
    probe = probe_factory(kafka, effects, stall_after_s=2.0, max_poll_interval_ms=SESSION_TIMEOUT_MS)
    produce(kafka, probe.topic, 0, 30)
    eventually(lambda: effects.applied == 30, what="the first records to be applied")
    assert probe.status() == SERVING

    effects.hold_at = 40
    produce(kafka, probe.topic, 30, 30)
    eventually(effects.held.is_set, what="the handler to be held")
    eventually(lambda: probe.status() == NOT_SERVING, what="health to report the stuck consumer")
    eventually(lambda: warnings_about(caplog, "poll timeout has expired"), what="the member to leave the group")
    effects.released.set()

    eventually(lambda: effects.distinct() == 60, timeout_s=60, what="every record to be applied")
    eventually(lambda: probe.status() == SERVING, what="health to be SERVING again")
    assert effects.applied == 60  # each effect once, whatever came back
    assert probe.consumer_alive()
    [paused] = warnings_about(caplog, "paused")  # one line for the outage, not one per attempt
    assert "CommitFailedError" in paused


def test_broker_killed_during_a_batch_and_back_after_the_session_timeout_loses_and_repeats_nothing(
        stack, probe_factory, effects, caplog):
    caplog.set_level(logging.WARNING, logger="services.common")
    with private_broker(stack) as broker:
        probe = probe_factory(broker.kafka, effects, commit_timeout_s=3.0, max_outage_pause_s=2.0)
        effects.hold_at = 100  # before producing: the consumer may apply all 300 before produce returns
        produce(broker.kafka, probe.topic, 0, 300)
        eventually(effects.held.is_set, what="the consumer to be mid-stream")

        broker.kill()
        effects.released.set()  # the batch goes on while the broker is gone; its commits cannot land
        time.sleep(SESSION_TIMEOUT_MS / 1000 + 2)  # down for longer than the session timeout
        broker.start()
        produce(broker.kafka, probe.topic, 300, 100)

        eventually(lambda: effects.distinct() == 400, timeout_s=90, what="every record to be applied")
        eventually(lambda: probe.status() == SERVING, what="health to be SERVING")
        assert effects.applied == 400
        assert probe.consumer_alive()
        assert probe.consumer.outages >= 1 and warnings_about(caplog, "paused")


def test_database_outage_pauses_the_stream_and_dead_letters_nothing(stack, kafka, probe_factory):
    with private_ferretdb(stack) as ferretdb:
        client = pymongo.MongoClient(ferretdb.uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000,
                                     socketTimeoutMS=2000)
        try:
            effects = Effects(client["probe"]["effects"])
            probe = probe_factory(kafka, effects, stall_after_s=2.0, max_outage_pause_s=1.0)
            effects.hold_at = 40  # before producing (see above)
            produce(kafka, probe.topic, 0, 100)
            eventually(effects.held.is_set, what="the consumer to be mid-stream")

            ferretdb.kill()
            effects.released.set()
            eventually(lambda: probe.status() == NOT_SERVING, what="the stream to pause")
            ferretdb.start()

            eventually(lambda: effects.distinct() == 100, timeout_s=60, what="every record to be applied")
            eventually(lambda: probe.status() == SERVING, what="health to be SERVING again")
            assert probe.consumer.dead_lettered == 0
            assert probe.consumer.outages >= 1
        finally:
            client.close()


def test_a_consumer_thread_that_dies_makes_the_service_not_serving(kafka, probe_factory):
    def handler(envelope):
        raise ThreadKiller()

    probe = probe_factory(kafka, handler, restart_parts=False)
    assert probe.status() == SERVING
    produce(kafka, probe.topic, 0, 1)
    eventually(lambda: probe.status() == NOT_SERVING, what="health to report the dead consumer")
    assert not probe.consumer_alive()
    assert probe.runtime.problems == ["consumer-probe is not running"]


def test_a_consumer_thread_that_died_is_started_again_and_carries_on(kafka, probe_factory, effects):
    killed = threading.Event()

    def handler(envelope):
        if not killed.is_set():
            killed.set()
            raise ThreadKiller()
        effects(envelope)

    probe = probe_factory(kafka, handler)
    produce(kafka, probe.topic, 0, 10)
    eventually(lambda: effects.distinct() == 10, what="every record to be applied after the restart")
    eventually(lambda: probe.status() == SERVING, what="health to be SERVING again")
    [part] = probe.runtime.parts
    assert part.deaths == 1 and effects.applied == 10


class FailingOutbox:
    """An outbox whose database is gone: every pass of the relay fails."""

    def attach(self, wake) -> None:
        pass

    def detach(self) -> None:
        pass

    def pending(self, sweep: bool = False, limit: int = 500):
        raise pymongo.errors.AutoReconnect("connection refused")


def test_a_relay_that_cannot_work_makes_the_service_not_serving(kafka, public_key_file, unique, caplog):
    settings = ServiceSettings(service_name="probe", **kafka.settings_fields(), grpc_port=0,
                               auth_public_key_file=public_key_file, auth_issuer="llr-test-idp",
                               topic_namespace=f"{unique}.", outbox_poll_interval_s=0.05)
    runtime = ServiceRuntime(settings, stall_after_s=1.0)
    try:
        runtime.add_outbox_relay([FailingOutbox()])
        runtime.serve_grpc([])
        with grpc.insecure_channel(f"127.0.0.1:{runtime.grpc.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            eventually(lambda: health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
                       == NOT_SERVING, what="health to report the stuck relay")
        assert runtime.problems and runtime.problems[0].startswith("outbox-relay made no progress")
        assert len(warnings_about(caplog, "outbox relay pass failed")) == 1, "logged once, not every pass"
    finally:
        runtime.stop(grace_s=0)


def test_a_watched_loop_that_stops_beating_makes_the_service_not_serving_until_it_beats_again(
        kafka, public_key_file, unique):
    settings = ServiceSettings(service_name="probe", **kafka.settings_fields(), grpc_port=0,
                               auth_public_key_file=public_key_file, auth_issuer="llr-test-idp",
                               topic_namespace=f"{unique}.")
    runtime = ServiceRuntime(settings, stall_after_s=1.0)
    beats = [0.0]   # as the KPI's faust worker: 0.0 until its first read-out tick
    try:
        runtime.serve_grpc([])
        runtime.watch("faust-worker", lambda: beats[0])
        with grpc.insecure_channel(f"127.0.0.1:{runtime.grpc.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)

            def status():
                return health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
            time.sleep(1.5)
            assert status() == SERVING, "a loop that has not started yet is not a stalled one"
            beats[0] = time.monotonic()   # one beat, then silence
            eventually(lambda: status() == NOT_SERVING, what="health to report the silent loop")
            assert runtime.problems[0].startswith("faust-worker made no progress for")
            beating = threading.Event()
            beater = threading.Thread(target=lambda: [beats.__setitem__(0, time.monotonic())
                                                      for _ in iter(lambda: beating.wait(0.1), True)])
            beater.start()   # beats again, every 0.1 s
            try:
                eventually(lambda: status() == SERVING, what="health to recover")
            finally:
                beating.set()
                beater.join()
    finally:
        runtime.stop(grace_s=0)
