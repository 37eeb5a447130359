"""Opening and closing accounts: exactly one account per person (population feed)."""
from __future__ import annotations

from datetime import date, datetime

from services.accounts.domain.common import derived_id, ensure_aware_utc, require_key
from services.accounts.domain.events import AccountClosed, AccountEvent, AccountOpened
from services.accounts.domain.ledger import Account


def account_id_for(person_id: str) -> str:
    """The account id of a person: deterministic, so a redelivered PersonRegistered opens the
    same account (with a unique index on ``person_id`` this gives exactly one account per person)."""
    return "acc-" + derived_id("account", person_id)


def open_account(*, person_id: str, idempotency_key: str, now: datetime) -> Account:
    """A new account for ``person_id`` with its ``AccountOpened`` event pending.

    The caller (PersonRegistered handler) first looks up an existing account for the person and
    does nothing if one exists; this function is pure and always builds a fresh aggregate.
    """
    require_key(idempotency_key)
    now = ensure_aware_utc(now)
    account = Account(account_id=account_id_for(person_id), person_id=person_id, opened_at=now)
    account.raise_event(
        AccountOpened(
            event_id=AccountEvent.id_for(account.account_id, idempotency_key, AccountOpened),
            occurred_at=now,
            account_id=account.account_id,
            person_id=person_id,
            opened_on=now.date(),
        )
    )
    return account


def close_account(
    account: Account, *, on_date: date, reason: str, idempotency_key: str, now: datetime
) -> bool:
    """Close the account (e.g. PersonDeceased). Returns False if it was already closed."""
    require_key(idempotency_key)
    if account.closed_on is not None:
        return False
    account.close(on_date)
    account.raise_event(
        AccountClosed(
            event_id=AccountEvent.id_for(account.account_id, idempotency_key, AccountClosed),
            occurred_at=ensure_aware_utc(now),
            account_id=account.account_id,
            person_id=account.person_id,
            closed_on=on_date,
            reason=reason,
        )
    )
    return True
