"""The MongoDB-wire connection of a service (FerretDB v1 locally, MongoDB in docker-compose and
Kubernetes).

Each service registers its connection under its own mongoengine alias so that several services
can share one process in tests without sharing a database. What is stored, and why a change is
atomic on both servers in any number of processes, is ``services.common.persistence``; no write
needs anything from the connection beyond plain pymongo.
"""
from __future__ import annotations

import mongoengine
import pymongo
from pymongo.database import Database

from .settings import ServiceSettings

CLIENT_OPTIONS = dict(uuidRepresentation="standard", tz_aware=True, serverSelectionTimeoutMS=5000)


def make_client(uri: str) -> pymongo.MongoClient:
    """A plain pymongo client with the services' options (tests, benchmarks, tools)."""
    return pymongo.MongoClient(uri, **CLIENT_OPTIONS)


def connect(settings: ServiceSettings, alias: str | None = None) -> Database:
    alias = alias or settings.service_name
    mongoengine.connect(db=settings.mongo_db, host=settings.mongo_uri, alias=alias, **CLIENT_OPTIONS)
    return mongoengine.get_db(alias)


def disconnect(alias: str) -> None:
    mongoengine.disconnect(alias)
