"""The ``simulation.Platform`` port over the platform's public gRPC APIs: providers post and
declare through ``EnrolmentService`` with their own tokens, citizens' counters buy career cheques
and record guidance through ``AccountService`` with a token bound to the person they serve."""
from __future__ import annotations

import grpc

from services.common.auth import Role

from .funding import Accounts
from .plan import CHEQUE_OUTCOME, CHEQUE_SESSION_HOURS, PlannedCheque, PlannedEnrolment
from .simulation import Refused

COUNTER = "loket-vdab"


class GrpcPlatform:
    def __init__(self, api, offers: dict[str, dict[str, str]], leercoaches: list[str],
                 open_accounts: Accounts) -> None:
        from llr.accounts.v1 import accounts_service_pb2 as accounts
        from llr.enrolments.v1 import enrolments_service_pb2 as enrolments

        self.api, self.offers, self.leercoaches, self.open_accounts = api, offers, leercoaches, open_accounts
        self.pb, self.accounts_pb = enrolments, accounts
        self.enrolments = api.stub("enrolments", "enrolments_service", "EnrolmentService")
        self.accounts = api.stub("accounts", "accounts_service", "AccountService")

    def _provider(self, e: PlannedEnrolment) -> tuple:
        return self.api.auth(e.provider_id, Role.PROVIDER)

    def post(self, provider_id: str, enrolments: list[PlannedEnrolment]) -> list[str | None]:
        pb = self.pb
        self.open_accounts.wait(e.person_id for e in enrolments)
        for e in enrolments:
            if e.in_pop:  # the counter records the course in the person's POP first (training cheques)
                self.accounts.RecordDevelopmentPlan(self.accounts_pb.RecordDevelopmentPlanRequest(
                    request_id=f"demo-pop-{e.reference}", person_id=e.person_id,
                    offer_ids=[self.offers[provider_id][e.course.title]]), metadata=self._counter(e.person_id))
        rows = [pb.BulkCreateEnrolmentsRequest(
            person_id=e.person_id, offer_id=self.offers[provider_id][e.course.title],
            planned_start=e.start.isoformat(), planned_end=e.end.isoformat(),
            instrument=pb.FundingInstrument.Value(f"FUNDING_INSTRUMENT_{e.instrument}"), provider_reference=e.reference,
            leercoach_id=(self.leercoaches[e.leercoach % len(self.leercoaches)]
                          if e.leercoach is not None and self.leercoaches else ""))
            for e in enrolments]
        reply = self.enrolments.BulkCreateEnrolments(iter(rows), metadata=self.api.auth(provider_id, Role.PROVIDER))
        ids: list[str | None] = [None] * len(rows)
        for result in reply.results:
            if not result.error_code:
                ids[result.row] = result.enrolment_id
        return ids

    def status(self, e: PlannedEnrolment, enrolment_id: str) -> tuple[str, str]:
        enrolment = self.enrolments.GetEnrolment(self.pb.GetEnrolmentRequest(enrolment_id=enrolment_id),
                                                 metadata=self._provider(e)).enrolment
        return self.pb.EnrolmentStatus.Name(enrolment.status).removeprefix("ENROLMENT_STATUS_"), \
            enrolment.rejection_reason

    def _declare(self, call, request, e: PlannedEnrolment) -> None:
        try:
            call(request, metadata=self._provider(e))
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            raise Refused(err.details()) from err

    def cancel(self, e: PlannedEnrolment, enrolment_id: str) -> None:
        self._declare(self.enrolments.CancelEnrolment, self.pb.CancelEnrolmentRequest(
            request_id=f"demo-{enrolment_id}-cancel", enrolment_id=enrolment_id, reason="learner changed plans"), e)

    def start(self, e: PlannedEnrolment, enrolment_id: str) -> None:
        self._declare(self.enrolments.StartEnrolment, self.pb.StartEnrolmentRequest(
            request_id=f"demo-{enrolment_id}-start", enrolment_id=enrolment_id, start_date=e.start.isoformat()), e)

    def drop_out(self, e: PlannedEnrolment, enrolment_id: str) -> None:
        self._declare(self.enrolments.DeclareDropOut, self.pb.DeclareDropOutRequest(
            request_id=f"demo-{enrolment_id}-dropout", enrolment_id=enrolment_id,
            hours_attended=e.hours_attended(), dropout_date=e.fate_on.isoformat()), e)

    def complete(self, e: PlannedEnrolment, enrolment_id: str) -> None:
        self._declare(self.enrolments.CompleteEnrolment, self.pb.CompleteEnrolmentRequest(
            request_id=f"demo-{enrolment_id}-complete", enrolment_id=enrolment_id,
            hours_attended=e.hours_attended(), outcome=self.pb.Outcome.Value(f"OUTCOME_{e.outcome}"),
            completion_date=e.end.isoformat()), e)

    def _counter(self, person_id: str) -> tuple:
        return self.api.auth(COUNTER, Role.CITIZEN_COUNTER, person_id)

    def buy_cheque(self, c: PlannedCheque) -> str:
        self.open_accounts.wait([c.person_id])
        try:
            return self.accounts.BuyCareerCheque(self.accounts_pb.BuyCareerChequeRequest(
                request_id=f"demo-cheque-{c.person_id}", person_id=c.person_id,
                purchase_date=c.bought_on.isoformat()), metadata=self._counter(c.person_id)).cheque.cheque_id
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:  # not eligible: the counter says no
                raise
            raise Refused(err.details()) from err

    def record_guidance(self, c: PlannedCheque, cheque_id: str, session: int) -> None:
        final = session == len(c.sessions) - 1
        try:
            self.accounts.RecordCareerGuidance(self.accounts_pb.RecordCareerGuidanceRequest(
                request_id=f"demo-guidance-{cheque_id}-{session + 1}", person_id=c.person_id, cheque_id=cheque_id,
                hours=CHEQUE_SESSION_HOURS, guidance_date=c.sessions[session].isoformat(), final=final,
                outcome=CHEQUE_OUTCOME if final else ""), metadata=self._counter(c.person_id))
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            raise Refused(err.details()) from err
