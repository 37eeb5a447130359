"""Use cases of budget openings (``domain/openings.py``): announce, apply, draw and grant.

Every step is safe to repeat and to run in several processes at once: the opening is an
aggregate (commits decide races), an application is a write-once record, the results are
write-once, and each grant is a ledger credit with the idempotency key ``opening:<id>``, so a
draw that was interrupted while crediting is finished by calling it again with the same seed.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

from services.common import errors as common
from services.common.auth import Principal, Role
from services.common.clock import Clock
from services.common.dates import parse_instant
from services.common.errors import quote
from services.common.persistence import AggregateNotFound

from .. import domain as d
from ..adapters.repository import READERS, AccountRepository
from ..domain import openings as o
from ..domain.policies import PolicyKind
from .handlers import AccountsService, translate_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Application:
    opening_id: str
    person_id: str
    applied_at: str
    status: str           # APPLIED | GRANTED | NOT_GRANTED
    rank: int = 0
    applicants: int = 0


class BudgetOpenings:
    def __init__(self, repo: AccountRepository, clock: Clock, accounts: AccountsService,
                 draw_settle: timedelta = o.DRAW_SETTLE) -> None:
        self.repo = repo
        self.clock = clock
        self.accounts = accounts
        self.draw_settle = draw_settle

    @staticmethod
    def _regisseur(principal: Principal) -> None:
        if principal.role is not Role.REGISSEUR:
            raise common.PermissionDenied("only the regisseur announces and draws budget openings")

    def opening(self, opening_id: str, *, current: bool = True) -> o.BudgetOpening:
        """The opening; ``current=False``: as its newest head write shows it (one lookup), enough
        where only its terms matter, which never change."""
        if not opening_id:
            raise common.InvalidArgument("opening_id", "is required")
        opening = self.repo.opening(opening_id, current=current)
        if opening is None:
            raise common.NotFound(f"no budget opening {quote(opening_id)}")
        return opening

    @translate_errors
    def announce(self, principal: Principal, *, opening_id: str, title: str, opens_at: str, closes_at: str,
                 budget_cents: int, grant_cents: int, rule: str, seed_commitment: str) -> o.BudgetOpening:
        self._regisseur(principal)
        opening, events = o.announce(
            opening_id=opening_id, title=title, opens_at=parse_instant("opens_at", opens_at),
            closes_at=parse_instant("closes_at", closes_at), budget_cents=budget_cents, grant_cents=grant_cents,
            rule=rule, seed_commitment=seed_commitment, announced_by=principal.subject, now=self.clock.now(),
            draw_settle=self.draw_settle)
        stored = self.repo.announce(opening, events)
        if not stored.same_terms(opening):
            raise common.AlreadyExists(f"budget opening {quote(opening_id)} was announced with other terms")
        return stored

    @translate_errors
    def apply(self, principal: Principal, *, request_id: str, opening_id: str, person_id: str) -> Application:
        """Apply once for the person; a repeated application answers the first one. Four
        ``_id`` commands while the window is open: the opening, the account, the applicants'
        list and the write-once application (whose insert tells a repeat)."""
        self.accounts.authorize(principal, person_id)
        if not request_id:
            raise common.InvalidArgument("request_id", "is required")
        opening = self.opening(opening_id, current=False)
        now = self.clock.now()
        try:
            o.check_application(opening, now)
        except d.RuleViolation:
            if (first := self.repo.application(opening_id, person_id)) is not None:
                return self._application(opening, person_id, first)   # a retry after the close
            raise
        self._check_account(opening, person_id, now)
        first = self.repo.add_application(opening_id, person_id, {"applied_at": now.isoformat(),
                                                                  "request_id": request_id})
        return self._application(opening, person_id, first)

    def _check_account(self, opening: o.BudgetOpening, person_id: str, now) -> None:
        """Only a person with an open account whose budget can take the grant may apply (checked
        on the account's newest head: a hint, the draw's credit checks the cap again)."""
        loaded = self.repo.get(person_id, current=False)
        if loaded is None:
            raise common.NotFound(f"person {quote(person_id)} has no account")
        account = loaded.account
        if account.closed_on is not None:
            raise common.FailedPrecondition(f"the account of person {quote(person_id)} is closed")
        policy = self.accounts.catalog.policy_in_force(PolicyKind.TRAINING_BUDGET, now.date())
        balance = account.balance(d.BUDGET_WALLET)
        if balance + opening.grant_cents > policy.cap_cents:
            raise common.FailedPrecondition(
                f"a grant of {opening.grant_cents} cents would bring the training budget ({balance} cents) above "
                f"its cap of {policy.cap_cents} cents ({policy.id})")

    def application(self, principal: Principal, opening_id: str, person_id: str) -> Application:
        self.accounts.authorize(principal, person_id)
        opening = self.opening(opening_id)
        first = self.repo.application(opening_id, person_id)
        if first is None:
            raise common.NotFound(f"person {quote(person_id)} did not apply to budget opening {quote(opening_id)}")
        return self._application(opening, person_id, first)

    def _application(self, opening: o.BudgetOpening, person_id: str, first: Mapping[str, Any]) -> Application:
        result = self.repo.result(opening.opening_id, person_id) if opening.draw is not None else None
        if result is None:
            return Application(opening.opening_id, person_id, first["applied_at"], "APPLIED")
        return Application(opening.opening_id, person_id, first["applied_at"],
                           "GRANTED" if result["granted"] else "NOT_GRANTED", result["rank"],
                           opening.draw.applicants)

    @translate_errors
    def draw(self, principal: Principal, opening_id: str, seed: str) -> o.BudgetOpening:
        """Draw the lottery (once) and credit every winner; repeat with the same seed to finish
        a draw that was interrupted."""
        self._regisseur(principal)
        opening = self.opening(opening_id)
        o.check_seed(opening, seed)
        if opening.status is o.OpeningStatus.ANNOUNCED:
            now = self.clock.now()
            o.check_drawable(opening, seed, now)   # before reading every application
            done, ranked, events = o.draw(opening, seed=seed, applicants=self.repo.applicants(opening_id), now=now)
            self.repo.record_results(opening_id, ranked, opening.grants)
            # Another process may have drawn it meanwhile: the same ranking (the terms never change).
            opening = self.repo.change_opening(opening_id, lambda current: None if current.draw else (done, events))
            log.info("budget opening %s drawn: %d applicants, %d granted", opening_id, opening.draw.applicants,
                     len(opening.draw.winners))
        if opening.status is o.OpeningStatus.DRAWN:
            with ThreadPoolExecutor(READERS) as pool:
                done = list(pool.map(lambda person_id: self._grant(opening, person_id), opening.draw.winners))
            not_credited = [p for p, credited in zip(opening.draw.winners, done) if not credited]

            def granted(current: o.BudgetOpening):
                if current.status is not o.OpeningStatus.DRAWN:
                    return None
                return o.granted(current, not_credited, self.clock.now())
            opening = self.repo.change_opening(opening_id, granted)
        return opening

    def _grant(self, opening: o.BudgetOpening, person_id: str) -> bool:
        today = self.clock.now().date()
        explanation = (f"budget opening {opening.opening_id} ({opening.title}): granted in the lottery drawn on "
                       f"{opening.draw.drawn_at.date().isoformat()}")

        def credit(loaded):
            policy = self.accounts.catalog.policy_in_force(PolicyKind.TRAINING_BUDGET, today)
            return d.credit_budget(loaded.account, amount_cents=opening.grant_cents,
                                   idempotency_key=f"opening:{opening.opening_id}", policy=policy, on_date=today,
                                   now=self.clock.now(), explanation=explanation)
        try:
            self.repo.change(d.account_id_for(person_id), translate_errors(credit))
            return True
        except (common.FailedPrecondition, AggregateNotFound) as exc:
            log.warning("budget opening %s: grant for %s not credited: %s", opening.opening_id, person_id, exc)
            return False
