"""The transactional outbox, kept inside the aggregate's own document.

FerretDB (and MongoDB without a replica set) has no multi-document transactions, so a state change
and the events it raises are written in ONE single-document update: the new state, ``version``
bumped under an optimistic-concurrency check, and the serialized event envelopes appended to the
document's ``outbox`` array. The ``OutboxRelay`` publishes pending envelopes with an idempotent,
acks=all producer and only then removes them from the document. A crash between the two
re-publishes on restart: delivery is at-least-once and consumers deduplicate by ``event_id``.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from kafka import KafkaProducer
from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from .envelope import EventEnvelope
from .errors import AlreadyExists, ConcurrencyConflict

log = logging.getLogger(__name__)

OUTBOX_FIELD = "outbox"


@dataclass(frozen=True)
class PendingEvent:
    topic: str
    envelope: EventEnvelope

    def to_doc(self) -> dict[str, Any]:
        return {
            "event_id": self.envelope.event_id,
            "topic": self.topic,
            "key": self.envelope.aggregate_id,
            "value": self.envelope.SerializeToString(),
        }


def insert_with_outbox(collection: Collection, document: dict[str, Any], events: Iterable[PendingEvent]) -> None:
    """Insert a new aggregate (version 1) with its first events, or raise ``AlreadyExists``."""
    doc = dict(document)
    doc.setdefault("version", 1)
    doc[OUTBOX_FIELD] = [e.to_doc() for e in events]
    try:
        collection.insert_one(doc)
    except DuplicateKeyError as exc:
        raise AlreadyExists(f"{collection.name} {doc.get('_id')!r} already exists") from exc


def update_with_outbox(
    collection: Collection,
    doc_id: Any,
    expected_version: int,
    set_fields: dict[str, Any],
    events: Iterable[PendingEvent],
    extra_filter: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Apply a state change and append its events atomically, if the version is still the one read.

    Returns the updated document; raises ``ConcurrencyConflict`` when someone else changed it
    first (the caller reloads and decides again).
    """
    update: dict[str, Any] = {"$set": {**set_fields, "version": expected_version + 1}}
    docs = [e.to_doc() for e in events]
    if docs:
        update["$push"] = {OUTBOX_FIELD: {"$each": docs}}
    query = {"_id": doc_id, "version": expected_version, **(extra_filter or {})}
    updated = collection.find_one_and_update(query, update, return_document=ReturnDocument.AFTER)
    if updated is None:
        raise ConcurrencyConflict(f"{collection.name} {doc_id!r} changed concurrently (expected version {expected_version})")
    return updated


class OutboxRelay:
    """Publishes the pending events of the registered collections, then removes them."""

    def __init__(
        self,
        producer: KafkaProducer,
        collections: list[Collection],
        *,
        poll_interval_s: float = 0.2,
        batch_size: int = 200,
        on_published: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.producer = producer
        self.collections = collections
        self.poll_interval_s = poll_interval_s
        self.batch_size = batch_size
        # Called after a batch is acknowledged by Kafka and before it is removed from the documents.
        self.on_published = on_published
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.published = 0

    def notify(self) -> None:
        """Wake the relay now (called after a local write) instead of waiting for the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                moved = self.run_once()
            except Exception:
                log.exception("outbox relay pass failed; retrying")
                moved = 0
            if moved == 0:
                self._wake.wait(self.poll_interval_s)
                self._wake.clear()

    def run_once(self) -> int:
        """One pass over every collection; returns how many events were published."""
        total = 0
        for coll in self.collections:
            docs = list(
                coll.find({f"{OUTBOX_FIELD}.0": {"$exists": True}}, {OUTBOX_FIELD: 1}).limit(self.batch_size)
            )
            if not docs:
                continue
            futures = []
            for doc in docs:
                for ev in doc[OUTBOX_FIELD]:
                    futures.append(
                        self.producer.send(
                            ev["topic"],
                            key=ev["key"].encode(),
                            value=bytes(ev["value"]),
                            headers=[("event_id", ev["event_id"].encode())],
                        )
                    )
            self.producer.flush()
            for f in futures:
                f.get(timeout=30)  # raises if any send failed: nothing is removed then
            if self.on_published is not None:
                self.on_published(docs)
            for doc in docs:
                # $pullAll with the exact entries read: FerretDB v1 ignores $pull with a query
                # condition, exact-value removal works on FerretDB and MongoDB alike. Entries
                # appended meanwhile are different values and stay for the next pass.
                coll.update_one({"_id": doc["_id"]}, {"$pullAll": {OUTBOX_FIELD: doc[OUTBOX_FIELD]}})
            total += len(futures)
        self.published += total
        return total
