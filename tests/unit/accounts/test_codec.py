"""The account document's state encoding round-trips the aggregate and refuses foreign classes."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from services.accounts.adapters.codec import decode, encode
from services.accounts.domain import BUDGET_WALLET, Account, credit_yearly_budget, default_catalog, open_account
from services.accounts.domain.policies import PolicyKind

NOW = datetime(2025, 2, 1, 10, tzinfo=timezone.utc)


def test_account_state_round_trips_through_the_document_encoding():
    account = open_account(person_id="p-1", idempotency_key="k-1", now=NOW)
    policy = default_catalog().policy_in_force(PolicyKind.TRAINING_BUDGET, date(2025, 1, 1))
    credit_yearly_budget(account, policy=policy, year=2025, now=NOW)
    account.reserve(BUDGET_WALLET, 12_000, hold_id="h-1", idempotency_key="r-1", now=NOW, enrolment_id="e-1",
                    instrument="TRAINING_BUDGET", explanation="test hold")
    state = account.state()
    restored = Account.from_state(decode(encode(state)))
    assert restored.state() == state
    assert restored.available(BUDGET_WALLET) == account.available(BUDGET_WALLET) == policy.yearly_credit_cents - 12_000


def test_decoding_refuses_classes_outside_the_accounts_domain():
    with pytest.raises(ValueError, match="not a class of the accounts domain"):
        decode({"__t": "os:system"})


def test_documents_written_with_full_class_names_still_decode():
    account = open_account(person_id="p-2", idempotency_key="k-2", now=NOW)
    short = encode(account.state())
    assert short["__t"] == "ledger:AccountState", "domain classes are named relative to the domain package"

    def long_form(value):
        if isinstance(value, dict):
            return {k: ("services.accounts.domain." + v if k in ("__t", "__e") else long_form(v))
                    for k, v in value.items()}
        return [long_form(v) for v in value] if isinstance(value, list) else value
    assert decode(long_form(short)) == account.state()
