"""Kafka helpers on kafka-python: an idempotent producer, topic creation and a consumer loop
that commits only what it handled, sends messages that cannot be handled to a dead-letter topic
and rides out broker and database outages."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Iterable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata
from tenacity import (
    RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_when_event_set, wait_exponential,
    wait_exponential_jitter,
)

from .envelope import EventEnvelope, UnknownEventType, decode
from .faults import Fault, PoisonMessage, fault_of  # noqa: F401 (PoisonMessage: raised by handlers)
from .kafka_security import DLQ_SUFFIX, KafkaAccess, logs_in

log = logging.getLogger(__name__)

__all__ = ["DLQ_SUFFIX", "KafkaAccess"]


def make_producer(kafka: KafkaAccess, client_id: str, **overrides) -> KafkaProducer:
    """An idempotent producer with acks=all: a retried send is written once per partition."""
    config = dict(
        **kafka.client_config(),
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
    return _connect(kafka, KafkaProducer, **config)


def _connect(kafka: KafkaAccess, client_class, *args, **config):
    """A kafka-python client of ``client_class``; a broker that refuses the credentials is a
    ``KafkaAuthError`` naming the principal."""
    try:
        return client_class(*args, **config)
    except Exception as exc:
        try:
            refused = not logs_in(kafka)
        except Exception:
            refused = False
        if refused:
            raise kafka.auth_error(exc) from exc
        raise


def make_admin(kafka: KafkaAccess, client_id: str, **overrides) -> KafkaAdminClient:
    return _connect(kafka, KafkaAdminClient, **kafka.client_config(), client_id=client_id, **overrides)


# kafka-python asks for up to 50 MB per fetch (``fetch_max_bytes``) but drops a connection whose
# response frame exceeds ``receive_message_max_bytes`` (1 MB): a consumer catching up on several
# partitions at 1 MB each got "Invalid frame length", a reconnect and a metadata refresh instead
# of its records. The two limits agree here: a fetch answers at most FETCH_MAX_BYTES of records,
# and a frame may carry that plus the response's own headers.
FETCH_MAX_BYTES = 8 * 1024 * 1024
FRAME_OVERHEAD_BYTES = 1024 * 1024


def make_consumer(kafka: KafkaAccess, *topics: str, **config) -> KafkaConsumer:
    """A plain kafka-python consumer (``config``: its settings) as ``kafka``'s principal."""
    fetch_max = config.pop("fetch_max_bytes", FETCH_MAX_BYTES)
    config = {"receive_message_max_bytes": fetch_max + FRAME_OVERHEAD_BYTES, **config}
    return _connect(kafka, KafkaConsumer, *topics, **kafka.client_config(), fetch_max_bytes=fetch_max, **config)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 3
    compacted: bool = False


def ensure_topics(kafka: KafkaAccess, specs: Iterable[TopicSpec], replication_factor: int = 1) -> None:
    """Create the topics that do not exist yet; existing ones are left as they are."""
    specs = list(specs)
    admin = make_admin(kafka, "llr-topic-admin", request_timeout_ms=15000)
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


def _short(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _describe(exc: BaseException) -> str:
    text, name = str(exc), type(exc).__name__
    return _short(text if text.startswith(name) else f"{name}: {text}")


class DeadLetters:
    """Sends a record that can never be handled to ``<topic>.dlq``, unchanged, with the reason and
    its origin in headers (``dlq.reason``, ``dlq.source`` = topic/partition/offset)."""

    def __init__(self, kafka: KafkaAccess, replication_factor: int = 1) -> None:
        self._kafka = kafka
        self._replication_factor = replication_factor
        self._producer: KafkaProducer | None = None
        self._topics: set[str] = set()

    def send(self, record, reason: str) -> None:
        topic = record.topic + DLQ_SUFFIX
        if topic not in self._topics:
            ensure_topics(self._kafka, [TopicSpec(topic, partitions=1)], self._replication_factor)
            self._topics.add(topic)
        if self._producer is None:
            self._producer = make_producer(self._kafka, "llr-dlq")
        headers = [
            ("dlq.reason", reason.encode()),
            ("dlq.source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        self._producer.send(topic, key=record.key, value=record.value, headers=headers).get(30)

    def close(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            producer.close(timeout=5)


Handler = Callable[[EventEnvelope], None]


class EventConsumer:
    """Consumes envelopes from topics in a consumer group, at least once, and does not die of a
    failure that is not a message's fault.

    Offsets are committed only after the handler returned, so a crash or a failed commit
    re-delivers; handlers must be idempotent (see ``services/common/README.md``). When handling
    fails, ``fault_of`` decides:

    - POISON (undecodable bytes, ``PoisonMessage``, an unknown payload type): the record goes to
      ``<topic>.dlq`` with the reason in a header, and the stream moves on;
    - HANDLER (any other error of the handler, e.g. a domain error): the handler is tried
      ``attempts`` times in all, with a growing pause, then the record is dead-lettered;
    - INFRASTRUCTURE (a Kafka error, a lost database connection): nothing is dead-lettered; the
      consumer rewinds to the first record it has not handled and ``run()`` pauses the stream,
      retrying with a capped exponential back-off until it works again. A failing poll or commit
      (e.g. ``CommitFailedError`` after the group expired this member during a broker outage) is
      handled the same way: the next poll rejoins the group and what was not committed comes back.
      One warning when an outage begins, one line when it ends.

    ``progress_at`` (monotonic seconds) moves whenever a poll completes or a record is settled;
    ``ServiceRuntime`` reports NOT_SERVING when it stands still for too long.

    With ``workers`` > 1 the records of one poll are handled by that many threads: the records of
    one partition and key in order on one thread (the order a handler may rely on: the events of
    one aggregate), different keys side by side. The offsets are committed when every record of
    the poll is settled; after an infrastructure failure each partition is rewound to its first
    record that was not handled, so records handled after it come again (handlers are idempotent).
    """

    def __init__(
        self,
        *,
        kafka: KafkaAccess,
        group_id: str,
        topics: list[str],
        handler: Handler,
        client_id: str = "llr-consumer",
        attempts: int = 3,
        retry_pause_s: float = 0.5,
        max_outage_pause_s: float = 10.0,
        commit_timeout_s: float = 10.0,
        dead_letters: DeadLetters | None = None,
        connect: Callable[[dict], KafkaConsumer] | None = None,
        workers: int = 1,
        **overrides,
    ) -> None:
        """``overrides`` are settings of the ``KafkaConsumer``; ``dead_letters`` and ``connect``
        (config -> a subscribed ``KafkaConsumer``) replace the real ones in unit tests."""
        self.group_id = group_id
        self.topics = topics
        self.handler = handler
        self._kafka = kafka
        self._config = dict(
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
        self._config.update(overrides)
        self._commit_timeout_ms = int(commit_timeout_s * 1000)
        self._stop = threading.Event()
        # A handler failure that may be the message's fault: tried again in place, then dead-lettered.
        self._handler_retrying = Retrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, Exception) and fault_of(exc) is Fault.HANDLER),
            stop=stop_after_attempt(attempts), wait=wait_exponential(multiplier=retry_pause_s), reraise=True)
        # Any other failure of a poll cycle: the stream pauses until the cycle works again.
        self._outage_retrying = Retrying(
            stop=stop_when_event_set(self._stop), sleep=self._stop.wait, before_sleep=self._outage_began,
            wait=wait_exponential_jitter(multiplier=0.5, max=max_outage_pause_s, jitter=0.5), reraise=True)
        self._connect = connect or self._subscribe
        self.workers = workers
        self._count_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=f"{client_id}-worker") if workers > 1 else None
        self._consumer: KafkaConsumer | None = None
        self.dead_letters = dead_letters or DeadLetters(kafka)
        self._to_commit: dict[TopicPartition, int] = {}
        self._outage_since = 0.0
        self.progress_at = time.monotonic()
        self.dead_lettered = 0
        self.outages = 0

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Consume until ``stop()``. May be called again after it returned (a restart)."""
        self.progress_at = time.monotonic()
        try:
            while not self._stop.is_set():
                self._outage_retrying(self.poll_once, timeout_ms=200)
                attempts = self._outage_retrying.statistics["attempt_number"]
                if attempts > 1:
                    log.info("consumer %s works again after %.0f s (%d attempts)", self.group_id,
                             time.monotonic() - self._outage_since, attempts)
        except Exception:
            if not self._stop.is_set():
                raise
        finally:
            self.close()

    def poll_once(self, timeout_ms: int = 200) -> int:
        """Handle one poll's worth of records; returns how many were handled (dead-lettered ones
        included). Raises on an infrastructure failure, after rewinding to what is not handled."""
        consumer = self._connected()
        if self._to_commit:  # left by a commit that timed out: settle it before anything else
            self._commit(consumer, {})
        batches = consumer.poll(timeout_ms=timeout_ms)
        if self._pool is not None:
            return self._handle_side_by_side(consumer, batches)
        unhandled = {tp: records[0].offset for tp, records in batches.items() if records}
        handled = 0
        try:
            for tp, records in batches.items():
                for record in records:
                    self._handle(record)
                    unhandled[tp] = record.offset + 1
                    handled += 1
                    self.progress_at = time.monotonic()
                if records:
                    del unhandled[tp]
                    self._commit(consumer, {tp: records[-1].offset + 1})
        except Exception:
            self._rewind(consumer, unhandled)
            raise
        self.progress_at = time.monotonic()
        return handled

    def _handle_side_by_side(self, consumer: KafkaConsumer, batches: dict) -> int:
        lanes: dict[tuple[TopicPartition, bytes | None], list] = {}
        for tp, records in batches.items():
            for record in records:
                lanes.setdefault((tp, record.key), []).append(record)
        futures = [self._pool.submit(self._handle_lane, records) for records in lanes.values()]
        wait(futures)
        failed = [f for f in futures if f.exception() is not None]
        handled = sum(f.result() for f in futures if f.exception() is None)
        if failed:
            unhandled: dict[TopicPartition, int] = {}
            for future in failed:
                record = future.exception().record  # the lane's first record that was not handled
                tp = TopicPartition(record.topic, record.partition)
                unhandled[tp] = min(unhandled.get(tp, record.offset), record.offset)
            done = {tp: records[-1].offset + 1 for tp, records in batches.items() if records and tp not in unhandled}
            try:
                if done:
                    self._commit(consumer, done)
            finally:
                self._rewind(consumer, unhandled)
            raise failed[0].exception().__cause__
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items() if records}
        if offsets:
            self._commit(consumer, offsets)
        self.progress_at = time.monotonic()
        return handled

    def _handle_lane(self, records: list) -> int:
        """Handle one key's records in order; when one raises (an infrastructure failure, or
        anything that would end the consumer's thread) raise ``_LaneStopped`` naming it: the
        polling thread rewinds and raises the cause itself."""
        for record in records:
            try:
                self._handle(record)
            except BaseException as exc:  # noqa: BLE001 - re-raised by the polling thread
                raise _LaneStopped(record) from exc
            self.progress_at = time.monotonic()
        return len(records)

    def _commit(self, consumer: KafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        """Commit ``offsets`` and any left by a commit that timed out. A commit the group refused
        (``CommitFailedError``: this member was expired or the group rebalanced) is dropped: the
        partitions' next owner, maybe this consumer after it rejoined, resumes from the last
        committed offset, so those records come back."""
        self._to_commit.update(offsets)
        try:
            consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in self._to_commit.items()},
                            timeout_ms=self._commit_timeout_ms)
        except KafkaTimeoutError:
            raise  # the broker did not answer: keep the offsets for the next attempt
        except Exception:
            self._to_commit.clear()
            raise
        self._to_commit.clear()

    def _connected(self) -> KafkaConsumer:
        if self._consumer is None:
            self._consumer = self._connect(self._config)
        return self._consumer

    def _subscribe(self, config: dict) -> KafkaConsumer:
        consumer = make_consumer(self._kafka, **config)
        consumer.subscribe(self.topics)
        return consumer

    @staticmethod
    def _rewind(consumer: KafkaConsumer, unhandled: dict[TopicPartition, int]) -> None:
        """Make the next poll return the records of this batch that were not handled (a partition
        the group has taken away meanwhile resumes from its committed offset wherever it goes)."""
        for tp, offset in unhandled.items():
            try:
                consumer.seek(tp, offset)
            except AssertionError:  # kafka-python's way of saying the partition is not assigned
                pass

    def _handle(self, record) -> None:
        """Hand one record to the handler, or dead-letter it when that is the message's fault;
        raises on an infrastructure failure."""
        retrying = self._handler_retrying.copy()  # its statistics are this record's alone
        try:
            try:
                envelope = decode(record.value)
            except Exception as exc:
                raise PoisonMessage(f"undecodable envelope: {exc}") from exc
            retrying(self.handler, envelope)
        except Exception as exc:
            fault = fault_of(exc)
            if fault is Fault.INFRASTRUCTURE:
                raise
            if fault is Fault.POISON:
                reason = f"unknown event type {exc}" if isinstance(exc, UnknownEventType) else str(exc)
            else:
                reason = f"handler failed {retrying.statistics['attempt_number']} times: " \
                         f"{_describe(exc)}"
            self._dead_letter(record, _short(reason))

    def _outage_began(self, state: RetryCallState) -> None:
        if state.attempt_number > 1:
            return  # one line per outage, not one per attempt
        self.outages += 1
        self._outage_since = time.monotonic()
        exc = state.outcome.exception()
        if fault_of(exc) is Fault.INFRASTRUCTURE:
            log.warning("consumer %s paused by %s; retrying until it works", self.group_id, _describe(exc))
        else:
            log.error("consumer %s paused by an unexpected error; retrying until it works", self.group_id,
                      exc_info=exc)

    def _dead_letter(self, record, reason: str) -> None:
        self.dead_letters.send(record, reason)
        with self._count_lock:
            self.dead_lettered += 1
        log.warning("dead-lettered %s/%s@%s: %s", record.topic, record.partition, record.offset, reason)

    def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            consumer.close(timeout_ms=5000)
        self.dead_letters.close()


class _LaneStopped(Exception):
    """A lane of ``EventConsumer._handle_side_by_side`` stopped at ``record`` (the cause says why)."""

    def __init__(self, record) -> None:
        super().__init__(f"stopped at {record.topic}/{record.partition}@{record.offset}")
        self.record = record
