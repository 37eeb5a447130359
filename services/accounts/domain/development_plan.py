"""The person's personal development plan (POP, persoonlijk ontwikkelingsplan): the trainings it
lists. It matters to one rule: a training cheque funds a higher-educated person only for a training
listed in their POP (``training_cheque.yaml``, ``pop_exception``). Recording a plan replaces the
previous one; recording the same request again changes nothing."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from services.accounts.domain.common import InvalidArgument, require_key
from services.accounts.domain.events import DevelopmentPlanRecorded
from services.accounts.domain.ledger import Account, AccountIsClosed

MAX_TRAININGS = 100


@dataclass(frozen=True, kw_only=True)
class DevelopmentPlan:
    offer_ids: tuple[str, ...]  # the trainings listed (enrolments' offer ids), sorted
    recorded_on: date
    request_key: str            # the request that recorded it (a retry finds it)

    def lists(self, offer_id: str) -> bool:
        return offer_id in self.offer_ids


def lists_in_plan(account: Account, offer_id: str) -> bool:
    plan = account.development_plan
    return plan is not None and plan.lists(offer_id)


def validated_trainings(offer_ids) -> tuple[str, ...]:
    """The trainings a POP lists, sorted and without repeats; InvalidArgument when there are none,
    an empty id or more than ``MAX_TRAININGS``."""
    listed = tuple(sorted({o.strip() for o in offer_ids}))
    if not listed or "" in listed:
        raise InvalidArgument("offer_ids: a POP lists at least one training, and no empty offer id")
    if len(listed) > MAX_TRAININGS:
        raise InvalidArgument(f"offer_ids: a POP lists at most {MAX_TRAININGS} trainings")
    return listed


def record_development_plan(account: Account, *, offer_ids: list[str], recorded_on: date, idempotency_key: str,
                            now: datetime) -> DevelopmentPlan:
    """Record the person's POP (replacing the previous one) and raise ``DevelopmentPlanRecorded``."""
    require_key(idempotency_key)
    plan = account.development_plan
    if plan is not None and plan.request_key == idempotency_key:
        return plan
    listed = validated_trainings(offer_ids)
    if account.closed_on is not None:
        raise AccountIsClosed(f"account {account.account_id} is closed since {account.closed_on}")
    plan = DevelopmentPlan(offer_ids=listed, recorded_on=recorded_on, request_key=idempotency_key)
    account.development_plan = plan
    account.version += 1
    account.raise_event(DevelopmentPlanRecorded(
        **account.event_fields(idempotency_key, DevelopmentPlanRecorded, now),
        offer_ids=listed, recorded_on=recorded_on))
    return plan
