"""The transactional outbox, kept inside the aggregate's own document.

FerretDB (and MongoDB without a replica set) has no multi-document transactions, so a state change
and the events it raises are written in ONE single-document update: the new state, ``version``
bumped under an optimistic-concurrency check, and the serialized event envelopes appended to the
document's ``outbox`` array. The ``OutboxRelay`` publishes pending envelopes with an idempotent,
acks=all producer and only then removes them from the document. A crash between the two
re-publishes on restart: delivery is at-least-once and consumers deduplicate by ``event_id``.

Finding pending events: FerretDB v1 on SQLite pushes only ``_id`` filters down to SQLite; any
other filter, such as "documents whose outbox is not empty", decodes every document of the
collection (measured: 0.7 s per lookup on 305 account documents while the demo ran). So the
relay does not scan on every pass. ``OutboxHintListener`` (a pymongo command listener that every
service client carries, ``services.common.mongo``) records the ``_id`` of each document that a
successful write of this process gave outbox events, and wakes the relay, which reads exactly those
documents by ``_id``. A full scan still runs when the relay starts (events left by a crash), after
a failed pass, and every ``sweep_interval_s`` (writes by other processes of the same service).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from kafka import KafkaProducer
from pymongo import ReturnDocument, monitoring
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from .envelope import EventEnvelope
from .errors import AlreadyExists, ConcurrencyConflict
from .mongo import WRITE_COMMANDS, guarded_find_one_and_update

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
    updated = guarded_find_one_and_update(collection, doc_id, {"version": expected_version, **(extra_filter or {})},
                                          update, return_document=ReturnDocument.AFTER)
    if updated is None:
        raise ConcurrencyConflict(f"{collection.name} {doc_id!r} changed concurrently (expected version {expected_version})")
    return updated


CollectionKey = tuple[str, str]  # (database name, collection name)


def _key(collection: Collection) -> CollectionKey:
    return collection.database.name, collection.name


class OutboxHints:
    """The ids of documents that this process just gave outbox events, per watched collection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake: dict[CollectionKey, threading.Event] = {}
        self._ids: dict[CollectionKey, set[Any]] = {}

    def watch(self, collection: Collection, wake: threading.Event) -> None:
        with self._lock:
            self._wake[_key(collection)] = wake
            self._ids.setdefault(_key(collection), set())

    def unwatch(self, collection: Collection) -> None:
        with self._lock:
            self._wake.pop(_key(collection), None)
            self._ids.pop(_key(collection), None)

    def watching(self, key: CollectionKey) -> bool:
        return key in self._wake

    def add(self, key: CollectionKey, ids: Iterable[Any]) -> None:
        with self._lock:
            if key not in self._wake:
                return  # nobody relays this collection in this process: the sweep finds it
            self._ids[key].update(ids)
            self._wake[key].set()

    def take(self, collection: Collection) -> set[Any]:
        with self._lock:
            ids = self._ids.get(_key(collection), set())
            self._ids[_key(collection)] = set()
            return ids


HINTS = OutboxHints()


def _adds_outbox_events(update: Any) -> bool:
    if not isinstance(update, Mapping):
        return False  # an aggregation-pipeline update: never used to append outbox events
    push, set_ = update.get("$push"), update.get("$set")
    if isinstance(push, Mapping) and OUTBOX_FIELD in push:
        return True
    if isinstance(set_, Mapping) and set_.get(OUTBOX_FIELD):
        return True
    return not any(str(k).startswith("$") for k in update) and bool(update.get(OUTBOX_FIELD))


def outbox_writes(command_name: str, command: Mapping[str, Any]) -> Iterator[Any]:
    """The ``_id`` of each document a write command gives outbox events (when the filter names it)."""
    if command_name == "insert":
        for doc in command.get("documents", ()):
            if doc.get(OUTBOX_FIELD):
                yield doc.get("_id")
    elif command_name == "update":
        for statement in command.get("updates", ()):
            query = statement.get("q") or {}
            if _adds_outbox_events(statement.get("u")) and "_id" in query:
                yield query["_id"]
    elif command_name.lower() == "findandmodify":
        query = command.get("query") or {}
        if _adds_outbox_events(command.get("update")) and "_id" in query:
            yield query["_id"]


class OutboxHintListener(monitoring.CommandListener):
    """Feeds ``HINTS`` from this process's successful writes (see the module docstring)."""

    def __init__(self, hints: OutboxHints = HINTS) -> None:
        self.hints = hints
        self._lock = threading.Lock()
        self._in_flight: dict[int, tuple[CollectionKey, list[Any]]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name not in WRITE_COMMANDS or name == "delete":
            return
        key = (event.database_name, str(event.command.get(name)))
        if not self.hints.watching(key):
            return
        ids = [i for i in outbox_writes(name, event.command) if i is not None]
        if ids:
            with self._lock:
                self._in_flight[event.request_id] = (key, ids)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        with self._lock:
            hinted = self._in_flight.pop(event.request_id, None)
        if hinted is not None:
            self.hints.add(*hinted)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self._lock:
            self._in_flight.pop(event.request_id, None)


@dataclass(frozen=True)
class OutboxItem:
    """The pending events of one outbox entry (a document's outbox array, or one commit)."""

    key: Any
    events: list[dict[str, Any]]


class DocumentOutbox:
    """Pending events kept in the ``outbox`` array of the documents of one collection (the scheme
    of the services not yet on ``services.common.persistence``; see the module docstring)."""

    def __init__(self, collection: Collection, hints: OutboxHints = HINTS) -> None:
        self.collection = collection
        self.hints = hints

    def attach(self, wake: threading.Event) -> None:
        """The relay of this process: woken by the hints of this process's writes."""
        self.hints.watch(self.collection, wake)

    def detach(self) -> None:
        self.hints.unwatch(self.collection)

    def pending(self, sweep: bool = False, limit: int = 200) -> list[OutboxItem]:
        coll = self.collection
        if sweep:
            docs = list(coll.find({f"{OUTBOX_FIELD}.0": {"$exists": True}}, {OUTBOX_FIELD: 1}).limit(limit))
        else:
            docs = []
            for doc_id in self.hints.take(coll):
                # By _id alone: FerretDB v1 pushes nothing else down (see services.common.mongo).
                doc = coll.find_one({"_id": doc_id}, {OUTBOX_FIELD: 1})
                if doc is not None and doc.get(OUTBOX_FIELD):
                    docs.append(doc)
        return [OutboxItem(doc["_id"], doc[OUTBOX_FIELD]) for doc in docs]

    def done(self, items: Iterable[OutboxItem]) -> None:
        for item in items:
            # $pullAll with the exact entries read: FerretDB v1 ignores $pull with a query
            # condition, exact-value removal works on FerretDB and MongoDB alike. Entries
            # appended meanwhile are different values and stay for the next pass.
            self.collection.update_one({"_id": item.key}, {"$pullAll": {OUTBOX_FIELD: item.events}})


class OutboxRelay:
    """Publishes the pending events of its sources, then tells each source they are out.

    A source has ``attach(wake)`` / ``detach()`` (the relay's wake-up event),
    ``pending(sweep, limit) -> [OutboxItem]`` and ``done(items)``: a
    ``DocumentOutbox`` (a collection passed in is wrapped into one) or the ``CommitOutbox`` of
    ``services.common.persistence``. Between sweeps a source returns only what this process
    wrote (from memory or by ``_id``); a sweep also finds what other processes, or a crash, left.
    """

    def __init__(
        self,
        producer: KafkaProducer,
        sources: list[Any],
        *,
        poll_interval_s: float = 0.2,
        batch_size: int = 200,
        sweep_interval_s: float = 30.0,
        on_published: Callable[[list[OutboxItem]], None] | None = None,
        hints: OutboxHints = HINTS,
    ) -> None:
        self.producer = producer
        self.sources = [DocumentOutbox(s, hints) if isinstance(s, Collection) else s for s in sources]
        self.poll_interval_s = poll_interval_s
        self.batch_size = batch_size
        self.sweep_interval_s = sweep_interval_s
        self._next_sweep = 0.0  # the first pass sweeps: events a crash left behind
        # Called after a batch is acknowledged by Kafka and before its sources are told.
        self.on_published = on_published
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.published = 0
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
            except Exception:
                log.exception("outbox relay pass failed; retrying")
                moved = 0
            if moved == 0:
                self._wake.wait(self.poll_interval_s)

    def run_once(self) -> int:
        """One pass over every source; returns how many events were published."""
        sweep = time.monotonic() >= self._next_sweep
        if sweep:
            self._next_sweep = time.monotonic() + self.sweep_interval_s
        try:
            return self._publish_pending(sweep)
        except Exception:
            self._next_sweep = 0.0  # what the failed pass took is not lost: the sweep finds it
            raise

    def _publish_pending(self, sweep: bool) -> int:
        total = 0
        for source in self.sources:
            items = source.pending(sweep, self.batch_size)
            if not items:
                continue
            if sweep and len(items) >= self.batch_size:
                self._next_sweep = 0.0  # more to find: sweep again on the next pass
            futures = []
            for item in items:
                for ev in item.events:
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
                f.get(timeout=30)  # raises if any send failed: nothing is marked done then
            if self.on_published is not None:
                self.on_published(items)
            source.done(items)
            total += len(futures)
        self.published += total
        return total
