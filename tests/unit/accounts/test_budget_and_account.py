from datetime import date

import pytest

from services.accounts.domain import (
    BUDGET_WALLET,
    PolicyKind,
    PolicyNotInForce,
    RuleViolation,
    account_id_for,
    credit_budget,
    credit_yearly_budget,
    open_account,
    policy_in_force,
)
from services.accounts.domain.events import AccountOpened, BudgetCredited
from tests.unit.accounts.builders import account, at

POLICY = policy_in_force(PolicyKind.TRAINING_BUDGET, date(2025, 1, 1))


def test_open_account_is_deterministic_per_person():
    acc = open_account(person_id="p-1", idempotency_key="reg-1", now=at(date(2025, 1, 1)))
    [event] = acc.take_events()
    assert isinstance(event, AccountOpened) and event.account_id == acc.account_id == account_id_for("p-1")
    again = open_account(person_id="p-1", idempotency_key="reg-1", now=at(date(2025, 1, 1)))
    assert again.take_events()[0].event_id == event.event_id


def test_yearly_credit_stops_at_the_cap_and_is_idempotent():
    acc = account()
    amounts = []
    for year in range(2025, 2030):
        result = credit_yearly_budget(acc, policy=POLICY, year=year, now=at(date(year, 1, 1)))
        amounts.append(result.entries[0].amount if result else 0)
    assert amounts == [50000, 50000, 50000, 0, 0]
    assert acc.balance(BUDGET_WALLET) == POLICY.cap_cents
    assert credit_yearly_budget(acc, policy=POLICY, year=2025, now=at(date(2025, 1, 2))).replayed
    events = acc.take_events()
    assert [type(e) for e in events] == [BudgetCredited] * 3
    assert events[0].policy_version_id == "training-budget-2025"
    assert "yearly training budget 2025" in events[0].explanation


def test_yearly_credit_is_reduced_to_stay_within_the_cap():
    acc = account()
    credit_budget(acc, amount_cents=120000, idempotency_key="manual-1", policy=POLICY, on_date=date(2025, 1, 1),
                  now=at(date(2025, 1, 1)), explanation="regisseur correction")
    result = credit_yearly_budget(acc, policy=POLICY, year=2026, now=at(date(2026, 1, 1)))
    assert result.entries[0].amount == 30000 and "reduced" in result.entries[0].explanation


def test_a_manual_credit_above_the_cap_is_refused():
    acc = account()
    with pytest.raises(RuleViolation, match="above the cap"):
        credit_budget(acc, amount_cents=POLICY.cap_cents + 1, idempotency_key="m", policy=POLICY,
                      on_date=date(2025, 3, 1), now=at(date(2025, 3, 1)), explanation="too much")
    assert acc.entries == ()


def test_the_policy_must_be_in_force_for_the_year():
    with pytest.raises(PolicyNotInForce):
        credit_yearly_budget(account(), policy=POLICY, year=2024, now=at(date(2024, 1, 1)))
