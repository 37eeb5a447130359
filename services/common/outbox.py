"""Publishing the events that the services committed: the ``OutboxRelay`` thread of a process.

A service commits the events of a change together with the change itself (the ``CommitOutbox`` of
``services.common.persistence``, which explains why nothing is lost). The relay publishes pending
events with an idempotent, acks=all producer and only then tells the outbox they are out. A crash
in between publishes them again: delivery is at-least-once and consumers deduplicate by
``event_id``.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

from kafka import KafkaProducer
from kafka.errors import InvalidTopicError, MessageSizeTooLargeError, RecordListTooLargeError

from .envelope import EventEnvelope, decode
from .errors import InvalidArgument

log = logging.getLogger(__name__)

# The largest serialized envelope an event may have: half of the 1 MiB that Kafka's producer
# (max.request.size) and broker (message.max.bytes) accept by default, so that a change whose
# event could never be published is refused before anything is written.
MAX_EVENT_BYTES = 512 * 1024
# Failures of a send that no retry can cure: the event is set aside (parked), never retried forever.
UNPUBLISHABLE = (MessageSizeTooLargeError, RecordListTooLargeError, InvalidTopicError)


@dataclass(frozen=True)
class PendingEvent:
    """An event to publish on ``topic``, stored with the change that raised it."""

    topic: str
    envelope: EventEnvelope

    def __post_init__(self) -> None:
        size = self.envelope.ByteSize()
        if size > MAX_EVENT_BYTES:
            raise InvalidArgument("request", f"the change would publish a {size:,}-byte {self.envelope.event_type} "
                                  f"event, more than the {MAX_EVENT_BYTES:,} bytes an event may have: "
                                  "shorten its free-text fields")

    def to_doc(self) -> dict[str, Any]:
        return {
            "event_id": self.envelope.event_id,
            "topic": self.topic,
            "key": self.envelope.aggregate_id,
            "value": self.envelope.SerializeToString(),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> "PendingEvent":
        return cls(doc["topic"], decode(bytes(doc["value"])))


@dataclass(frozen=True)
class OutboxItem:
    """The pending events of one outbox entry (a document's outbox array, or one commit)."""

    key: Any
    events: list[dict[str, Any]]


class OutboxRelay:
    """Publishes the pending events of its sources, then tells each source they are out.

    A source (the ``CommitOutbox`` of ``services.common.persistence``, or its in-memory fake) has
    ``attach(wake)`` / ``detach()`` (the relay's wake-up event), ``pending(sweep, limit) ->
    [OutboxItem]``, ``done(items)`` and ``park(item, reason)``. Between sweeps a source returns
    only what this process committed (from memory); a sweep also finds what other processes, or a
    crash, left. An item that Kafka refuses for good (``UNPUBLISHABLE``: too large, an invalid
    topic; ``PendingEvent`` makes the first impossible for new changes) is parked by its source
    and logged as an error, so it never blocks or loops; every other failure leaves the item
    pending and the relay retries, logging once per outage.
    """

    def __init__(
        self,
        producer: KafkaProducer,
        sources: list[Any],
        *,
        poll_interval_s: float = 0.2,
        batch_size: int = 200,
        sweep_interval_s: float = 30.0,
        clear_interval_s: float = 0.5,
        on_published: Callable[[list[OutboxItem]], None] | None = None,
    ) -> None:
        self.producer = producer
        self.sources = list(sources)
        self.poll_interval_s = poll_interval_s
        self.batch_size = batch_size
        self.sweep_interval_s = sweep_interval_s
        self._next_sweep = 0.0  # the first pass sweeps: events a crash left behind
        # Published items are reported to their source in batches, at most every
        # clear_interval_s (one delete of many pointers instead of one per pass); far below the
        # sweep's grace period, so a sweep never takes them for abandoned.
        self.clear_interval_s = clear_interval_s
        self._published: list[tuple[Any, list[OutboxItem]]] = []
        self._clear_at = 0.0
        # Called after a batch is acknowledged by Kafka and before its sources are told.
        self.on_published = on_published
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.published = 0
        self.parked = 0
        self._failing_since: float | None = None
        # Monotonic time of the last pass that worked: the runtime reports NOT_SERVING when it
        # stands still (the broker or the database has been failing the relay for too long).
        self.progress_at = time.monotonic()
        for source in self.sources:
            source.attach(self._wake)

    def notify(self) -> None:
        """Wake the relay now (called after a local write) instead of waiting for the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for source in self.sources:
            source.detach()

    def run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                moved = self.run_once()
                self.progress_at = time.monotonic()
                if self._failing_since is not None:
                    log.info("outbox relay works again after %.0f s", time.monotonic() - self._failing_since)
                    self._failing_since = None
            except Exception:
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                    log.exception("outbox relay pass failed; retrying until it works (logged once)")
                moved = 0
            if moved == 0:
                self._wake.wait(min(self.poll_interval_s, self.clear_interval_s))
        try:
            self.clear(force=True)
        except Exception:
            log.exception("outbox relay could not report its last published events; a sweep will")

    def run_once(self) -> int:
        """One pass over every source; returns how many events were published."""
        sweep = time.monotonic() >= self._next_sweep
        if sweep:
            self._next_sweep = time.monotonic() + self.sweep_interval_s
        try:
            published = self._publish_pending(sweep)
        except Exception:
            self._next_sweep = 0.0  # what the failed pass took is not lost: the sweep finds it
            raise
        self.clear(force=sweep)
        return published

    def clear(self, force: bool = False) -> None:
        """Tell the sources what is published, once ``clear_interval_s`` passed since the first
        item waiting (or at once with ``force``, or when a batch is full)."""
        waiting = sum(len(items) for _, items in self._published)
        if not waiting or (not force and waiting < self.batch_size and time.monotonic() < self._clear_at):
            return
        by_source: dict[int, tuple[Any, list[OutboxItem]]] = {}
        for source, items in self._published:
            by_source.setdefault(id(source), (source, []))[1].extend(items)
        for source, items in by_source.values():
            source.done(items)
        self._published = []

    def _publish_pending(self, sweep: bool) -> int:
        total = 0
        for source in self.sources:
            items = source.pending(sweep, self.batch_size)
            if not items:
                continue
            if sweep and len(items) >= self.batch_size:
                self._next_sweep = 0.0  # more to find: sweep again on the next pass
            sends: list[tuple[OutboxItem, list]] = []
            parked: list[OutboxItem] = []
            for item in items:
                try:
                    sends.append((item, [self._send(ev) for ev in item.events]))
                except UNPUBLISHABLE as exc:
                    self._park(source, item, exc)
                    parked.append(item)
            self.producer.flush()
            published: list[OutboxItem] = []
            for item, futures in sends:
                try:
                    for f in futures:
                        f.get(timeout=30)  # raises if a send failed: the item stays pending then
                except UNPUBLISHABLE as exc:
                    self._park(source, item, exc)
                    continue
                published.append(item)
                total += len(futures)
            if self.on_published is not None and published:
                self.on_published(published)
            if published:
                if not self._published:
                    self._clear_at = time.monotonic() + self.clear_interval_s
                self._published.append((source, published))
        self.published += total
        return total

    def _send(self, ev: Mapping[str, Any]):
        return self.producer.send(ev["topic"], key=ev["key"].encode(), value=bytes(ev["value"]),
                                  headers=[("event_id", ev["event_id"].encode())])

    def _park(self, source: Any, item: OutboxItem, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {str(exc)[:300]}"
        source.park(item, reason)
        self.parked += 1
        log.error("outbox entry %s can never be published (%s): set aside for an operator, not retried",
                  item.key, reason)
