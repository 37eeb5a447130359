"""Idempotent consumers: apply the effect of an event exactly once, keyed by ``event_id``.

Delivery is at-least-once, so every effect records the event id it came from *in the same
single-document update* that makes the effect. A redelivered event finds its id already there
and changes nothing. The list of remembered ids per document is bounded (``keep``): Kafka keeps
a partition's order, so a redelivery is always recent.
"""
from __future__ import annotations

from typing import Any

from pymongo.collection import Collection

from .mongo import guarded_update_one

APPLIED_FIELD = "_applied_events"


def apply_once(
    collection: Collection,
    doc_id: Any,
    event_id: str,
    update: dict[str, Any],
    *,
    on_insert: dict[str, Any] | None = None,
    keep: int = 1000,
) -> bool:
    """Apply ``update`` to document ``doc_id`` unless ``event_id`` was applied before.

    Returns True when the effect was applied now, False when it was a duplicate.
    """
    # Make sure the document exists (idempotent on its own), then apply conditionally.
    collection.update_one(
        {"_id": doc_id},
        {"$setOnInsert": {APPLIED_FIELD: [], **(on_insert or {})}},
        upsert=True,
    )
    full = dict(update)
    push = dict(full.pop("$push", {}))
    push[APPLIED_FIELD] = {"$each": [event_id], "$slice": -keep}
    full["$push"] = push
    return guarded_update_one(collection, doc_id, {APPLIED_FIELD: {"$ne": event_id}}, full)


def already_applied(collection: Collection, doc_id: Any, event_id: str) -> bool:
    doc = collection.find_one({"_id": doc_id}, {APPLIED_FIELD: 1})
    return doc is not None and event_id in doc.get(APPLIED_FIELD, [])
