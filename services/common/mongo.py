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
"""
from __future__ import annotations

import threading

import mongoengine
import pymongo
from pymongo import monitoring
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


def client_options(serialize_writes: bool) -> dict:
    options = dict(uuidRepresentation="standard", tz_aware=True, serverSelectionTimeoutMS=5000)
    if serialize_writes:
        options["event_listeners"] = [WriteSerializer()]
    return options


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
