"""The AccountService servicer: requests in, use cases called, responses out; nothing else."""
from __future__ import annotations

from llr.accounts.v1 import accounts_service_pb2 as pb
from llr.accounts.v1 import accounts_service_pb2_grpc as rpc

from services.common.auth import current_principal
from services.common.errors import InvalidArgument, quote
from services.common.paging import PageTokens

from .. import domain as d
from ..service.handlers import AccountsService, translate_errors
from ..service.guidance import CareerGuidance, TrajectoryView
from ..service.openings import Application, BudgetOpenings

DEFAULT_PAGE, MAX_PAGE = 50, 500
ENTRY_PAGES = PageTokens("ListEntries")   # an offset into the ledger (append-only), per person
TRAJECTORY_PAGES = PageTokens("ListCareerTrajectories")   # the centre's list entry to continue after


def _iso(value) -> str:
    return value.isoformat() if value is not None else ""


def wallet_pb(w) -> pb.Wallet:
    return pb.Wallet(wallet=w.wallet.key, unit=w.wallet.unit.value, balance=w.balance, held=w.held,
                     available=w.available)


def entry_pb(e) -> pb.Entry:
    return pb.Entry(entry_id=e.entry_id, seq=e.seq, kind=e.kind.value, wallet=e.wallet.key, amount=e.amount,
                    occurred_at=e.occurred_at.isoformat(), explanation=e.explanation, reservation_id=e.hold_id or "",
                    policy_version_id=e.policy_version_id or "")


def cheque_pb(c) -> pb.CareerCheque:
    return pb.CareerCheque(cheque_id=c.cheque_id, purchase_date=_iso(c.purchase_date), hours=c.hours,
                           hours_used=c.hours_used, status=c.status.value, start_deadline=_iso(c.start_deadline),
                           own_contribution_cents=c.own_contribution_cents, policy_version_id=c.policy_version_id)


def plan_pb(plan: d.DevelopmentPlan | None) -> pb.DevelopmentPlan | None:
    return None if plan is None else pb.DevelopmentPlan(offer_ids=list(plan.offer_ids),
                                                        recorded_on=plan.recorded_on.isoformat())


def account_pb(a: d.Account) -> pb.Account:
    return pb.Account(
        account_id=a.account_id, person_id=a.person_id, opened_on=a.opened_at.date().isoformat(),
        closed_on=_iso(a.closed_on), wallets=[wallet_pb(w) for w in a.wallets()],
        holds=[pb.Hold(reservation_id=h.hold_id, wallet=h.wallet.key, amount=h.amount, captured=h.captured,
                       released=h.released, enrolment_id=h.enrolment_id or "", status=h.status.value,
                       capture_point=h.capture_point.value if h.capture_point else "") for h in a.holds.values()],
        career_cheques=[cheque_pb(c) for c in a.career_cheques.values()],
        development_plan=plan_pb(a.development_plan))


def opening_pb(x, now) -> pb.BudgetOpening:
    drawn = x.draw
    return pb.BudgetOpening(
        opening_id=x.opening_id, title=x.title, opens_at=x.opens_at.isoformat(), closes_at=x.closes_at.isoformat(),
        budget_cents=x.budget_cents, grant_cents=x.grant_cents, grants=x.grants, rule=x.rule.value,
        seed_commitment=x.seed_commitment, status=x.status.value, window=x.window(now).value,
        draw_from=x.draw_from.isoformat(), seed=drawn.seed if drawn else "",
        applicants=drawn.applicants if drawn else 0, granted=len(drawn.winners) if drawn else 0,
        ranking_digest=drawn.ranking_digest if drawn else "", credited=x.credited, not_credited=len(x.not_credited))


def application_pb(a: Application) -> pb.BudgetApplication:
    return pb.BudgetApplication(opening_id=a.opening_id, person_id=a.person_id, applied_at=a.applied_at,
                                status=a.status, rank=a.rank, applicants=a.applicants)


def scores_pb(outcomes) -> list[pb.Score]:
    return [pb.Score(dimension=s.dimension, score=s.score) for s in outcomes.scores] if outcomes else []


def trajectory_pb(v: TrajectoryView) -> pb.CareerTrajectory:
    t = v.trajectory
    evaluated = t.evaluation is not None
    return pb.CareerTrajectory(
        person_id=v.person_id, centre_id=t.centre_id, cheque=cheque_pb(v.cheque), redeemed_on=_iso(t.redeemed_on),
        steps=[pb.TrajectoryStep(phase=s.phase.value, step_date=_iso(s.on), hours=s.hours) for s in t.steps],
        next_phase=t.next_phase.value if t.next_phase else "",
        outcome_policy_version_id=t.intake.policy_version_id if t.intake else "",
        intake_scores=scores_pb(t.intake), evaluation_scores=scores_pb(t.evaluation),
        reorientation=t.reorientation if evaluated else None,
        sustainable_job_match=t.sustainable_job_match if evaluated else None,
        cashed_on=_iso(t.cashed_on))


class AccountServicer(rpc.AccountServiceServicer):
    def __init__(self, service: AccountsService, openings: BudgetOpenings, guidance: CareerGuidance | None) -> None:
        self.s = service
        self.openings = openings
        self.guidance = guidance

    def GetAccount(self, request, context):
        return pb.GetAccountResponse(account=account_pb(self.s.account(current_principal(), request.person_id)))

    def ListEntries(self, request, context):
        if request.page_size < 0 or request.page_size > MAX_PAGE:
            raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE}")
        start = ENTRY_PAGES.offset(request.page_token, request.person_id)
        entries = self.s.account(current_principal(), request.person_id).entries
        size = request.page_size or DEFAULT_PAGE
        page = entries[start:start + size]
        more = start + size < len(entries)
        return pb.ListEntriesResponse(entries=[entry_pb(e) for e in page],
                                      next_page_token=ENTRY_PAGES.issue_offset(start + size, request.person_id)
                                      if more else "")

    def ExplainBalance(self, request, context):
        account = self.s.account(current_principal(), request.person_id)
        try:
            wallet = d.WalletRef.parse(request.wallet) if request.wallet else d.BUDGET_WALLET
        except Exception as exc:
            raise InvalidArgument("wallet", f"unknown wallet {quote(request.wallet)}") from exc
        x = translate_errors(account.explain)(wallet)
        return pb.ExplainBalanceResponse(
            wallet=wallet.key, balance=x.balance, held=x.held, available=x.available,
            lines=[pb.ExplanationLine(entry=entry_pb(line.entry), balance_after=line.balance_after,
                                      held_after=line.held_after, available_after=line.available_after)
                   for line in x.lines])

    def BuyCareerCheque(self, request, context):
        cheque = self.s.buy_career_cheque(current_principal(), request.person_id, request.request_id,
                                          request.purchase_date)
        return pb.BuyCareerChequeResponse(cheque=cheque_pb(cheque))

    def RecordCareerGuidance(self, request, context):
        cheque = self.s.record_guidance(current_principal(), request.person_id, request.request_id, request.cheque_id,
                                        request.hours, request.guidance_date, request.final, request.outcome)
        return pb.RecordCareerGuidanceResponse(cheque=cheque_pb(cheque))

    def RecordComplexityAssessment(self, request, context):
        a = self.s.assess_complexity(current_principal(), request.person_id, request.request_id, request.complex,
                                     request.note, request.assessed_on)
        return pb.RecordComplexityAssessmentResponse(assessment_id=a.assessment_id)

    def CreditBudget(self, request, context):
        w = self.s.credit_budget(current_principal(), request.person_id, request.request_id, request.amount_cents,
                                 request.explanation)
        return pb.CreditBudgetResponse(wallet=wallet_pb(w))

    def RecordDevelopmentPlan(self, request, context):
        plan = self.s.record_development_plan(current_principal(), request.person_id, request.request_id,
                                              list(request.offer_ids))
        return pb.RecordDevelopmentPlanResponse(development_plan=plan_pb(plan))

    def ListPolicies(self, request, context):
        current_principal()
        kind = request.kind or None
        if kind and kind not in {k.value for k in d.PolicyKind}:
            raise InvalidArgument("kind", f"unknown policy kind {quote(kind)}")
        return pb.ListPoliciesResponse(policies=[
            pb.Policy(id=v.id, kind=v.kind.value, effective_from=_iso(v.effective_from),
                      effective_until=_iso(v.effective_until), source=v.source or "",
                      capture_point=v.capture_point.value if v.capture_point else "",
                      illustrative=bool(v.illustrative), unconfirmed_fields=list(v.unconfirmed_fields),
                      notes=v.notes or "")
            for v in self.s.catalog.versions(kind)])


    # -- budget openings ---------------------------------------------------------------------------
    def AnnounceBudgetOpening(self, request, context):
        x = self.openings.announce(
            current_principal(), opening_id=request.opening_id, title=request.title, opens_at=request.opens_at,
            closes_at=request.closes_at, budget_cents=request.budget_cents, grant_cents=request.grant_cents,
            rule=request.rule, seed_commitment=request.seed_commitment)
        return pb.AnnounceBudgetOpeningResponse(opening=opening_pb(x, self.s.clock.now()))

    def ApplyToBudgetOpening(self, request, context):
        a = self.openings.apply(current_principal(), request_id=request.request_id, opening_id=request.opening_id,
                                person_id=request.person_id)
        return pb.ApplyToBudgetOpeningResponse(application=application_pb(a))

    def DrawBudgetOpening(self, request, context):
        x = self.openings.draw(current_principal(), request.opening_id, request.seed)
        return pb.DrawBudgetOpeningResponse(opening=opening_pb(x, self.s.clock.now()))

    def GetBudgetOpening(self, request, context):
        current_principal()
        return pb.GetBudgetOpeningResponse(opening=opening_pb(self.openings.opening(request.opening_id),
                                                              self.s.clock.now()))

    def GetBudgetApplication(self, request, context):
        a = self.openings.application(current_principal(), request.opening_id, request.person_id)
        return pb.GetBudgetApplicationResponse(application=application_pb(a))


    # -- career guidance at accredited career centres ---------------------------------------------
    def AccreditCareerCentre(self, request, context):
        c = self.guidance.accredit(current_principal(), request_id=request.request_id, centre_id=request.centre_id,
                                   name=request.name)
        return pb.AccreditCareerCentreResponse(centre=pb.CareerCentre(
            centre_id=c.centre_id, name=c.name, accredited_on=_iso(c.accredited_on)))

    def RedeemCareerCheque(self, request, context):
        return pb.CareerTrajectoryResponse(trajectory=trajectory_pb(self.guidance.redeem(
            current_principal(), request_id=request.request_id, person_id=request.person_id,
            cheque_id=request.cheque_id, centre_id=request.centre_id, redeemed_on=request.redeemed_on)))

    def RecordTrajectoryStep(self, request, context):
        scores: dict[str, int] = {}
        for s in request.scores:
            if s.dimension in scores:
                raise InvalidArgument("scores", f"dimension {quote(s.dimension)} is given twice")
            scores[s.dimension] = s.score
        return pb.CareerTrajectoryResponse(trajectory=trajectory_pb(self.guidance.record_step(
            current_principal(), request_id=request.request_id, person_id=request.person_id,
            cheque_id=request.cheque_id, phase=request.phase, step_date=request.step_date, hours=request.hours,
            scores=scores,
            reorientation=request.reorientation if request.HasField("reorientation") else None,
            sustainable_job_match=request.sustainable_job_match if request.HasField("sustainable_job_match")
            else None, pop_offer_ids=list(request.pop_offer_ids))))

    def CashCareerCheque(self, request, context):
        return pb.CareerTrajectoryResponse(trajectory=trajectory_pb(self.guidance.cash(
            current_principal(), request_id=request.request_id, person_id=request.person_id,
            cheque_id=request.cheque_id, cashed_on=request.cashed_on)))

    def GetCareerTrajectory(self, request, context):
        return pb.CareerTrajectoryResponse(trajectory=trajectory_pb(self.guidance.trajectory(
            current_principal(), person_id=request.person_id, cheque_id=request.cheque_id)))

    def ListCareerTrajectories(self, request, context):
        if request.page_size < 0 or request.page_size > MAX_PAGE:
            raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE}")
        after = TRAJECTORY_PAGES.offset(request.page_token, request.centre_id)
        views, last = self.guidance.trajectories(current_principal(), centre_id=request.centre_id, after=after,
                                                 limit=request.page_size or DEFAULT_PAGE)
        return pb.ListCareerTrajectoriesResponse(
            trajectories=[trajectory_pb(v) for v in views],
            next_page_token=TRAJECTORY_PAGES.issue_offset(last, request.centre_id) if last is not None else "")


def registration(service: AccountsService, openings: BudgetOpenings, guidance: CareerGuidance | None = None):
    return (rpc.add_AccountServiceServicer_to_server, AccountServicer(service, openings, guidance),
            pb.DESCRIPTOR.services_by_name["AccountService"].full_name)
