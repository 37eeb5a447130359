"""Kafka helpers on kafka-python: an idempotent producer, topic creation and a consumer loop
that commits only what it handled and sends poison messages to a dead-letter topic."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from .envelope import EventEnvelope, UnknownEventType, decode

log = logging.getLogger(__name__)

DLQ_SUFFIX = ".dlq"


def make_producer(bootstrap: str, client_id: str, **overrides) -> KafkaProducer:
    """An idempotent producer with acks=all: a retried send is written once per partition."""
    config = dict(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        retries=2**31 - 1,
        linger_ms=2,
        # kafka-python 2.x guarantees idempotence only with one request in flight per broker.
        max_in_flight_requests_per_connection=1,
        request_timeout_ms=15000,
    )
    config.update(overrides)
    return KafkaProducer(**config)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 3
    compacted: bool = False


def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec], replication_factor: int = 1) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    specs = list(specs)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="llr-topic-admin", request_timeout_ms=15000)
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(s.name, num_partitions=s.partitions, replication_factor=replication_factor,
                     topic_configs={"cleanup.policy": "compact"} if s.compacted else {})
            for s in specs if s.name not in existing
        ]
        if missing:
            try:
                admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # created concurrently by another process: that is what we wanted
        _wait_for_metadata(admin, [s.name for s in specs])
    finally:
        admin.close()


def _wait_for_metadata(admin: KafkaAdminClient, names: list[str], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if set(names) <= set(admin.list_topics()):
            return
        time.sleep(0.1)
    raise RuntimeError(f"topics not visible after {timeout_s}s: {names}")


class PoisonMessage(Exception):
    """The message can never be handled (undecodable, violates the schema): dead-letter it."""


Handler = Callable[[EventEnvelope], None]


class EventConsumer:
    """Consumes envelopes from topics in a consumer group, at least once.

    Offsets are committed only after the handler returned, so a crash re-delivers; handlers must
    be idempotent (see ``services/common/README.md``). A message that cannot be decoded, or whose
    handler raises ``PoisonMessage``, goes to ``<topic>.dlq`` with the reason in a header and the
    stream moves on. Any other exception is treated as transient: the consumer seeks back and
    retries the same message after a pause, so nothing is skipped.
    """

    def __init__(
        self,
        *,
        bootstrap: str,
        group_id: str,
        topics: list[str],
        handler: Handler,
        client_id: str = "llr-consumer",
        retry_pause_s: float = 1.0,
        **overrides,
    ) -> None:
        self.topics = topics
        self.handler = handler
        self.retry_pause_s = retry_pause_s
        config = dict(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=200,
            session_timeout_ms=10000,
            heartbeat_interval_ms=1000,
            # A topic created just before subscribing may be missing from the first metadata
            # answer; without a short refresh the group would sit unassigned for 5 minutes.
            metadata_max_age_ms=5000,
        )
        config.update(overrides)
        self._consumer = KafkaConsumer(**config)
        self._consumer.subscribe(topics)
        self._dlq_producer: KafkaProducer | None = None
        self._bootstrap = bootstrap
        self._stop = threading.Event()
        self.dead_lettered = 0

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                self.poll_once(timeout_ms=200)
        finally:
            self.close()

    def poll_once(self, timeout_ms: int = 200) -> int:
        """Handle one poll's worth of records; returns how many were handled."""
        batches = self._consumer.poll(timeout_ms=timeout_ms)
        handled = 0
        for tp, records in batches.items():
            for record in records:
                try:
                    self._handle(record)
                except Exception:
                    log.exception("handler failed on %s@%s; retrying", tp, record.offset)
                    self._consumer.seek(tp, record.offset)
                    self._commit(tp, record.offset)
                    time.sleep(self.retry_pause_s)
                    break
                handled += 1
            else:
                if records:
                    self._commit(tp, records[-1].offset + 1)
        return handled

    def _commit(self, tp: TopicPartition, next_offset: int) -> None:
        self._consumer.commit({tp: OffsetAndMetadata(next_offset, "", -1)})

    def _handle(self, record) -> None:
        try:
            envelope = decode(record.value)
        except Exception as exc:  # undecodable bytes can never succeed
            self._dead_letter(record, f"undecodable envelope: {exc}")
            return
        try:
            self.handler(envelope)
        except PoisonMessage as exc:
            self._dead_letter(record, str(exc))
        except UnknownEventType as exc:  # no retry can make an unknown payload type known
            self._dead_letter(record, f"unknown event type {exc}")

    def _dead_letter(self, record, reason: str) -> None:
        if self._dlq_producer is None:
            self._dlq_producer = make_producer(self._bootstrap, "llr-dlq")
        ensure_topics(self._bootstrap, [TopicSpec(record.topic + DLQ_SUFFIX, partitions=1)])
        headers = [
            ("dlq.reason", reason.encode()),
            ("dlq.source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        self._dlq_producer.send(record.topic + DLQ_SUFFIX, key=record.key, value=record.value, headers=headers).get(30)
        self.dead_lettered += 1
        log.warning("dead-lettered %s/%s@%s: %s", record.topic, record.partition, record.offset, reason)

    def close(self) -> None:
        self._consumer.close()
        if self._dlq_producer is not None:
            self._dlq_producer.close()
            self._dlq_producer = None
