"""Accounts written straight through the accounts repository, thousands at a time, for tests that
need a large population but are not about opening accounts (opening them from the population feed
runs at about 60 accounts/s)."""
from __future__ import annotations

import json
from datetime import datetime

from services.accounts.adapters.codec import encode
from services.accounts.adapters.repository import AccountRepository, summary
from services.accounts.domain import PersonProfile, credit_yearly_budget, default_catalog, open_account
from services.accounts.domain.account import account_id_for
from services.accounts.domain.policies import PolicyKind

BATCH = 5_000


def profile(person_id: str) -> PersonProfile:
    return PersonProfile(person_id=person_id, education_level="medium", labour_status="employed",
                         work_experience_months=120, work_experience_days=4000)


def preload_accounts(repo: AccountRepository, persons: list[str], now: datetime) -> None:
    """Open an account for each person with the yearly budget of ``now``'s year credited, in
    batches: the state is built once by the domain and copied with each person's ids."""
    policy = default_catalog().policy_in_force(PolicyKind.TRAINING_BUDGET, now.date().replace(month=1, day=1))
    account = open_account(person_id="template", idempotency_key="reg-template", now=now)
    credit_yearly_budget(account, policy=policy, year=now.year, now=now)
    account.take_events()
    template = json.dumps({"state": encode(account.state()), "balances": summary(account)})
    for k in range(0, len(persons), BATCH):
        batch = []
        for person_id in persons[k:k + BATCH]:
            account_id = account_id_for(person_id)
            body = json.loads(template.replace(account.account_id, account_id).replace('"template"', f'"{person_id}"'))
            batch.append((account_id, {"person_id": person_id, **body, "profile": encode(profile(person_id))}, []))
        assert all(repo.accounts.create_many(batch))
