"""The mongoengine connection of a service.

Each service registers its documents under its own alias (``meta = {"db_alias": "enrolments"}``)
so that several services can share one process in tests without sharing a database.
"""
from __future__ import annotations

import mongoengine
from pymongo.database import Database

from .settings import ServiceSettings


def connect(settings: ServiceSettings, alias: str | None = None) -> Database:
    alias = alias or settings.service_name
    mongoengine.connect(
        db=settings.mongo_db,
        host=settings.mongo_uri,
        alias=alias,
        uuidRepresentation="standard",
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
    )
    return mongoengine.get_db(alias)


def disconnect(alias: str) -> None:
    mongoengine.disconnect(alias)
