"""The mongoengine connection of a service, and write serialisation for FerretDB v1.

Each service registers its documents under its own alias (``meta = {"db_alias": "enrolments"}``)
so that several services can share one process in tests without sharing a database.

Why writes are serialised: FerretDB v1 executes an update as read, modify in Go, write back,
without holding a lock across the three steps (upstream FerretDB issue #3040). Two concurrent
updates of one document both report success and one of them is silently lost: measured here,
2 threads x 200 ``$inc`` on one document ended at 124 instead of 400, and a version-checked
``find_one_and_update`` raced by a blind ``$push`` lost 65 of 200 pushes. MongoDB does not have
this problem. ``WriteSerializer`` is a pymongo command listener that lets one write command
(insert, update, delete, findAndModify) at a time through per process, for every collection of
the client, including those mongoengine uses. A service is one process that owns its database,
so this restores single-document atomicity locally. Against MongoDB (docker-compose,
Kubernetes) set ``<PREFIX>_MONGO_SERIALIZE_WRITES=false``.

Why guarded writes (``guarded_find_one_and_update``, ``guarded_update_one``,
``guarded_delete_one``): FerretDB v1 on SQLite pushes a write's filter down to SQLite only when
it is a bare ``{"_id": ...}``. Any extra condition (a version check, a claim token) makes the
write decode every document of the collection: measured on 1,068 account documents, a
``find_one_and_update`` on ``{_id, version}`` took 1,895 ms against 16 ms on ``{_id}`` alone.
On a serialising client the guard is therefore checked in Python on the document read by
``_id`` and the write filters by ``_id`` alone, both under an in-process lock of that document
(``_document_lock``), which every guarded write of the document takes: the same all-or-nothing
outcome among the writes that change guarded fields (versions, claim tokens, applied event ids
are only ever changed through these helpers). Against MongoDB the guard stays in the filter,
atomically on the server. (Holding the process-wide write lock across the read would deadlock:
the read needs a pooled connection that a writer waiting for the lock may hold.)
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any, Iterator

import mongoengine
import pymongo
from pymongo import ReturnDocument, monitoring
from pymongo.collection import Collection
from pymongo.database import Database

from .settings import ServiceSettings

WRITE_COMMANDS = frozenset({"insert", "update", "delete", "findAndModify", "findandmodify"})


class WriteSerializer(monitoring.CommandListener):
    """Holds one process-wide lock from the start of a write command to its reply.

    pymongo publishes ``started`` in the calling thread right before sending the command and
    exactly one of ``succeeded``/``failed`` in the same thread after the reply, so the lock is
    always released by the thread that took it.
    """

    _lock = threading.Lock()
    _held = threading.local()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in WRITE_COMMANDS:
            self._lock.acquire()
            self._held.request_id = event.request_id

    def _release(self, event) -> None:
        if event.command_name in WRITE_COMMANDS and getattr(self._held, "request_id", None) == event.request_id:
            self._held.request_id = None
            self._lock.release()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._release(event)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._release(event)


def serializes_writes(collection: Collection) -> bool:
    return any(isinstance(listener, WriteSerializer) for listener in collection.database.client.options.event_listeners)


_MISSING = object()


def _value(doc: Mapping[str, Any], path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, Mapping) or part not in doc:
            return _MISSING
        doc = doc[part]
    return doc


def matches(doc: Mapping[str, Any], guard: Mapping[str, Any]) -> bool:
    """Whether ``doc`` satisfies ``guard``: equality, or ``$ne``/``$lt``/``$lte``/``$gt``/``$gte``
    per field (the conditions the services use; an array field "equals" a value it contains)."""
    for path, condition in guard.items():
        value = _value(doc, path)
        if isinstance(condition, Mapping) and condition and all(str(k).startswith("$") for k in condition):
            for op, operand in condition.items():
                if op == "$ne":
                    if value == operand or (isinstance(value, list) and operand in value):
                        return False
                elif op in ("$lt", "$lte", "$gt", "$gte"):
                    if value is _MISSING or value is None:
                        return False
                    ok = {"$lt": value < operand, "$lte": value <= operand,
                          "$gt": value > operand, "$gte": value >= operand}[op]
                    if not ok:
                        return False
                else:
                    raise ValueError(f"unsupported guard operator {op}")
        elif not (value == condition or (isinstance(value, list) and condition in value)):
            return False
    return True


_DOCUMENT_LOCKS = [threading.Lock() for _ in range(256)]


@contextmanager
def _document_lock(collection: Collection, doc_id: Any) -> Iterator[None]:
    """One of 256 striped locks, chosen by the document's identity (bounded memory)."""
    with _DOCUMENT_LOCKS[hash((collection.full_name, repr(doc_id))) % len(_DOCUMENT_LOCKS)]:
        yield


@contextmanager
def _guard_holds(collection: Collection, doc_id: Any, guard: Mapping[str, Any]) -> Iterator[bool]:
    """Under the document's lock: whether the document read by ``_id`` satisfies ``guard``."""
    with _document_lock(collection, doc_id):
        current = collection.find_one({"_id": doc_id})
        yield current is not None and matches(current, guard)


def guarded_find_one_and_update(collection: Collection, doc_id: Any, guard: Mapping[str, Any],
                                update: Mapping[str, Any], *,
                                return_document: bool = ReturnDocument.AFTER) -> dict[str, Any] | None:
    """``find_one_and_update({"_id": doc_id, **guard}, update)``, fast on FerretDB v1 (see above)."""
    if not serializes_writes(collection):
        return collection.find_one_and_update({"_id": doc_id, **guard}, update, return_document=return_document)
    with _guard_holds(collection, doc_id, guard) as holds:
        return collection.find_one_and_update({"_id": doc_id}, update, return_document=return_document) if holds else None


def guarded_update_one(collection: Collection, doc_id: Any, guard: Mapping[str, Any],
                       update: Mapping[str, Any]) -> bool:
    """``update_one({"_id": doc_id, **guard}, update)``; True when a document matched."""
    if not serializes_writes(collection):
        return collection.update_one({"_id": doc_id, **guard}, update).matched_count == 1
    with _guard_holds(collection, doc_id, guard) as holds:
        return holds and collection.update_one({"_id": doc_id}, update).matched_count == 1


def guarded_delete_one(collection: Collection, doc_id: Any, guard: Mapping[str, Any]) -> bool:
    """``delete_one({"_id": doc_id, **guard})``; True when a document was deleted."""
    if not serializes_writes(collection):
        return collection.delete_one({"_id": doc_id, **guard}).deleted_count == 1
    with _guard_holds(collection, doc_id, guard) as holds:
        return holds and collection.delete_one({"_id": doc_id}).deleted_count == 1


def client_options(serialize_writes: bool) -> dict:
    """Every client of a service tells its outbox relay which documents got events
    (``services.common.outbox.OutboxHintListener``) and, on FerretDB v1, serialises writes."""
    from .outbox import OutboxHintListener

    listeners: list[monitoring.CommandListener] = [OutboxHintListener()]
    if serialize_writes:
        listeners.insert(0, WriteSerializer())
    return dict(uuidRepresentation="standard", tz_aware=True, serverSelectionTimeoutMS=5000,
                event_listeners=listeners)


def make_client(uri: str, serialize_writes: bool = True) -> pymongo.MongoClient:
    """A plain pymongo client with the same write discipline as the services' connections."""
    return pymongo.MongoClient(uri, **client_options(serialize_writes))


def connect(settings: ServiceSettings, alias: str | None = None) -> Database:
    alias = alias or settings.service_name
    mongoengine.connect(db=settings.mongo_db, host=settings.mongo_uri, alias=alias,
                        **client_options(settings.mongo_serialize_writes))
    return mongoengine.get_db(alias)


def disconnect(alias: str) -> None:
    mongoengine.disconnect(alias)
