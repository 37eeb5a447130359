"""Yearly credits: what each policy credits per period, and to whom.

A policy of the training budget, training cheques or training leave says its ``credit_period``
(``CALENDAR_YEAR`` or ``SCHOOL_YEAR``) and when a period's credit is written (``credited``):

==================  ==============  ======================  =====================================
policy              period          credited                amount, to whom
==================  ==============  ======================  =====================================
TRAINING_BUDGET     calendar year   AT_PERIOD_START         ``yearly_credit_cents`` up to the cap
TRAINING_LEAVE      school year     AT_PERIOD_START         ``max_hours_per_school_year``, to the
                                                            eligible labour statuses
TRAINING_CHEQUE     school year     AT_FIRST_USE            ``max_per_school_year_cents`` (funding
                                                            saga, on the first enrolment)
==================  ==============  ======================  =====================================

``AT_PERIOD_START`` credits are granted by the scheduled yearly-credit job (and at account
opening, for the periods the account opens in); the version in force on the period's first day
decides. Every credit of a period has ONE idempotency key per account (``credit_key``): the
job, a second job process, a re-run after a crash, the account opening and the saga's first use
all write the same ledger entry at most once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from services.accounts.domain.budget import credit_yearly_budget
from services.accounts.domain.common import Unit, school_year_of
from services.accounts.domain.events import BudgetCredited
from services.accounts.domain.ledger import Account, MutationResult, WalletKind, WalletRef
from services.accounts.domain.person import PersonProfile
from services.accounts.domain.policies import (
    CreditPeriod,
    Credited,
    PolicyCatalog,
    PolicyKind,
    PolicyNotInForce,
    TrainingBudgetPolicy,
    TrainingChequePolicy,
    TrainingLeavePolicy,
)

YEARLY_KINDS = (PolicyKind.TRAINING_BUDGET, PolicyKind.TRAINING_CHEQUE, PolicyKind.TRAINING_LEAVE)
ALLOWANCE_WALLET = {PolicyKind.TRAINING_CHEQUE: WalletKind.TRAINING_CHEQUE,
                    PolicyKind.TRAINING_LEAVE: WalletKind.TRAINING_LEAVE}


@dataclass(frozen=True, order=True)
class Period:
    """A calendar year (label ``"2026"``) or a school year (label ``"2026-2027"``)."""

    start: date
    kind: CreditPeriod

    @classmethod
    def of(cls, kind: CreditPeriod, day: date) -> "Period":
        if kind is CreditPeriod.CALENDAR_YEAR:
            return cls(date(day.year, 1, 1), kind)
        return cls(date(day.year if day.month >= 9 else day.year - 1, 9, 1), kind)

    @classmethod
    def parse(cls, kind: CreditPeriod, label: str) -> "Period":
        return cls(date(int(label[:4]), 1 if kind is CreditPeriod.CALENDAR_YEAR else 9, 1), kind)

    @property
    def label(self) -> str:
        if self.kind is CreditPeriod.CALENDAR_YEAR:
            return str(self.start.year)
        return school_year_of(self.start)

    def next(self) -> "Period":
        return Period(self.start.replace(year=self.start.year + 1), self.kind)


@dataclass(frozen=True)
class Grant:
    """The credit of one policy kind for one period (the same for every account)."""

    kind: PolicyKind
    period: Period

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.period.label}"

    @classmethod
    def parse(cls, key: str, catalog: PolicyCatalog) -> "Grant":
        kind, _, label = key.partition(":")
        return cls(PolicyKind(kind), Period.parse(credit_period_of(catalog, PolicyKind(kind)), label))


def credit_period_of(catalog: PolicyCatalog, kind: PolicyKind) -> CreditPeriod:
    """The period of ``kind``'s credits (the catalog checks that its versions agree on it)."""
    return catalog.versions(kind)[0].credit_period


def credit_key(grant: Grant) -> str:
    """The ledger idempotency key of a grant on an account (the budget's predates this module)."""
    if grant.kind is PolicyKind.TRAINING_BUDGET:
        return f"training-budget:{grant.period.label}"
    return allowance_key(WalletRef(ALLOWANCE_WALLET[grant.kind], grant.period.label))


def allowance_key(wallet: WalletRef) -> str:
    return f"allowance:{wallet.key}"


def scheduled_kinds(catalog: PolicyCatalog) -> list[PolicyKind]:
    """The kinds whose credits the yearly-credit job grants (some version credits AT_PERIOD_START)."""
    return [k for k in YEARLY_KINDS if any(v.credited is Credited.AT_PERIOD_START for v in catalog.versions(k))]


def grants_due(catalog: PolicyCatalog, today: date, granted: dict[str, str]) -> list[Grant]:
    """The grants the job still owes on ``today``: per scheduled kind, every period after the last
    one it granted (``granted``: kind -> period label) up to the period ``today`` is in, oldest
    first (a job that was down for a while catches up). A kind never granted starts at today's
    period. Periods with no version in force on their first day, or crediting at first use, are
    skipped."""
    due = []
    for kind in scheduled_kinds(catalog):
        period_kind = credit_period_of(catalog, kind)
        first = Period.parse(period_kind, granted[kind]).next() if kind in granted else Period.of(period_kind, today)
        due += _scheduled(catalog, kind, first, Period.of(period_kind, today))
    return due


def grants_between(catalog: PolicyCatalog, first: date, last: date) -> list[Grant]:
    """The scheduled grants of every period that overlaps ``first`` .. ``last`` (account opening)."""
    first, last = min(first, last), max(first, last)
    due = []
    for kind in scheduled_kinds(catalog):
        period_kind = credit_period_of(catalog, kind)
        due += _scheduled(catalog, kind, Period.of(period_kind, first), Period.of(period_kind, last))
    return due


def _scheduled(catalog: PolicyCatalog, kind: PolicyKind, first: Period, last: Period) -> list[Grant]:
    """The grants of ``kind`` from period ``first`` to ``last`` whose version credits at period start."""
    grants, period = [], first
    while period <= last:
        policy = _policy(catalog, kind, period)
        if policy is not None and policy.credited is Credited.AT_PERIOD_START:
            grants.append(Grant(kind, period))
        period = period.next()
    return grants


def _policy(catalog: PolicyCatalog, kind: PolicyKind, period: Period):
    try:
        return catalog.policy_in_force(kind, period.start)
    except PolicyNotInForce:
        return None


def apply_grant(account: Account, profile: PersonProfile | None, catalog: PolicyCatalog, grant: Grant,
                now: datetime) -> MutationResult | None:
    """Credit ``grant`` to the account once (idempotent by ``credit_key``). None when nothing is
    credited: granted before, account closed, the person not eligible, the budget cap reached,
    or no version in force on the period's first day."""
    policy = _policy(catalog, grant.kind, grant.period)
    if policy is None:
        return None
    if isinstance(policy, TrainingBudgetPolicy):
        year = grant.period.start.year if grant.period.kind is CreditPeriod.CALENDAR_YEAR else grant.period.label
        return credit_yearly_budget(account, policy=policy, year=year, now=now)
    if (done := account.result_for(credit_key(grant))) is not None:
        return done
    if account.closed_on is not None or profile is None or profile.labour_status not in policy.eligible_labour_statuses:
        return None
    wallet = WalletRef(ALLOWANCE_WALLET[grant.kind], grant.period.label)
    return credit_allowance(account, wallet, allowance_of(policy), policy_version_id=policy.id, now=now,
                            explanation=f"{wallet.kind} allowance for school year {grant.period.label} "
                                        f"({policy.id})")


def allowance_of(policy: TrainingChequePolicy | TrainingLeavePolicy) -> int:
    """A school year's allowance: euro cents of training cheques, hours of training leave."""
    if isinstance(policy, TrainingChequePolicy):
        return policy.max_per_school_year_cents
    return policy.max_hours_per_school_year


def credit_allowance(account: Account, wallet: WalletRef, amount: int, *, policy_version_id: str, now: datetime,
                     explanation: str) -> MutationResult:
    """Credit a school year's allowance to its wallet and raise ``BudgetCredited`` (once per wallet)."""
    key = allowance_key(wallet)
    if (done := account.result_for(key)) is not None:
        return done
    result = account.credit(wallet, amount, idempotency_key=key, now=now, explanation=explanation,
                            policy_version_id=policy_version_id)
    account.raise_event(BudgetCredited(
        **account.event_fields(key, BudgetCredited, now),
        wallet=wallet.key, amount=amount, unit=Unit(wallet.unit), entry_id=result.entries[0].entry_id,
        policy_version_id=policy_version_id, explanation=explanation,
    ))
    return result
