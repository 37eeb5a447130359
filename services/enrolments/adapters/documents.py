"""MongoEngine documents of the enrolments database (alias ``enrolments``).

The documents declare collections, fields and indexes; atomic writes (state + outbox events under
an optimistic ``version`` check, in ONE single-document update) go through the raw collections,
see ``store.py``. FerretDB v1 has no multi-document transactions and reports unique violations of
*updates* generically, so every uniqueness rule is enforced by an INSERT:

* ``enrolments._id``  -- derived from (provider, provider_reference): one enrolment per reference;
* ``claims._id``      -- ``req:<provider>:<request_id>`` remembers the first answer of a request id;
                         ``lock:<offer>:<person>`` is a short mutex around the overlap check.
"""
from __future__ import annotations

from mongoengine import (
    BooleanField, DateTimeField, DictField, Document, IntField, ListField, StringField,
)

ALIAS = "enrolments"


class _Aggregate(Document):
    meta = {"abstract": True, "db_alias": ALIAS, "strict": False}
    version = IntField(required=True, default=1)
    outbox = ListField(DictField())


class ProviderDoc(_Aggregate):
    meta = {"collection": "providers"}
    id = StringField(primary_key=True)
    name = StringField(required=True)
    status = StringField(required=True)
    mandated_career_centre = BooleanField(default=False)
    suspension_reason = StringField()
    requests = ListField(DictField())


class OfferDoc(_Aggregate):
    meta = {"collection": "offers", "indexes": [("provider_id", "id")]}
    id = StringField(primary_key=True)
    provider_id = StringField(required=True)
    title = StringField(required=True)
    price_cents = IntField(required=True)
    hours = IntField(required=True)
    earliest_start = StringField(required=True)
    latest_start = StringField(required=True)
    instruments = ListField(StringField())


class EnrolmentDoc(_Aggregate):
    """The enrolment aggregate; ``due_at`` is the instant its one open deadline fires (indexed,
    None when there is none), so the deadline job loads exactly the due enrolments."""

    meta = {
        "collection": "enrolments",
        "indexes": [
            ("provider_id", "id"),
            ("provider_id", "status", "id"),
            ("offer_id", "person_id"),
            "due_at",
        ],
    }
    id = StringField(primary_key=True)
    person_id = StringField(required=True)
    provider_id = StringField(required=True)
    offer_id = StringField(required=True)
    provider_reference = StringField(required=True)
    status = StringField(required=True)
    due_at = DateTimeField()
    fp = StringField()                  # fingerprint of the creating request
    batch_id = StringField()            # the bulk chunk that created it (see OutboxBatchDoc)


class OutboxBatchDoc(Document):
    """The outbox of one bulk-insert chunk (up to 500 ``EnrolmentRequested`` events).

    FerretDB v1 (SQLite) scans the whole collection for every update, so draining 10,000
    per-document outboxes of a fresh bulk upload would take tens of minutes. A bulk chunk keeps
    its events here instead: ``staged`` first, then the enrolments are inserted (``batch_id`` set
    on each), then the events of the rows actually inserted move to ``outbox`` for the relay. A
    crash in between is repaired by ``EnrolmentService.recover_staged_batches``, which publishes
    exactly the staged events whose enrolment exists with this ``batch_id``."""

    meta = {"collection": "outbox_batches", "db_alias": ALIAS, "strict": False}
    id = StringField(primary_key=True)
    staged = ListField(DictField())
    outbox = ListField(DictField())
    created_at = DateTimeField()


class ClaimDoc(Document):
    """Unique keys claimed by insert (see module docstring)."""

    meta = {"collection": "claims", "db_alias": ALIAS, "strict": False}
    id = StringField(primary_key=True)
    enrolment_id = StringField()
    fp = StringField()
    expires_at = DateTimeField()


class LeercoachCertificateDoc(Document):
    """Local projection of the certification context's leercoach certificates."""

    meta = {"collection": "leercoach_certificates", "db_alias": ALIAS, "strict": False, "indexes": ["holder_id"]}
    id = StringField(primary_key=True)       # certificate_id
    holder_id = StringField()
    status = StringField()
    valid_from = StringField()
    valid_until = StringField()
    suspended_from = StringField()
    suspended_until = StringField()
    ended_on = StringField()                 # revoked or expired: first day no longer valid


def ensure_indexes() -> None:
    for doc in (ProviderDoc, OfferDoc, EnrolmentDoc, OutboxBatchDoc, ClaimDoc, LeercoachCertificateDoc):
        doc.ensure_indexes()
