"""Use cases of career guidance at accredited career centres (``domain/guidance.py``).

Who may do what (the centre is the token's organisation, a ``CAREER_CENTRE`` token):

| use case | who |
|---|---|
| accredit a centre | the regisseur |
| redeem a cheque at a centre | the person's counter (or the regisseur); the centre must be accredited |
| record a step, cash the cheque | the centre the cheque was redeemed at, while it is accredited |
| read a trajectory | that centre, the person's counter, the regisseur; another centre gets NOT_FOUND |
| list a centre's trajectories | that centre (its own only), the regisseur (any centre) |
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from services.common import errors as common
from services.common.auth import Principal, Role
from services.common.clock import Clock
from services.common.errors import quote

from ..adapters.repository import AccountRepository, LoadedAccount
from ..domain import guidance as g
from ..domain.career_cheques import CareerCheque
from .handlers import AccountsService, translate_errors


@dataclass(frozen=True)
class TrajectoryView:
    person_id: str
    cheque: CareerCheque

    @property
    def trajectory(self) -> g.Trajectory:
        return self.cheque.trajectory


class CareerGuidance:
    def __init__(self, repo: AccountRepository, clock: Clock, accounts: AccountsService,
                 policies: g.OutcomePolicies | None = None) -> None:
        self.repo = repo
        self.clock = clock
        self.accounts = accounts
        self.policies = policies or g.default_outcome_policies()

    # -- the regisseur ------------------------------------------------------------------------------
    def accredit(self, principal: Principal, *, request_id: str, centre_id: str, name: str) -> g.CareerCentre:
        principal.require(Role.REGISSEUR)
        self.accounts._key(request_id)
        now = self.clock.now()
        centre, events = translate_errors(g.accredit_career_centre)(
            centre_id=centre_id, name=name, accredited_on=now.date(), accredited_by=principal.subject, now=now)
        stored = self.repo.accredit_centre(centre, events)
        if stored.name != centre.name:
            raise common.AlreadyExists(f"career centre {quote(centre_id)} is already accredited "
                                       f"(as {quote(stored.name)})")
        return stored

    def _accredited(self, centre_id: str) -> g.CareerCentre:
        centre = self.repo.career_centre(centre_id) if centre_id else None
        if centre is None:
            raise common.FailedPrecondition(f"career centre {quote(centre_id)} is not accredited by the regisseur")
        return centre

    def _acting_centre(self, principal: Principal) -> str:
        principal.require(Role.CAREER_CENTRE)
        return self._accredited(principal.organisation_id).centre_id

    # -- the person's counter ---------------------------------------------------------------------
    def redeem(self, principal: Principal, *, request_id: str, person_id: str, cheque_id: str, centre_id: str,
               redeemed_on: str) -> TrajectoryView:
        self.accounts.authorize(principal, person_id)
        key, day = self.accounts._key(request_id), self.accounts._recorded(redeemed_on, "redeemed_on")
        if not centre_id:
            raise common.InvalidArgument("centre_id", "is required: the career centre the person chose")
        self._accredited(centre_id)
        listing = self.repo.list_redemption(centre_id, person_id, cheque_id)
        return self._change(person_id, lambda a: g.redeem_career_cheque(
            a.account, cheque_id=cheque_id, centre_id=centre_id, idempotency_key=key, redeemed_on=day,
            now=self.clock.now(), listing=listing))

    # -- the career centre ------------------------------------------------------------------------
    def record_step(self, principal: Principal, *, request_id: str, person_id: str, cheque_id: str, phase: str,
                    step_date: str, hours: int, scores: Mapping[str, int], reorientation: bool | None,
                    sustainable_job_match: bool | None, pop_offer_ids: Sequence[str] = ()) -> TrajectoryView:
        centre_id = self._acting_centre(principal)
        key, day = self.accounts._key(request_id), self.accounts._recorded(step_date, "step_date")
        return self._change(person_id, lambda a: g.record_trajectory_step(
            a.account, cheque_id=cheque_id, centre_id=centre_id, phase=phase, idempotency_key=key, step_date=day,
            hours=hours, now=self.clock.now(), policies=self.policies, scores=scores, reorientation=reorientation,
            sustainable_job_match=sustainable_job_match, pop_offer_ids=pop_offer_ids))

    def cash(self, principal: Principal, *, request_id: str, person_id: str, cheque_id: str,
             cashed_on: str) -> TrajectoryView:
        centre_id = self._acting_centre(principal)
        key, day = self.accounts._key(request_id), self.accounts._recorded(cashed_on, "cashed_on")
        return self._change(person_id, lambda a: g.cash_career_cheque(
            a.account, cheque_id=cheque_id, centre_id=centre_id, idempotency_key=key, cashed_on=day,
            now=self.clock.now()))

    # -- reads --------------------------------------------------------------------------------------
    def trajectory(self, principal: Principal, *, person_id: str, cheque_id: str) -> TrajectoryView:
        if not person_id or not cheque_id:
            raise common.InvalidArgument("person_id" if not person_id else "cheque_id", "is required")
        centre_id = principal.organisation_id if principal.role is Role.CAREER_CENTRE else None
        if centre_id is None:
            self.accounts.authorize(principal, person_id)
        loaded = self.repo.get(person_id)
        cheque = loaded.account.career_cheques.get(cheque_id) if loaded else None
        t = cheque.trajectory if cheque else None
        if t is None or (centre_id is not None and t.centre_id != centre_id):
            # a centre learns nothing of other centres' cheques, nor whether the person exists
            who = f"career centre {quote(centre_id)}" if centre_id else f"person {quote(person_id)}"
            raise common.NotFound(f"{who} has no career-guidance trajectory on cheque {quote(cheque_id)}")
        return TrajectoryView(person_id, cheque)

    def trajectories(self, principal: Principal, *, centre_id: str, after: int, limit: int
                     ) -> tuple[list[TrajectoryView], int | None]:
        """The trajectories of cheques redeemed at ``centre_id``, in the order they were redeemed,
        from list entry ``after`` on: a page of at most ``limit`` and the entry to continue after
        (None at the end). A centre lists its own (``centre_id`` empty or its id); the regisseur
        names the centre. The page may hold fewer than ``limit``: entries of a redemption that was
        refused or retried name no trajectory and are skipped."""
        if principal.role is Role.CAREER_CENTRE:
            own = principal.organisation_id
            if centre_id and centre_id != own:
                raise common.PermissionDenied(f"career centre {quote(own)} lists only its own trajectories, "
                                              f"not those of {quote(centre_id)}")
            centre_id = own
        else:
            principal.require(Role.REGISSEUR)
            if not centre_id:
                raise common.InvalidArgument("centre_id", "is required: the career centre whose trajectories to list")
        entries = self.repo.centre_list(centre_id, after, limit)
        views = []
        for seq, person_id, cheque_id in entries:
            loaded = self.repo.get(person_id)
            cheque = loaded.account.career_cheques.get(cheque_id) if loaded else None
            t = cheque.trajectory if cheque else None
            if t is not None and t.centre_id == centre_id and t.listing == seq:
                views.append(TrajectoryView(person_id, cheque))
        return views, (entries[-1][0] if len(entries) == limit else None)

    def _change(self, person_id: str, change: Callable[[LoadedAccount], CareerCheque]) -> TrajectoryView:
        return TrajectoryView(person_id, self.accounts._mutate_person(person_id, change))

