"""MongoEngine documents of the certification database (alias ``certification``).

The documents declare the collections, their fields and indexes. Writes that must be atomic
(state + outbox events + the idempotency record of the request, in ONE single-document update
under an optimistic ``version`` check) go through the raw collection (``Doc._get_collection()``),
see ``store.py``; FerretDB has no multi-document transactions.

Every aggregate document carries:

* ``version``   -- optimistic concurrency;
* ``outbox``    -- pending event envelopes, published and removed by the ``OutboxRelay``;
* ``requests``  -- the last ``MAX_REMEMBERED_REQUESTS`` request ids applied to it, each with a
                   fingerprint of the request and a snapshot of the first answer, so a retry
                   returns the first answer and a reused id with other content is refused.
"""
from __future__ import annotations

from mongoengine import (
    BooleanField, DateTimeField, DictField, Document, IntField, ListField, StringField,
)

ALIAS = "certification"


class _Aggregate(Document):
    meta = {"abstract": True, "db_alias": ALIAS, "strict": False}
    version = IntField(required=True, default=1)
    outbox = ListField(DictField())
    requests = ListField(DictField())


class OrganisationDoc(_Aggregate):
    meta = {"collection": "organisations"}
    id = StringField(primary_key=True)
    name = StringField(required=True)
    status = StringField(required=True)
    suspension_reason = StringField()


class CandidateDoc(_Aggregate):
    """A candidate with its training records and (for mentors) mentee assignments embedded, so
    that recording training and the capacity check of an assignment are single-document writes."""

    meta = {"collection": "candidates", "indexes": ["organisation_id", {"fields": ["person_key"], "unique": True}]}
    id = StringField(primary_key=True)
    organisation_id = StringField(required=True)
    person_id = StringField(required=True)
    person_key = StringField(required=True)   # organisation/person/role: one registration each
    role = StringField(required=True)
    registered_at = DateTimeField(required=True)
    trainings = ListField(DictField())
    assignments = ListField(DictField())


class CertificateDoc(_Aggregate):
    """A certificate's full state, its current signed credential and its status-list bits.

    ``slot`` enforces one live certificate per candidate and role with a unique index that is
    only ever claimed by an INSERT (FerretDB reports an update's unique violation generically):
    ``<candidate>:<role>`` while ACTIVE or SUSPENDED, ``<candidate>:<role>:<certificate>`` once
    REVOKED or EXPIRED (which frees the live slot)."""

    meta = {
        "collection": "certificates",
        "indexes": [
            {"fields": ["slot"], "unique": True},
            ("organisation_id", "id"),
            "candidate_id",
            "holder_id",
            ("status", "valid_until"),
            ("revocation_list_id", "revocation_bit"),
            ("suspension_list_id", "suspension_bit"),
        ],
    }
    id = StringField(primary_key=True)
    slot = StringField(required=True)
    candidate_id = StringField(required=True)
    holder_id = StringField(required=True)
    organisation_id = StringField(required=True)
    credential_type = StringField(required=True)
    status = StringField(required=True)
    policy_version = StringField(required=True)
    issued_at = DateTimeField(required=True)
    credential_issued_at = DateTimeField()
    validity = ListField(DictField())
    period_start = StringField(required=True)
    valid_until = StringField(required=True)           # ISO date: lexical order = date order
    suspensions = ListField(DictField())
    suspension_reason = StringField()
    revoked_on = StringField()
    revocation_reason = StringField()
    credential_sequence = IntField(required=True)
    qualification_number = IntField(required=True)
    revocation_list_id = StringField(required=True)
    revocation_index = IntField(required=True)
    revocation_bit = BooleanField(required=True)
    suspension_list_id = StringField(required=True)
    suspension_index = IntField(required=True)
    suspension_bit = BooleanField(required=True)
    credential_json = StringField(required=True)


class StatusListDoc(Document):
    """Allocation state of one pair of Bitstring Status Lists (``revocation/<n>`` and
    ``suspension/<n>`` share indices). The bits are not stored: they are a deterministic
    projection of the certificates (see ``Store.status_bits``)."""

    meta = {"collection": "status_lists", "db_alias": ALIAS, "strict": False}
    id = IntField(primary_key=True)                     # the list number
    size = IntField(required=True)
    stride = IntField(required=True)
    offset = IntField(required=True)
    next_sequence = IntField(required=True, default=0)
    full = BooleanField(required=True, default=False)


class CounterDoc(Document):
    """``qualifications:<ROLE>``: the number of first issues of a role, with the recent
    allocations (certificate id -> number) so that a retried issue gets the same number."""

    meta = {"collection": "counters", "db_alias": ALIAS, "strict": False}
    id = StringField(primary_key=True)
    n = IntField(required=True, default=0)
    allocations = ListField(DictField())


ALL = (OrganisationDoc, CandidateDoc, CertificateDoc, StatusListDoc, CounterDoc)
OUTBOX_DOCUMENTS = (OrganisationDoc, CandidateDoc, CertificateDoc)


def ensure_indexes() -> None:
    for doc in ALL:
        doc.ensure_indexes()
