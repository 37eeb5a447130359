"""Persistence of accounts: ONE document per person's account.

The document holds the whole aggregate state (tagged encoding, ``adapters/codec.py``), the
person profile the eligibility rules need, the ids of the enrolments it funds, a balance summary
for reads, and the outbox. Entries stay inside the document: a person accumulates tens of entries
a year, far below the document size limit.

Every read and write goes by ``_id``: FerretDB v1 on SQLite pushes only ``_id`` filters down and
decodes every document of the collection for any other filter (0.7 s per lookup on 305 accounts
while the demo ran). The account id derives from the person id (``account_id_for``); two small
lookup collections, also keyed by ``_id``, lead from an enrolment to the account that funds it
(``enrolment_accounts``) and list the accounts with open career cheques for the expiry job
(``cheque_holders``). Both are written so that they can only be a superset of the truth (the
mapping before the reservation, the holder before the cheque), and readers check the account.

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
from ..domain.account import account_id_for
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
        self.enrolment_accounts: Collection = db["enrolment_accounts"]
        self.holders: Collection = db["cheque_holders"]
        self.accounts.create_index([("person_id", ASCENDING)], unique=True)

    @staticmethod
    def by_person(person_id: str) -> dict[str, Any]:
        return {"_id": account_id_for(person_id)}

    def exists(self, query: dict[str, Any]) -> bool:
        return self.accounts.find_one(query, {"_id": 1}) is not None

    def map_enrolment(self, enrolment_id: str, person_id: str) -> None:
        self.enrolment_accounts.update_one({"_id": enrolment_id},
                                           {"$set": {"account_id": account_id_for(person_id)}}, upsert=True)

    def by_enrolment(self, enrolment_id: str) -> dict[str, Any] | None:
        doc = self.enrolment_accounts.find_one({"_id": enrolment_id})
        return None if doc is None else {"_id": doc["account_id"]}

    def cheque_holders(self) -> list[str]:
        """Accounts that may hold open career cheques; a stale entry is dropped here."""
        holders = []
        for doc in self.holders.find({}, {"_id": 1}):
            account = self.accounts.find_one({"_id": doc["_id"]}, {"open_cheques": 1})
            if account is not None and account.get("open_cheques"):
                holders.append(doc["_id"])
            else:
                self.holders.delete_one({"_id": doc["_id"]})
        return holders

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
        if open_cheques and not doc.get("open_cheques"):
            self.holders.update_one({"_id": doc["_id"]}, {"$set": {"open": True}}, upsert=True)
        updated = update_with_outbox(self.accounts, doc["_id"], doc["version"], fields, events)
        if doc.get("open_cheques") and not open_cheques:
            self.holders.delete_one({"_id": doc["_id"]})
        return updated
