"""The AccountService servicer: requests in, use cases called, responses out; nothing else."""
from __future__ import annotations

from llr.accounts.v1 import accounts_service_pb2 as pb
from llr.accounts.v1 import accounts_service_pb2_grpc as rpc

from services.common.auth import current_principal
from services.common.errors import InvalidArgument, quote
from services.common.paging import PageTokens

from .. import domain as d
from ..service.handlers import AccountsService, translate_errors

DEFAULT_PAGE, MAX_PAGE = 50, 500
ENTRY_PAGES = PageTokens("ListEntries")   # an offset into the ledger (append-only), per person


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


def account_pb(a: d.Account) -> pb.Account:
    return pb.Account(
        account_id=a.account_id, person_id=a.person_id, opened_on=a.opened_at.date().isoformat(),
        closed_on=_iso(a.closed_on), wallets=[wallet_pb(w) for w in a.wallets()],
        holds=[pb.Hold(reservation_id=h.hold_id, wallet=h.wallet.key, amount=h.amount, captured=h.captured,
                       released=h.released, enrolment_id=h.enrolment_id or "", status=h.status.value,
                       capture_point=h.capture_point.value if h.capture_point else "") for h in a.holds.values()],
        career_cheques=[cheque_pb(c) for c in a.career_cheques.values()])


class AccountServicer(rpc.AccountServiceServicer):
    def __init__(self, service: AccountsService) -> None:
        self.s = service

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


def registration(service: AccountsService):
    return (rpc.add_AccountServiceServicer_to_server, AccountServicer(service),
            pb.DESCRIPTOR.services_by_name["AccountService"].full_name)
