"""Career guidance at accredited career centres (loopbaancentra), with outcome measures.

A cheque bought at the regisseur's counter (``career_cheques.buy_career_cheque``) is *redeemed* by
the person at an accredited career centre of their choice; from then on only that centre records
the trajectory, step by step, in this order::

    INTAKE -> ANALYSIS (analysis and reflection) -> ACTION_PLAN -> EVALUATION -> POP

* INTAKE starts the guidance: it must fall on or before the cheque's start deadline (purchase + 3
  months; after it the cheque expires and the own contribution is refunded, as before) and it
  records the outcome measures (the work-happiness dimensions on the policy's scale).
* EVALUATION records the same measures again, plus reorientation and a sustainable job match.
* POP (persoonlijk ontwikkelingsplan) ends the trajectory: all hours used -> the cheque is
  COMPLETED; hours left -> they are forfeited (a cheque cannot be taken partly, no refund).
  The POP may list trainings: they become the person's development plan, the one plan a counter
  also records (``development_plan``; the later of the two replaces the earlier), which is what
  the training cheque's POP exception reads.
* After the POP the centre *cashes* the cheque (once) for the hours it delivered.

Each step may carry guidance hours (0 or more; they are captured on the cheque's hours hold);
a step's date is not before the previous step's. Every step, the redemption and the cashing is
an event; ``idempotency_key`` repeats return the cheque unchanged.

Outcome policy: versioned data in ``policies/guidance/outcome_measures.yaml`` (the dimensions and
the scale); a trajectory is measured on the version in force on its intake date.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from services.accounts.domain.career_cheques import (
    CareerCheque,
    ChequeStatus,
    close_after_pop,
    deliver_hours,
    find_cheque,
    start_guidance,
)
from services.accounts.domain.common import InvalidArgument, NotFound, RuleViolation, derived_id, require_key
from services.accounts.domain.events import (
    CareerCentreAccredited,
    CareerChequeCashed,
    CareerChequeRedeemed,
    CareerOutcomesRecorded,
    CareerTrajectoryStepRecorded,
    DimensionScore,
)
from services.accounts.domain.development_plan import record_development_plan, validated_trainings
from services.accounts.domain.ledger import Account

OUTCOME_POLICY_FILE = Path(__file__).resolve().parent.parent / "policies" / "guidance" / "outcome_measures.yaml"


class Phase(StrEnum):
    INTAKE = "INTAKE"
    ANALYSIS = "ANALYSIS"  # analysis and reflection
    ACTION_PLAN = "ACTION_PLAN"
    EVALUATION = "EVALUATION"
    POP = "POP"  # the personal development plan, which ends the trajectory


PHASES: tuple[Phase, ...] = tuple(Phase)
MEASURED_PHASES = frozenset({Phase.INTAKE, Phase.EVALUATION})


# --- career centres --------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class CareerCentre:
    """A career centre (loopbaancentrum) the regisseur accredited: only these redeem cheques."""

    centre_id: str
    name: str
    accredited_on: date
    accredited_by: str


def accredit_career_centre(*, centre_id: str, name: str, accredited_on: date, accredited_by: str,
                           now: datetime) -> tuple[CareerCentre, list[CareerCentreAccredited]]:
    problems = []
    if not centre_id or not centre_id.strip():
        problems.append("centre_id is required")
    if not name or not name.strip():
        problems.append("name is required")
    if problems:
        raise InvalidArgument("; ".join(problems))
    centre = CareerCentre(centre_id=centre_id.strip(), name=name.strip(), accredited_on=accredited_on,
                          accredited_by=accredited_by)
    event = CareerCentreAccredited(event_id=derived_id("career-centre", centre.centre_id), occurred_at=now,
                                   centre_id=centre.centre_id, name=centre.name, accredited_on=accredited_on,
                                   accredited_by=accredited_by)
    return centre, [event]


# --- outcome policy ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dimension:
    code: str
    nl: str
    text: str


@dataclass(frozen=True, kw_only=True)
class OutcomePolicy:
    id: str
    effective_from: date
    effective_until: date | None
    scale_min: int
    scale_max: int
    dimensions: tuple[Dimension, ...]
    source: str = ""
    unconfirmed_fields: tuple[str, ...] = ()

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(d.code for d in self.dimensions)

    def in_force_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_until is None or day <= self.effective_until)


@dataclass(frozen=True)
class OutcomePolicies:
    versions: tuple[OutcomePolicy, ...]

    def in_force(self, day: date) -> OutcomePolicy:
        for version in self.versions:
            if version.in_force_on(day):
                return version
        raise RuleViolation(f"no outcome-measure policy is in force on {day}")

    def by_id(self, policy_id: str) -> OutcomePolicy:
        for version in self.versions:
            if version.id == policy_id:
                return version
        raise NotFound(f"no outcome-measure policy {policy_id!r}")


def parse_outcome_policies(raw: Any, where: str = "outcome policy") -> OutcomePolicies:
    """Validate the policy document (``kind: CAREER_GUIDANCE_OUTCOMES``); errors name the field."""
    def fail(problem: str) -> InvalidArgument:
        return InvalidArgument(f"{where}: {problem}")
    if not isinstance(raw, dict) or raw.get("kind") != "CAREER_GUIDANCE_OUTCOMES":
        raise fail("kind must be CAREER_GUIDANCE_OUTCOMES")
    versions = []
    for i, v in enumerate(raw.get("versions") or []):
        at = f"versions[{i}]"
        try:
            scale = v["scale"]
            lo, hi = scale["min"], scale["max"]
            dims = tuple(Dimension(d["code"], d["nl"], d.get("text", "")) for d in v["dimensions"])
            start = v["effective_from"]
        except (KeyError, TypeError) as exc:
            raise fail(f"{at} lacks {exc}") from None
        if not (isinstance(lo, int) and isinstance(hi, int) and lo < hi):
            raise fail(f"{at}.scale: min and max must be integers with min < max")
        codes = [d.code for d in dims]
        if not codes or len(set(codes)) != len(codes):
            raise fail(f"{at}.dimensions: must be non-empty with distinct codes")
        if not isinstance(start, date):
            raise fail(f"{at}.effective_from must be a date")
        versions.append(OutcomePolicy(
            id=str(v.get("id") or ""), effective_from=start, effective_until=v.get("effective_until"),
            scale_min=lo, scale_max=hi, dimensions=dims, source=str(v.get("source", "")).strip(),
            unconfirmed_fields=tuple(v.get("unconfirmed") or ())))
    if not versions or any(not v.id for v in versions):
        raise fail("needs at least one version, each with an id")
    ordered = tuple(sorted(versions, key=lambda v: v.effective_from))
    for before, after in zip(ordered, ordered[1:]):
        if before.effective_until is None or before.effective_until >= after.effective_from:
            raise fail(f"{before.id} and {after.id} overlap")
    return OutcomePolicies(ordered)


@lru_cache(maxsize=1)
def default_outcome_policies() -> OutcomePolicies:
    with OUTCOME_POLICY_FILE.open(encoding="utf-8") as handle:
        return parse_outcome_policies(yaml.safe_load(handle), OUTCOME_POLICY_FILE.name)


# --- state -----------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Outcomes:
    """One measurement: a score per dimension (in the policy's order) on the policy's scale."""

    policy_version_id: str
    measured_on: date
    scores: tuple[DimensionScore, ...]

    def mean(self) -> float:
        return sum(s.score for s in self.scores) / len(self.scores)

    def score(self, dimension: str) -> int:
        return next(s.score for s in self.scores if s.dimension == dimension)


@dataclass(frozen=True, kw_only=True)
class Step:
    phase: Phase
    on: date
    hours: int


@dataclass(frozen=True, kw_only=True)
class Trajectory:
    """A cheque's guidance at the centre the person chose (kept on the ``CareerCheque``)."""

    centre_id: str
    redeemed_on: date
    redeem_key: str
    steps: tuple[Step, ...] = ()
    intake: Outcomes | None = None
    evaluation: Outcomes | None = None
    reorientation: bool | None = None
    sustainable_job_match: bool | None = None
    cashed_on: date | None = None
    cash_key: str = ""
    # The number of the centre's list entry that names this trajectory (the repository's
    # ``list_redemption``, written before the redemption): a retried or failed redemption leaves
    # other entries, which the list skips because no trajectory carries their number.
    listing: int = 0

    @property
    def next_phase(self) -> Phase | None:
        return PHASES[len(self.steps)] if len(self.steps) < len(PHASES) else None

    @property
    def pop_delivered(self) -> bool:
        return len(self.steps) == len(PHASES)


def validate_scores(policy: OutcomePolicy, scores: Mapping[str, int], field: str) -> tuple[DimensionScore, ...]:
    """Scores for every dimension of ``policy``, each an integer on its scale, nothing else."""
    if not scores:
        raise InvalidArgument(f"{field}: the {len(policy.codes)} work-happiness dimensions "
                              f"({', '.join(policy.codes)}) are required")
    unknown = sorted(set(scores) - set(policy.codes))
    if unknown:
        raise InvalidArgument(f"{field}: unknown dimension(s) {', '.join(unknown)} "
                              f"(known: {', '.join(policy.codes)})")
    missing = [c for c in policy.codes if c not in scores]
    if missing:
        raise InvalidArgument(f"{field}: missing dimension(s) {', '.join(missing)}")
    for code in policy.codes:
        value = scores[code]
        if isinstance(value, bool) or not isinstance(value, int) or not policy.scale_min <= value <= policy.scale_max:
            raise InvalidArgument(f"{field}: {code} is {value!r}, must be an integer from {policy.scale_min} "
                                  f"to {policy.scale_max} ({policy.id})")
    return tuple(DimensionScore(dimension=c, score=scores[c]) for c in policy.codes)


# --- operations --------------------------------------------------------------------------------

def _trajectory_of(account: Account, cheque_id: str, centre_id: str) -> tuple[CareerCheque, Trajectory]:
    cheque = account.career_cheques.get(cheque_id)
    t = cheque.trajectory if cheque is not None else None
    if t is None or t.centre_id != centre_id:
        # the same answer whether the cheque is elsewhere or nowhere: a centre learns nothing
        raise NotFound(f"career centre {centre_id} has no trajectory on cheque {cheque_id}")
    return cheque, t


def redeem_career_cheque(account: Account, *, cheque_id: str, centre_id: str, idempotency_key: str,
                         redeemed_on: date, now: datetime, listing: int = 0):
    """The person hands the cheque to a career centre of their choice (before guidance starts)."""
    require_key(idempotency_key)
    if not centre_id:
        raise InvalidArgument("centre_id is required")
    cheque = find_cheque(account, cheque_id)
    if cheque.trajectory is not None:
        if cheque.trajectory.redeem_key == idempotency_key:
            return cheque
        raise RuleViolation(f"career cheque {cheque_id} was already redeemed at career centre "
                            f"{cheque.trajectory.centre_id} on {cheque.trajectory.redeemed_on}")
    if redeemed_on < cheque.purchase_date:
        raise InvalidArgument(f"redeemed_on {redeemed_on} is before the purchase {cheque.purchase_date}")
    status = cheque.status_on(redeemed_on)
    if status is ChequeStatus.EXPIRED:
        raise RuleViolation(f"career cheque {cheque_id} expired: guidance had to start by {cheque.start_deadline} "
                            "(the own contribution is refunded; a new cheque can be bought)")
    if status is not ChequeStatus.BOUGHT:
        raise RuleViolation(f"career cheque {cheque_id} is {status}: only an unused cheque can be redeemed")
    cheque = replace(cheque, trajectory=Trajectory(centre_id=centre_id, redeemed_on=redeemed_on,
                                                   redeem_key=idempotency_key, listing=listing))
    account.career_cheques[cheque_id] = cheque
    account.version += 1
    account.raise_event(CareerChequeRedeemed(
        **account.event_fields(idempotency_key, CareerChequeRedeemed, now),
        cheque_id=cheque_id, centre_id=centre_id, redeemed_on=redeemed_on, start_deadline=cheque.start_deadline))
    return cheque


def record_trajectory_step(
    account: Account,
    *,
    cheque_id: str,
    centre_id: str,
    phase: Phase | str,
    idempotency_key: str,
    step_date: date,
    hours: int,
    now: datetime,
    policies: OutcomePolicies,
    scores: Mapping[str, int] | None = None,
    reorientation: bool | None = None,
    sustainable_job_match: bool | None = None,
    pop_offer_ids: Sequence[str] = (),
):
    """Record the next step of the trajectory (see the module docstring for the rules).
    ``pop_offer_ids``: at the POP step, the trainings the plan lists; they become the person's
    development plan (as ``record_development_plan`` records it at the counter), in the same change."""
    require_key(idempotency_key)
    cheque, t = _trajectory_of(account, cheque_id, centre_id)
    if idempotency_key in cheque.session_keys:
        return cheque
    try:
        phase = Phase(phase)
    except ValueError:
        raise InvalidArgument(f"phase {phase!r} is not one of {', '.join(PHASES)}") from None
    if isinstance(hours, bool) or not isinstance(hours, int) or hours < 0:
        raise InvalidArgument(f"hours must be an integer >= 0, got {hours!r}")
    if t.next_phase is None:
        raise RuleViolation(f"the trajectory on cheque {cheque_id} has ended with its POP")
    if phase is not t.next_phase:
        raise RuleViolation(f"the next step of the trajectory on cheque {cheque_id} is {t.next_phase}, not {phase} "
                            f"(order: {' -> '.join(PHASES)})")
    earliest = t.steps[-1].on if t.steps else max(t.redeemed_on, cheque.purchase_date)
    if step_date < earliest:
        raise InvalidArgument(f"step date {step_date} is before the previous step or redemption ({earliest})")
    if phase is Phase.INTAKE and cheque.status_on(step_date) is ChequeStatus.EXPIRED:
        raise RuleViolation(f"career cheque {cheque_id} expired: guidance had to start by {cheque.start_deadline} "
                            f"(intake on {step_date} is too late)")
    if hours > cheque.hours_remaining:
        raise RuleViolation(f"{hours} h recorded but only {cheque.hours_remaining} h remain on cheque {cheque_id}")
    measured: Outcomes | None = None
    if phase in MEASURED_PHASES:
        policy = policies.in_force(step_date) if phase is Phase.INTAKE else policies.by_id(t.intake.policy_version_id)
        measured = Outcomes(policy_version_id=policy.id, measured_on=step_date,
                            scores=validate_scores(policy, scores or {}, f"{phase.lower()} scores"))
        if phase is Phase.EVALUATION and (reorientation is None or sustainable_job_match is None):
            raise InvalidArgument("evaluation needs reorientation (yes/no) and sustainable_job_match (yes/no)")
    elif scores:
        raise InvalidArgument(f"outcome scores are recorded at INTAKE and EVALUATION, not at {phase}")
    if phase is not Phase.EVALUATION and (reorientation is not None or sustainable_job_match is not None):
        raise InvalidArgument("reorientation and sustainable_job_match are recorded at EVALUATION")
    if pop_offer_ids and phase is not Phase.POP:
        raise InvalidArgument(f"the trainings of the development plan are recorded at the POP step, not at {phase}")
    if pop_offer_ids:
        validated_trainings(pop_offer_ids)   # before anything changes

    if phase is Phase.INTAKE:
        cheque = start_guidance(account, cheque, idempotency_key, step_date, now)
    if hours:
        cheque = deliver_hours(account, cheque, idempotency_key, step_date, hours, now)
    t = replace(t, steps=t.steps + (Step(phase=phase, on=step_date, hours=hours),))
    if phase is Phase.INTAKE:
        t = replace(t, intake=measured)
    elif phase is Phase.EVALUATION:
        t = replace(t, evaluation=measured, reorientation=reorientation, sustainable_job_match=sustainable_job_match)
    cheque = replace(cheque, trajectory=t, session_keys=cheque.session_keys + (idempotency_key,))
    account.version += 1
    account.raise_event(CareerTrajectoryStepRecorded(
        **account.event_fields(idempotency_key, CareerTrajectoryStepRecorded, now),
        cheque_id=cheque_id, centre_id=centre_id, phase=phase.value, step_date=step_date, hours=hours,
        hours_used_total=cheque.hours_used))
    if measured is not None:
        account.raise_event(CareerOutcomesRecorded(
            **account.event_fields(idempotency_key, CareerOutcomesRecorded, now),
            cheque_id=cheque_id, centre_id=centre_id, moment=phase.value, measured_on=step_date,
            policy_version_id=measured.policy_version_id, scores=measured.scores,
            reorientation=bool(reorientation), sustainable_job_match=bool(sustainable_job_match)))
    if phase is Phase.POP:
        cheque = close_after_pop(account, cheque, idempotency_key, step_date, now)
        if pop_offer_ids:
            record_development_plan(account, offer_ids=list(pop_offer_ids), recorded_on=step_date,
                                    idempotency_key=idempotency_key, now=now)
    account.career_cheques[cheque_id] = cheque
    return cheque


def cash_career_cheque(account: Account, *, cheque_id: str, centre_id: str, idempotency_key: str,
                       cashed_on: date, now: datetime):
    """The centre cashes the cheque after delivering the POP (once)."""
    require_key(idempotency_key)
    cheque, t = _trajectory_of(account, cheque_id, centre_id)
    if t.cashed_on is not None:
        if t.cash_key == idempotency_key:
            return cheque
        raise RuleViolation(f"career cheque {cheque_id} was already cashed on {t.cashed_on}")
    if not t.pop_delivered:
        raise RuleViolation(f"career cheque {cheque_id} can be cashed only after the POP is delivered "
                            f"(next step: {t.next_phase})")
    pop_on = t.steps[-1].on
    if cashed_on < pop_on:
        raise InvalidArgument(f"cashed_on {cashed_on} is before the POP ({pop_on})")
    cheque = replace(cheque, trajectory=replace(t, cashed_on=cashed_on, cash_key=idempotency_key))
    account.career_cheques[cheque_id] = cheque
    account.version += 1
    account.raise_event(CareerChequeCashed(
        **account.event_fields(idempotency_key, CareerChequeCashed, now),
        cheque_id=cheque_id, centre_id=centre_id, cashed_on=cashed_on, hours_delivered=cheque.hours_used,
        policy_version_id=cheque.policy_version_id))
    return cheque
