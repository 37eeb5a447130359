"""Persistence of accounts: ONE document per person's account.

The document holds the whole aggregate state (tagged encoding, ``adapters/codec.py``), the
person profile the eligibility rules need, the ids of the enrolments it funds (indexed, to find
the account of a saga event), a balance summary for reads, and the outbox. Entries stay inside
the document: a person accumulates tens of entries a year, far below the document size limit.

Every change is one version-checked single-document update of state + summary + outbox events
(``services.common.outbox.update_with_outbox``); a lost race raises ``ConcurrencyConflict`` and
the use case retries on fresh state. Writes are serialised per process on FerretDB v1
(``services.common.mongo``), so the version check is atomic there as on MongoDB; the ledger's
own guard (available >= amount) then holds under any concurrency.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database

from services.common.outbox import PendingEvent, insert_with_outbox, update_with_outbox

from ..domain import Account, PersonProfile
from .codec import decode, encode


def profile_doc(profile: PersonProfile) -> dict[str, Any]:
    return encode(profile)


def profile_from(doc: dict[str, Any]) -> PersonProfile:
    return decode(doc)


def summary(account: Account) -> dict[str, Any]:
    return {w.wallet.key: {"balance": w.balance, "held": w.held} for w in account.wallets()}


class AccountStore:
    def __init__(self, db: Database) -> None:
        self.accounts: Collection = db["accounts"]
        self.rejections: Collection = db["rejections"]
        self.accounts.create_index([("person_id", ASCENDING)], unique=True)
        self.accounts.create_index([("enrolment_ids", ASCENDING)])
        self.accounts.create_index([("open_cheques", ASCENDING)])

    @property
    def outbox_collections(self) -> list[Collection]:
        return [self.accounts, self.rejections]

    def load(self, query: dict[str, Any]) -> tuple[dict[str, Any], Account] | None:
        doc = self.accounts.find_one(query)
        if doc is None:
            return None
        return doc, Account.from_state(decode(doc["state"]))

    def insert(self, account: Account, profile: PersonProfile, events: list[PendingEvent]) -> None:
        insert_with_outbox(self.accounts, {
            "_id": account.account_id, "person_id": account.person_id, "state": encode(account.state()),
            "profile": profile_doc(profile), "enrolment_ids": [], "open_cheques": False,
            "balances": summary(account),
        }, events)

    def save(self, doc: dict[str, Any], account: Account, events: list[PendingEvent],
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
        open_cheques = any(c.closed_on is None for c in account.career_cheques.values())
        fields = {"state": encode(account.state()), "balances": summary(account), "open_cheques": open_cheques,
                  **(extra or {})}
        return update_with_outbox(self.accounts, doc["_id"], doc["version"], fields, events)
