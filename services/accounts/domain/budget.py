"""Crediting the training budget under the training-budget policy (yearly credit up to a cap)."""
from __future__ import annotations

from datetime import date, datetime

from services.accounts.domain.common import RuleViolation, ensure_aware_utc, require_key, require_positive
from services.accounts.domain.events import AccountEvent, BudgetCredited
from services.accounts.domain.ledger import Account, MutationResult, WalletKind, WalletRef
from services.accounts.domain.policies import PolicyNotInForce, TrainingBudgetPolicy

BUDGET_WALLET = WalletRef(WalletKind.TRAINING_BUDGET)


def yearly_credit_amount(balance_cents: int, policy: TrainingBudgetPolicy) -> int:
    """The yearly credit, reduced so that the balance does not exceed the cap (pure)."""
    return max(0, min(policy.yearly_credit_cents, policy.cap_cents - balance_cents))


def credit_yearly_budget(
    account: Account, *, policy: TrainingBudgetPolicy, year: int | str, now: datetime
) -> MutationResult | None:
    """Credit the yearly training budget for ``year``: a calendar year (``2026``, the decision
    concerns 1 January) or a school year (``"2026-2027"``, 1 September), as the policy's
    ``credit_period`` says.

    Idempotent per account and year (key ``training-budget:<year>``). Returns None when the cap
    leaves nothing to credit (nothing is written then) or the account is closed.
    """
    label = str(year)
    on_date = date(int(label[:4]), 9 if "-" in label else 1, 1)
    if not policy.in_force_on(on_date):
        raise PolicyNotInForce(policy.kind, on_date)
    key = f"training-budget:{label}"
    if (done := account.result_for(key)) is not None:
        return done
    if account.closed_on is not None:
        return None
    amount = yearly_credit_amount(account.balance(BUDGET_WALLET), policy)
    if amount == 0:
        return None
    capped = " (reduced to stay within the cap)" if amount < policy.yearly_credit_cents else ""
    return _credit(account, amount, key, now, policy,
                   f"yearly training budget {label}: {amount} cents{capped}, {policy.id} "
                   f"(cap {policy.cap_cents} cents)")


def credit_budget(
    account: Account,
    *,
    amount_cents: int,
    idempotency_key: str,
    policy: TrainingBudgetPolicy,
    on_date: date,
    now: datetime,
    explanation: str,
) -> MutationResult:
    """A one-off credit by the regisseur; refused if the balance would exceed the policy's cap."""
    require_key(idempotency_key)
    if (done := account.result_for(idempotency_key)) is not None:
        return done
    require_positive(amount_cents, "amount_cents")
    if not policy.in_force_on(on_date):
        raise PolicyNotInForce(policy.kind, on_date)
    balance = account.balance(BUDGET_WALLET)
    if balance + amount_cents > policy.cap_cents:
        raise RuleViolation(
            f"crediting {amount_cents} cents would bring the training budget to "
            f"{balance + amount_cents} cents, above the cap of {policy.cap_cents} ({policy.id})"
        )
    return _credit(account, amount_cents, idempotency_key, now, policy, explanation)


def _credit(
    account: Account, amount: int, key: str, now: datetime, policy: TrainingBudgetPolicy, explanation: str
) -> MutationResult:
    result = account.credit(BUDGET_WALLET, amount, idempotency_key=key, now=now,
                            explanation=explanation, policy_version_id=policy.id)
    entry = result.entries[0]
    account.raise_event(BudgetCredited(
        event_id=AccountEvent.id_for(account.account_id, key, BudgetCredited),
        occurred_at=ensure_aware_utc(now),
        account_id=account.account_id,
        person_id=account.person_id,
        wallet=BUDGET_WALLET.key,
        amount=amount,
        unit=BUDGET_WALLET.unit,
        entry_id=entry.entry_id,
        policy_version_id=policy.id,
        explanation=explanation,
    ))
    return result
