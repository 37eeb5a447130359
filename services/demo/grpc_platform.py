"""The ``simulation.Platform`` port over the platform's public gRPC APIs: providers post and
declare through ``EnrolmentService`` with their own tokens, citizens' counters buy career cheques
through ``AccountService`` with a token bound to the person they serve and redeem them at a career
centre, which records the trajectory (intake and analysis at the first session; action plan,
evaluation and POP at the last, with the outcome measures) and cashes the cheque."""
from __future__ import annotations

import grpc

from services.common.auth import Role

from .catalogue import CAREER_CENTRES
from .funding import Accounts
from .plan import CHEQUE_SESSION_HOURS, OUTCOME_DIMENSIONS, PlannedCheque, PlannedEnrolment
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
        """The first session: the person redeems the cheque at the centre, which records the intake
        (with its measures) and the analysis; the last: action plan, evaluation and POP, then the
        centre cashes the cheque. The two sessions of CHEQUE_SESSION_HOURS use the cheque's hours."""
        pb, day = self.accounts_pb, c.sessions[session].isoformat()
        centre = self.api.auth(c.centre_id, Role.CAREER_CENTRE)
        o = c.outcome

        def step(phase: str, hours: int = 0, scores: tuple[int, ...] = (), **evaluation) -> None:
            self.accounts.RecordTrajectoryStep(pb.RecordTrajectoryStepRequest(
                request_id=f"demo-guidance-{cheque_id}-{phase}", person_id=c.person_id, cheque_id=cheque_id,
                phase=phase, step_date=day, hours=hours,
                scores=[pb.Score(dimension=dim, score=s) for dim, s in zip(OUTCOME_DIMENSIONS, scores)],
                **evaluation), metadata=centre)
        try:
            if session == 0:
                self.accounts.RedeemCareerCheque(pb.RedeemCareerChequeRequest(
                    request_id=f"demo-redeem-{cheque_id}", person_id=c.person_id, cheque_id=cheque_id,
                    centre_id=c.centre_id, redeemed_on=day), metadata=self._counter(c.person_id))
                step("INTAKE", CHEQUE_SESSION_HOURS, o.intake)
                step("ANALYSIS")
            elif session == len(c.sessions) - 1:
                step("ACTION_PLAN")
                step("EVALUATION", CHEQUE_SESSION_HOURS, o.evaluation, reorientation=o.reoriented,
                     sustainable_job_match=o.job_match)
                step("POP")
                self.accounts.CashCareerCheque(pb.CashCareerChequeRequest(
                    request_id=f"demo-cash-{cheque_id}", person_id=c.person_id, cheque_id=cheque_id, cashed_on=day),
                    metadata=centre)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            raise Refused(err.details()) from err


def accredit_career_centres(api) -> None:
    """The regisseur accredits the demo's career centres (again: nothing changes)."""
    from llr.accounts.v1 import accounts_service_pb2 as pb

    stub = api.stub("accounts", "accounts_service", "AccountService")
    for centre_id, name in CAREER_CENTRES:
        stub.AccreditCareerCentre(pb.AccreditCareerCentreRequest(
            request_id=f"demo-accredit-{centre_id}", centre_id=centre_id, name=name),
            metadata=api.auth("vdab", Role.REGISSEUR))
