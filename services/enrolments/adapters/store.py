"""Raw collections of the enrolments database and the few atomic operations on them.

Writes are serialised per process by the connection (services.common.mongo.WriteSerializer);
every state change is one single-document write (see ``documents.py`` for the uniqueness keys).
"""
from __future__ import annotations

import hashlib
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator

from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from services.common.errors import ConcurrencyConflict
from services.common.mongo import guarded_delete_one
from services.common.outbox import OUTBOX_FIELD

from . import documents as d

MAX_REMEMBERED_REQUESTS = 20


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


class Store:
    def __init__(self) -> None:
        self.providers: Collection = d.ProviderDoc._get_collection()
        self.offers: Collection = d.OfferDoc._get_collection()
        self.enrolments: Collection = d.EnrolmentDoc._get_collection()
        self.claims: Collection = d.ClaimDoc._get_collection()
        self.leercoach_certificates: Collection = d.LeercoachCertificateDoc._get_collection()
        self.outbox_batches: Collection = d.OutboxBatchDoc._get_collection()
        # The overlap rule needs the enrolments of one person on one offer. FerretDB v1 answers
        # only `_id` lookups without decoding the whole collection, so those ids are kept in a
        # document per (offer, person), written before the enrolment itself: it can list an id
        # whose insert then failed (skipped when read), never miss one.
        self.pairs: Collection = self.enrolments.database["enrolments_by_offer_person"]

    @property
    def outbox_collections(self) -> list[Collection]:
        # batches first: a bulk-created enrolment's EnrolmentRequested precedes its later events
        return [self.outbox_batches, self.enrolments]

    # --- claims -------------------------------------------------------------------------------
    def claim(self, key: str, **fields: Any) -> bool:
        """Insert the claim ``key``; False when it was claimed before."""
        try:
            self.claims.insert_one({"_id": key, **fields})
            return True
        except DuplicateKeyError:
            return False

    def get_claim(self, key: str) -> dict[str, Any] | None:
        return self.claims.find_one({"_id": key})

    @contextmanager
    def mutex(self, key: str, now: Callable[[], datetime], ttl: timedelta = timedelta(seconds=30),
              wait_s: float = 20.0) -> Iterator[None]:
        """A short mutex claimed by insert; a holder that died is taken over after ``ttl``
        (measured on the service clock)."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + wait_s
        while not self.claim(key, token=token, expires_at=now() + ttl):
            guarded_delete_one(self.claims, key, {"expires_at": {"$lte": now()}})
            if time.monotonic() > deadline:
                raise ConcurrencyConflict(f"{key} is busy; retry")
            time.sleep(0.005)
        try:
            yield
        finally:
            guarded_delete_one(self.claims, key, {"token": token})

    # --- enrolments of one person on one offer ---------------------------------------------------
    @staticmethod
    def pair_key(offer_id: str, person_id: str) -> str:
        return f"{offer_id}|{person_id}"

    def remember_pairs(self, ids_by_pair: dict[tuple[str, str], list[str]]) -> None:
        for (offer_id, person_id), ids in ids_by_pair.items():
            self.pairs.update_one({"_id": self.pair_key(offer_id, person_id)},
                                  {"$addToSet": {"enrolment_ids": {"$each": ids}}}, upsert=True)

    def enrolments_of_pair(self, offer_id: str, person_id: str, projection: dict[str, Any]) -> list[dict[str, Any]]:
        pair = self.pairs.find_one({"_id": self.pair_key(offer_id, person_id)})
        docs = (self.enrolments.find_one({"_id": i}, projection) for i in (pair or {}).get("enrolment_ids", ()))
        return [doc for doc in docs if doc is not None]

    # --- reads --------------------------------------------------------------------------------
    def enrolment(self, enrolment_id: str) -> dict[str, Any] | None:
        return self.enrolments.find_one({"_id": enrolment_id}, {OUTBOX_FIELD: 0})
