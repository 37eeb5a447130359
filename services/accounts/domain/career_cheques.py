"""Career cheques (loopbaancheques): eligibility per policy version and the cheque lifecycle.

Lifecycle of one cheque::

    BOUGHT --first session on/before start_deadline--> STARTED --all hours--> COMPLETED
       |                                                  '--closed early--> PARTIALLY_USED
       '--no session by start_deadline (purchase + 3 months)--> EXPIRED

* EXPIRED: the own contribution is refunded and the cheque does not count as used (the right
  is not lost), so it does not start or fill a 6-year period.
* PARTIALLY_USED: the remaining hours are forfeited, nothing is refunded; it counts as used.

Ledger effects (two wallets): ``CAREER_CHEQUE`` holds the cheque's guidance hours, reserved on a
hold whose id is the ``cheque_id`` (sessions CAPTURE hours; early closing RELEASEs and FORFEITs the
rest; expiry RELEASEs and EXPIREs them). ``CAREER_CHEQUE_CONTRIBUTION`` holds the own contribution
the person paid at the regisseur's counter, on hold ``<cheque_id>:contribution`` until guidance
starts (CAPTURE) or the cheque expires (RELEASE + REFUND back to the person).

6-year period: it starts with the first cheque that counts as used; a cheque bought at least
``period_years`` after the current period began starts a new period. Cheques of an earlier policy
version count in the period in progress (a transition is counted by cheque number and hours).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Iterable, Sequence

from services.accounts.domain.common import (
    IdempotencyConflict,
    InvalidArgument,
    NotFound,
    RuleViolation,
    add_months,
    add_years,
    require_key,
    require_positive,
)
from services.accounts.domain.events import (
    CareerChequeBought,
    CareerChequeCompleted,
    CareerChequeExpired,
    CareerChequeHoursForfeited,
    CareerGuidanceRecorded,
    CareerGuidanceStarted,
    ComplexityAssessed,
)
from services.accounts.domain.ledger import Account, WalletKind, WalletRef
from services.accounts.domain.person import PersonProfile
from services.accounts.domain.policies import CareerChequePolicy, CareerChequeStep, PolicyNotInForce

HOURS_WALLET = WalletRef(WalletKind.CAREER_CHEQUE)
CONTRIBUTION_WALLET = WalletRef(WalletKind.CAREER_CHEQUE_CONTRIBUTION)


class ChequeStatus(StrEnum):
    BOUGHT = "BOUGHT"
    STARTED = "STARTED"
    COMPLETED = "COMPLETED"
    PARTIALLY_USED = "PARTIALLY_USED"
    EXPIRED = "EXPIRED"


CLOSED_STATUSES = frozenset({ChequeStatus.COMPLETED, ChequeStatus.PARTIALLY_USED, ChequeStatus.EXPIRED})


@dataclass(frozen=True, kw_only=True)
class CareerCheque:
    cheque_id: str
    person_id: str
    policy_version_id: str
    step_number: int
    hours: int
    own_contribution_cents: int
    purchase_date: date
    start_deadline: date  # last day on which guidance may start
    period_start: date
    buy_key: str
    status: ChequeStatus = ChequeStatus.BOUGHT
    started_on: date | None = None
    hours_used: int = 0
    hours_forfeited: int = 0
    refunded_cents: int = 0
    closed_on: date | None = None
    session_keys: tuple[str, ...] = ()
    # the guidance at the career centre the person redeemed the cheque at (``guidance.Trajectory``)
    trajectory: Any = None

    @property
    def hours_remaining(self) -> int:
        return self.hours - self.hours_used - self.hours_forfeited

    def status_on(self, on_date: date) -> ChequeStatus:
        """The status as of ``on_date``: an unstarted cheque past its deadline is expired even
        before the expiry job has run (so decisions never depend on job timing)."""
        if self.status is ChequeStatus.BOUGHT and on_date > self.start_deadline:
            return ChequeStatus.EXPIRED
        return self.status

    def counts_as_used(self, on_date: date) -> bool:
        return self.purchase_date <= on_date and self.status_on(on_date) is not ChequeStatus.EXPIRED


@dataclass(frozen=True, kw_only=True)
class ComplexityAssessment:
    """The regisseur's assessment of the person's career question (needed for 2013 packages 3-4)."""

    assessment_id: str
    assessed_on: date
    complex: bool
    assessor_id: str
    note: str = ""


# --- eligibility -----------------------------------------------------------------------------

class ReasonCode(StrEnum):
    WORK_EXPERIENCE_MET = "WORK_EXPERIENCE_MET"
    TEMP_WORK_ALTERNATIVE_MET = "TEMP_WORK_ALTERNATIVE_MET"
    INSUFFICIENT_WORK_EXPERIENCE = "INSUFFICIENT_WORK_EXPERIENCE"
    NEVER_USED_A_CHEQUE = "NEVER_USED_A_CHEQUE"
    PREVIOUSLY_USED_A_CHEQUE = "PREVIOUSLY_USED_A_CHEQUE"
    NEW_PERIOD = "NEW_PERIOD"
    WITHIN_PERIOD = "WITHIN_PERIOD"
    PERIOD_EXHAUSTED = "PERIOD_EXHAUSTED"
    HOURS_CAP_REACHED = "HOURS_CAP_REACHED"
    ASSESSED_COMPLEX = "ASSESSED_COMPLEX"
    COMPLEXITY_ASSESSMENT_REQUIRED = "COMPLEXITY_ASSESSMENT_REQUIRED"
    ACCOUNT_CLOSED = "ACCOUNT_CLOSED"
    AMOUNT_UNCONFIRMED = "AMOUNT_UNCONFIRMED"


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    text: str
    blocking: bool = False


@dataclass(frozen=True, kw_only=True)
class CareerChequeDecision:
    eligible: bool
    reasons: tuple[Reason, ...]
    policy_version_id: str
    on_date: date
    next_step: CareerChequeStep | None
    period_start: date  # start of the period the next cheque would belong to
    period_end: date  # first day of the following period
    cheques_used_in_period: int
    hours_used_in_period: int

    @property
    def reason_codes(self) -> tuple[ReasonCode, ...]:
        return tuple(r.code for r in self.reasons)

    @property
    def blocking_reasons(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.blocking)


class NotEligible(RuleViolation):
    def __init__(self, decision: CareerChequeDecision) -> None:
        super().__init__("; ".join(r.text for r in decision.blocking_reasons) or "not eligible")
        self.decision = decision


def current_period_start(purchase_dates: Iterable[date], on_date: date, period_years: int) -> date | None:
    """Start of the 6-year period in progress on ``on_date`` given the purchase dates of the
    cheques that count as used, or None if no period is in progress (a new one would start)."""
    start: date | None = None
    for bought in sorted(d for d in purchase_dates if d <= on_date):
        if start is None or bought >= add_years(start, period_years):
            start = bought
    if start is not None and on_date < add_years(start, period_years):
        return start
    return None


def _experience_reasons(profile: PersonProfile, policy: CareerChequePolicy) -> list[Reason]:
    rule = policy.eligibility
    reasons: list[Reason] = []
    ok = True
    if rule.min_work_experience_months is not None:
        months = profile.experience_months(rule.ibo_wep_counts_as_experience)
        counted = " (IBO/WEP included)" if rule.ibo_wep_counts_as_experience else ""
        if months >= rule.min_work_experience_months:
            reasons.append(Reason(
                ReasonCode.WORK_EXPERIENCE_MET,
                f"{months} months of work experience{counted} >= {rule.min_work_experience_months}",
            ))
        elif (
            rule.temp_alternative_min_months is not None
            and months >= rule.temp_alternative_min_months
            and profile.longest_temp_spell_days >= rule.temp_alternative_min_consecutive_days
        ):
            reasons.append(Reason(
                ReasonCode.TEMP_WORK_ALTERNATIVE_MET,
                f"{months} months of work experience{counted} >= {rule.temp_alternative_min_months} "
                f"with {profile.longest_temp_spell_days} consecutive days as temp worker "
                f">= {rule.temp_alternative_min_consecutive_days}",
            ))
        else:
            ok = False
            alternative = (
                f" (or {rule.temp_alternative_min_months} months of which "
                f"{rule.temp_alternative_min_consecutive_days} consecutive days as temp worker; "
                f"longest temp spell {profile.longest_temp_spell_days} days)"
                if rule.temp_alternative_min_months is not None else ""
            )
            reasons.append(Reason(
                ReasonCode.INSUFFICIENT_WORK_EXPERIENCE,
                f"{months} months of work experience{counted}, "
                f"{rule.min_work_experience_months} required{alternative}",
                blocking=True,
            ))
    if ok and rule.min_work_experience_days is not None:
        days = profile.experience_days(rule.ibo_wep_counts_as_experience)
        if days >= rule.min_work_experience_days:
            reasons.append(Reason(
                ReasonCode.WORK_EXPERIENCE_MET,
                f"{days} days of work experience >= {rule.min_work_experience_days}",
            ))
        else:
            reasons.append(Reason(
                ReasonCode.INSUFFICIENT_WORK_EXPERIENCE,
                f"{days} days of work experience, {rule.min_work_experience_days} required",
                blocking=True,
            ))
    return reasons


def assess_career_cheque(
    profile: PersonProfile,
    cheques: Sequence[CareerCheque],
    assessments: Sequence[ComplexityAssessment],
    policy: CareerChequePolicy,
    on_date: date,
) -> CareerChequeDecision:
    """May this person buy a (next) career cheque on ``on_date`` under ``policy``? Pure."""
    if not policy.in_force_on(on_date):
        raise PolicyNotInForce(policy.kind, on_date)
    reasons = _experience_reasons(profile, policy)
    used = [c for c in cheques if c.counts_as_used(on_date)]

    if policy.eligibility.only_if_never_used:
        if used:
            first = min(c.purchase_date for c in used)
            reasons.append(Reason(
                ReasonCode.PREVIOUSLY_USED_A_CHEQUE,
                f"{len(used)} cheque(s) used before (first bought {first}); "
                f"{policy.id} is only for people who never used a career cheque",
                blocking=True,
            ))
        else:
            reasons.append(Reason(ReasonCode.NEVER_USED_A_CHEQUE, "never used a career cheque"))

    period_start = current_period_start((c.purchase_date for c in used), on_date, policy.period_years)
    if period_start is None:
        period_start = on_date
        in_period: list[CareerCheque] = []
        reasons.append(Reason(
            ReasonCode.NEW_PERIOD,
            f"a new {policy.period_years}-year period starts with this cheque on {on_date}",
        ))
    else:
        in_period = [c for c in used if c.purchase_date >= period_start]
        reasons.append(Reason(
            ReasonCode.WITHIN_PERIOD,
            f"{len(in_period)} cheque(s) used in the period that began on {period_start}",
        ))
    period_end = add_years(period_start, policy.period_years)
    hours_used = sum(c.hours for c in in_period)

    next_step: CareerChequeStep | None = None
    if len(in_period) >= len(policy.steps):
        reasons.append(Reason(
            ReasonCode.PERIOD_EXHAUSTED,
            f"all {len(policy.steps)} cheque(s) of the period {period_start}..{period_end} are used; "
            f"a new period starts on {period_end}",
            blocking=True,
        ))
    else:
        next_step = policy.steps[len(in_period)]
        if hours_used + next_step.hours > policy.max_hours_per_period:
            reasons.append(Reason(
                ReasonCode.HOURS_CAP_REACHED,
                f"{hours_used} h used + {next_step.hours} h exceeds {policy.max_hours_per_period} h "
                f"per period",
                blocking=True,
            ))
        if next_step.requires_complex_assessment:
            relevant = [a for a in assessments if period_start <= a.assessed_on <= on_date]
            latest = max(relevant, key=lambda a: a.assessed_on, default=None)
            if latest is not None and latest.complex:
                reasons.append(Reason(
                    ReasonCode.ASSESSED_COMPLEX,
                    f"package {next_step.number} allowed: the regisseur assessed the career "
                    f"question as complex on {latest.assessed_on}",
                ))
            else:
                reasons.append(Reason(
                    ReasonCode.COMPLEXITY_ASSESSMENT_REQUIRED,
                    f"package {next_step.number} needs the regisseur to assess the career question "
                    f"as complex in this period"
                    + (f" (assessed not complex on {latest.assessed_on})" if latest else ""),
                    blocking=True,
                ))
    if policy.unconfirmed:
        reasons.append(Reason(
            ReasonCode.AMOUNT_UNCONFIRMED,
            f"{policy.id}: {', '.join(policy.unconfirmed_fields)} not confirmed by a source yet",
        ))
    return CareerChequeDecision(
        eligible=not any(r.blocking for r in reasons),
        reasons=tuple(reasons),
        policy_version_id=policy.id,
        on_date=on_date,
        next_step=next_step,
        period_start=period_start,
        period_end=period_end,
        cheques_used_in_period=len(in_period),
        hours_used_in_period=hours_used,
    )


def start_deadline(purchase_date: date, policy: CareerChequePolicy) -> date:
    """Last day on which guidance may start (purchase + 3 calendar months)."""
    return add_months(purchase_date, policy.start_deadline_months)


# --- operations on the account ---------------------------------------------------------------


def find_cheque(account: Account, cheque_id: str) -> CareerCheque:
    try:
        return account.career_cheques[cheque_id]
    except KeyError:
        raise NotFound(f"no career cheque {cheque_id!r} on account {account.account_id}") from None


def assess_career_cheque_for(
    account: Account, profile: PersonProfile, policy: CareerChequePolicy, on_date: date
) -> CareerChequeDecision:
    """``assess_career_cheque`` with the account's history; a closed account is not eligible."""
    decision = assess_career_cheque(
        profile, list(account.career_cheques.values()), account.complexity_assessments, policy, on_date
    )
    if account.closed_on is not None:
        closed = Reason(ReasonCode.ACCOUNT_CLOSED, f"account closed on {account.closed_on}", True)
        decision = replace(decision, eligible=False, reasons=(closed, *decision.reasons))
    return decision


def buy_career_cheque(
    account: Account,
    *,
    cheque_id: str,
    idempotency_key: str,
    profile: PersonProfile,
    policy: CareerChequePolicy,
    purchase_date: date,
    now: datetime,
) -> CareerCheque:
    """Buy the next cheque under ``policy`` (the version in force on ``purchase_date``).

    Raises ``NotEligible`` (with the decision and its reasons) when the rules say no. A repeat of
    ``idempotency_key`` returns the cheque bought the first time.
    """
    require_key(idempotency_key)
    for existing in account.career_cheques.values():
        if existing.buy_key == idempotency_key:
            if existing.cheque_id != cheque_id:
                raise IdempotencyConflict(
                    f"idempotency key {idempotency_key!r} already bought cheque {existing.cheque_id}"
                )
            return existing
    if not cheque_id:
        raise InvalidArgument("cheque_id is required")
    if cheque_id in account.career_cheques:
        raise RuleViolation(f"career cheque {cheque_id!r} already exists")
    if profile.person_id != account.person_id:
        raise InvalidArgument("profile belongs to another person than the account")

    decision = assess_career_cheque_for(account, profile, policy, purchase_date)
    if not decision.eligible:
        raise NotEligible(decision)
    step = decision.next_step
    assert step is not None
    cheque = CareerCheque(
        cheque_id=cheque_id,
        person_id=account.person_id,
        policy_version_id=policy.id,
        step_number=step.number,
        hours=step.hours,
        own_contribution_cents=step.own_contribution_cents,
        purchase_date=purchase_date,
        start_deadline=start_deadline(purchase_date, policy),
        period_start=decision.period_start,
        buy_key=idempotency_key,
    )
    what = f"career cheque {cheque_id} (step {step.number}, {policy.id}) bought on {purchase_date}"
    account.credit(HOURS_WALLET, step.hours, idempotency_key=f"{idempotency_key}/hours",
                   now=now, explanation=f"{step.hours} h of guidance on {what}", policy_version_id=policy.id)
    account.reserve(HOURS_WALLET, step.hours, hold_id=cheque_id,
                    idempotency_key=f"{idempotency_key}/hours-hold", now=now,
                    explanation=f"hours reserved for {what} until used, forfeited or expired",
                    policy_version_id=policy.id)
    if step.own_contribution_cents:
        account.credit(CONTRIBUTION_WALLET, step.own_contribution_cents,
                       idempotency_key=f"{idempotency_key}/contribution", now=now,
                       explanation=f"own contribution paid for {what}", policy_version_id=policy.id)
        account.reserve(CONTRIBUTION_WALLET, step.own_contribution_cents,
                        hold_id=contribution_hold_id(cheque_id),
                        idempotency_key=f"{idempotency_key}/contribution-hold", now=now,
                        explanation=f"contribution held until guidance starts (refunded if it does "
                                    f"not start by {cheque.start_deadline})",
                        policy_version_id=policy.id)
    account.career_cheques[cheque_id] = cheque
    account.raise_event(CareerChequeBought(
        **account.event_fields(idempotency_key, CareerChequeBought, now),
        cheque_id=cheque_id,
        purchase_date=purchase_date,
        step_number=step.number,
        hours=step.hours,
        own_contribution_cents=step.own_contribution_cents,
        start_deadline=cheque.start_deadline,
        period_start=cheque.period_start,
        policy_version_id=policy.id,
    ))
    return cheque


def contribution_hold_id(cheque_id: str) -> str:
    return f"{cheque_id}:contribution"


def start_guidance(account: Account, cheque: CareerCheque, key: str, start: date, now: datetime) -> CareerCheque:
    """The first session (or a centre's intake) starts the guidance: the own contribution is spent."""
    if cheque.own_contribution_cents:
        account.capture(contribution_hold_id(cheque.cheque_id), idempotency_key=f"{key}/contribution",
                        now=now, explanation=f"guidance on cheque {cheque.cheque_id} started on {start}: "
                                             "own contribution spent")
    account.raise_event(CareerGuidanceStarted(
        **account.event_fields(key, CareerGuidanceStarted, now), cheque_id=cheque.cheque_id, start_date=start,
    ))
    return replace(cheque, status=ChequeStatus.STARTED, started_on=start)


def deliver_hours(account: Account, cheque: CareerCheque, key: str, day: date, hours: int,
                  now: datetime) -> CareerCheque:
    """Spend ``hours`` of delivered guidance from the cheque's hours hold."""
    account.capture(cheque.cheque_id, idempotency_key=f"{key}/hours", now=now, amount=hours,
                    close=False, explanation=f"{hours} h of career guidance on {day}")
    return replace(cheque, hours_used=cheque.hours_used + hours)


def complete(account: Account, cheque: CareerCheque, key: str, day: date, now: datetime) -> CareerCheque:
    account.raise_event(CareerChequeCompleted(
        **account.event_fields(key, CareerChequeCompleted, now),
        cheque_id=cheque.cheque_id, completed_on=day, hours_used=cheque.hours_used,
    ))
    return replace(cheque, status=ChequeStatus.COMPLETED, closed_on=day)


def close_after_pop(account: Account, cheque: CareerCheque, key: str, day: date, now: datetime) -> CareerCheque:
    """The POP ends the trajectory: COMPLETED when every hour was used, else the rest is forfeited."""
    if cheque.hours_remaining == 0:
        return complete(account, cheque, key, day, now)
    return _forfeit_rest(account, cheque, key, day, now)


def record_career_guidance(
    account: Account,
    *,
    cheque_id: str,
    idempotency_key: str,
    guidance_date: date,
    hours: int,
    now: datetime,
    final: bool = False,
    outcome: str | None = None,
) -> CareerCheque:
    """Record a delivered guidance session on a cheque (a cheque not redeemed at a career centre;
    a redeemed one is recorded by its centre, ``guidance.record_trajectory_step``).

    The first session starts the guidance and must fall on or before the start deadline. When all
    hours are used the cheque is COMPLETED; a session marked ``final`` with hours left closes the
    cheque as PARTIALLY_USED and forfeits the rest (no refund).
    """
    require_key(idempotency_key)
    cheque = find_cheque(account, cheque_id)
    if idempotency_key in cheque.session_keys:
        return cheque
    if cheque.trajectory is not None:
        raise RuleViolation(f"career cheque {cheque_id} was redeemed at career centre {cheque.trajectory.centre_id}: "
                            "the centre records its guidance")
    require_positive(hours, "hours")
    if guidance_date < cheque.purchase_date:
        raise InvalidArgument(f"guidance date {guidance_date} is before the purchase {cheque.purchase_date}")
    status = cheque.status_on(guidance_date)
    if status is ChequeStatus.EXPIRED:
        raise RuleViolation(
            f"career cheque {cheque_id} expired: guidance had to start by {cheque.start_deadline}"
        )
    if status in CLOSED_STATUSES:
        raise RuleViolation(f"career cheque {cheque_id} is {status}")
    if hours > cheque.hours_remaining:
        raise RuleViolation(
            f"{hours} h recorded but only {cheque.hours_remaining} h remain on cheque {cheque_id}"
        )

    if cheque.status is ChequeStatus.BOUGHT:
        cheque = start_guidance(account, cheque, idempotency_key, guidance_date, now)
    cheque = deliver_hours(account, cheque, idempotency_key, guidance_date, hours, now)
    cheque = replace(cheque, session_keys=cheque.session_keys + (idempotency_key,))
    account.raise_event(CareerGuidanceRecorded(
        **account.event_fields(idempotency_key, CareerGuidanceRecorded, now),
        cheque_id=cheque_id, guidance_date=guidance_date, hours=hours,
        hours_used_total=cheque.hours_used, outcome=outcome,
    ))
    if cheque.hours_remaining == 0:
        cheque = complete(account, cheque, idempotency_key, guidance_date, now)
    elif final:
        cheque = _forfeit_rest(account, cheque, idempotency_key, guidance_date, now)
    account.career_cheques[cheque_id] = cheque
    return cheque


def close_career_cheque(
    account: Account, *, cheque_id: str, idempotency_key: str, closed_on: date, now: datetime
) -> CareerCheque:
    """End a started guidance early: the remaining hours are forfeited, nothing is refunded."""
    require_key(idempotency_key)
    cheque = find_cheque(account, cheque_id)
    if cheque.status is ChequeStatus.PARTIALLY_USED and cheque.closed_on == closed_on:
        return cheque
    if cheque.trajectory is not None:
        raise RuleViolation(f"career cheque {cheque_id} is guided by career centre {cheque.trajectory.centre_id}: "
                            "its trajectory ends with the POP")
    if cheque.status is not ChequeStatus.STARTED:
        raise RuleViolation(f"only a started cheque can be closed early; {cheque_id} is {cheque.status_on(closed_on)}")
    cheque = _forfeit_rest(account, cheque, idempotency_key, closed_on, now)
    account.career_cheques[cheque_id] = cheque
    return cheque


def _forfeit_rest(
    account: Account, cheque: CareerCheque, key: str, closed_on: date, now: datetime
) -> CareerCheque:
    rest = cheque.hours_remaining
    account.release(cheque.cheque_id, idempotency_key=f"{key}/release-rest", now=now,
                    explanation=f"cheque {cheque.cheque_id} closed after {cheque.hours_used} h")
    account.forfeit(HOURS_WALLET, rest, idempotency_key=f"{key}/forfeit", now=now,
                    policy_version_id=cheque.policy_version_id,
                    explanation=f"{rest} h of cheque {cheque.cheque_id} forfeited: a cheque cannot be "
                                "taken partly (no refund)")
    account.raise_event(CareerChequeHoursForfeited(
        **account.event_fields(key, CareerChequeHoursForfeited, now),
        cheque_id=cheque.cheque_id, closed_on=closed_on,
        hours_used=cheque.hours_used, hours_forfeited=rest,
    ))
    return replace(cheque, status=ChequeStatus.PARTIALLY_USED, hours_forfeited=rest, closed_on=closed_on)


def expire_career_cheques(account: Account, *, on_date: date, now: datetime) -> list[CareerCheque]:
    """Expire every cheque whose guidance did not start by its deadline (a deadline job calls this
    daily; it is idempotent). The own contribution is refunded; the right is not lost."""
    expired = []
    for cheque in list(account.career_cheques.values()):
        if cheque.status is not ChequeStatus.BOUGHT or cheque.status_on(on_date) is not ChequeStatus.EXPIRED:
            continue
        key = f"expire:{cheque.cheque_id}"
        expired_on = cheque.start_deadline + timedelta(days=1)
        why = f"guidance on cheque {cheque.cheque_id} did not start by {cheque.start_deadline}"
        account.release(cheque.cheque_id, idempotency_key=f"{key}/hours-release", now=now, explanation=why)
        account.expire(HOURS_WALLET, cheque.hours, idempotency_key=f"{key}/hours", now=now,
                       policy_version_id=cheque.policy_version_id,
                       explanation=f"{why}: hours expired (the right is not lost)")
        if cheque.own_contribution_cents:
            account.release(contribution_hold_id(cheque.cheque_id), idempotency_key=f"{key}/contribution-release",
                            now=now, explanation=why)
            account.refund(CONTRIBUTION_WALLET, cheque.own_contribution_cents,
                           idempotency_key=f"{key}/contribution-refund", now=now,
                           policy_version_id=cheque.policy_version_id,
                           explanation=f"{why}: own contribution refunded")
        cheque = replace(cheque, status=ChequeStatus.EXPIRED, closed_on=expired_on,
                         refunded_cents=cheque.own_contribution_cents)
        account.career_cheques[cheque.cheque_id] = cheque
        account.raise_event(CareerChequeExpired(
            **account.event_fields(key, CareerChequeExpired, now),
            cheque_id=cheque.cheque_id, expired_on=expired_on,
            start_deadline=cheque.start_deadline, refunded_cents=cheque.refunded_cents,
        ))
        expired.append(cheque)
    return expired


def record_complexity_assessment(
    account: Account,
    *,
    assessment_id: str,
    idempotency_key: str,
    assessed_on: date,
    complex: bool,
    assessor_id: str,
    now: datetime,
    note: str = "",
) -> ComplexityAssessment:
    """The regisseur records whether the person's career question is complex (idempotent by id)."""
    require_key(idempotency_key)
    if not assessment_id or not assessor_id:
        raise InvalidArgument("assessment_id and assessor_id are required")
    for existing in account.complexity_assessments:
        if existing.assessment_id == assessment_id:
            return existing
    assessment = ComplexityAssessment(
        assessment_id=assessment_id, assessed_on=assessed_on, complex=complex,
        assessor_id=assessor_id, note=note,
    )
    account.complexity_assessments.append(assessment)
    account.version += 1
    account.raise_event(ComplexityAssessed(
        **account.event_fields(idempotency_key, ComplexityAssessed, now),
        assessment_id=assessment_id, assessed_on=assessed_on, complex=complex,
        assessor_id=assessor_id, note=note,
    ))
    return assessment
