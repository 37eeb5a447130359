"""Career guidance at accredited career centres, on the real Kafka and FerretDB, through the
public gRPC API: accreditation, redemption, the trajectory's steps and their events in order,
outcome measures, cashing, the 3-month start rule, and who sees what."""
from __future__ import annotations

from datetime import datetime, timedelta

import grpc
import pytest

from llr.accounts.v1 import accounts_service_pb2 as api
from llr.accounts.v1 import accounts_service_pb2_grpc as api_grpc
from services.common.auth import Role
from services.common.grpc_server import bearer

from .conftest import START, person_registered

INTAKE = {"MEANING": 2, "AUTONOMY": 3, "COMPETENCE": 3, "CONNECTION": 2, "SAFETY": 4, "BALANCE": 1}
EVALUATION = {"MEANING": 4, "AUTONOMY": 3, "COMPETENCE": 4, "CONNECTION": 3, "SAFETY": 4, "BALANCE": 3}


def scores(values: dict[str, int]) -> list[api.Score]:
    return [api.Score(dimension=k, score=v) for k, v in values.items()]


class Guidance:
    """The users of one test: the regisseur, the person's counter and two career centres."""

    def __init__(self, h, token_for, person_id: str):
        self.h, self.person_id = h, person_id
        self.stub = api_grpc.AccountServiceStub(h.channel)
        self.regisseur = bearer(token_for("vdab", Role.REGISSEUR))
        self.counter = bearer(token_for("loket", Role.CITIZEN_COUNTER, person_id=person_id))
        self.centre = {c: bearer(token_for(c, Role.CAREER_CENTRE)) for c in ("lc-gent", "lc-brugge", "lc-nowhere")}
        h.send("population", person_registered(person_id), person_id, event_id=f"reg-{person_id}")
        h.wait_for(lambda seen: any(type(p).__name__ == "AccountOpened" and p.person_id == person_id
                                    for _, p in seen))
        for centre, name in (("lc-gent", "Loopbaancentrum Gent"), ("lc-brugge", "Loopbaanpunt Brugge")):
            self.stub.AccreditCareerCentre(api.AccreditCareerCentreRequest(
                request_id=f"acc-{centre}", centre_id=centre, name=name), metadata=self.regisseur)

    def buy(self) -> api.CareerCheque:
        return self.stub.BuyCareerCheque(api.BuyCareerChequeRequest(
            request_id=f"buy-{self.person_id}", person_id=self.person_id), metadata=self.counter).cheque

    def redeem(self, cheque_id: str, centre: str = "lc-gent", request_id: str = "redeem-1"):
        return self.stub.RedeemCareerCheque(api.RedeemCareerChequeRequest(
            request_id=request_id, person_id=self.person_id, cheque_id=cheque_id, centre_id=centre),
            metadata=self.counter).trajectory

    def step(self, cheque_id: str, phase: str, hours: int = 1, centre: str = "lc-gent", request_id: str = "",
             **kw):
        return self.stub.RecordTrajectoryStep(api.RecordTrajectoryStepRequest(
            request_id=request_id or f"{phase}-{cheque_id}", person_id=self.person_id, cheque_id=cheque_id,
            phase=phase, hours=hours, **kw), metadata=self.centre[centre]).trajectory

    def refused(self, call, *args, **kw) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as err:
            call(*args, **kw)
        return err.value


def test_a_full_trajectory_at_an_accredited_centre_emits_every_step_in_order(accounts, token_for):
    h = accounts
    g = Guidance(h, token_for, "p-traject")
    cheque = g.buy()
    t = g.redeem(cheque.cheque_id)
    assert (t.centre_id, t.next_phase, t.cheque.status) == ("lc-gent", "INTAKE", "BOUGHT")
    g.step(cheque.cheque_id, "INTAKE", scores=scores(INTAKE))
    g.step(cheque.cheque_id, "INTAKE", scores=scores(INTAKE))  # a retry: the first answer, nothing new
    for phase in ("ANALYSIS", "ACTION_PLAN"):
        h.clock.advance(timedelta(days=7))
        g.step(cheque.cheque_id, phase)
    h.clock.advance(timedelta(days=7))
    g.step(cheque.cheque_id, "EVALUATION", scores=scores(EVALUATION), reorientation=True,
           sustainable_job_match=True)
    t = g.step(cheque.cheque_id, "POP", hours=0)
    assert [s.phase for s in t.steps] == ["INTAKE", "ANALYSIS", "ACTION_PLAN", "EVALUATION", "POP"]
    assert (t.next_phase, t.cheque.status, t.cheque.hours_used) == ("", "COMPLETED", 4)
    assert {s.dimension: s.score for s in t.evaluation_scores} == EVALUATION
    assert t.reorientation and t.sustainable_job_match
    cash = api.CashCareerChequeRequest(request_id="cash-1", person_id=g.person_id, cheque_id=cheque.cheque_id)
    t = g.stub.CashCareerCheque(cash, metadata=g.centre["lc-gent"]).trajectory
    assert t.cashed_on == h.clock.now().date().isoformat()
    g.stub.CashCareerCheque(cash, metadata=g.centre["lc-gent"])  # a retry

    wanted = ["CareerChequeBought", "CareerChequeRedeemed", "CareerGuidanceStarted", "CareerTrajectoryStepRecorded",
              "CareerOutcomesRecorded", "CareerTrajectoryStepRecorded", "CareerTrajectoryStepRecorded",
              "CareerTrajectoryStepRecorded", "CareerOutcomesRecorded", "CareerTrajectoryStepRecorded",
              "CareerChequeCompleted", "CareerChequeCashed"]
    seen = h.wait_for(lambda seen: any(type(p).__name__ == "CareerChequeCashed" for _, p in seen))
    mine = [p for _, p in seen if getattr(p, "person_id", "") == g.person_id and type(p).__name__ in wanted]
    assert [type(p).__name__ for p in mine] == wanted
    steps = [p.phase for p in mine if type(p).__name__ == "CareerTrajectoryStepRecorded"]
    assert steps == ["INTAKE", "ANALYSIS", "ACTION_PLAN", "EVALUATION", "POP"]
    intake, evaluation = [p for p in mine if type(p).__name__ == "CareerOutcomesRecorded"]
    assert {s.dimension: s.score for s in intake.scores} == INTAKE and intake.moment == "INTAKE"
    assert evaluation.reorientation and evaluation.sustainable_job_match and evaluation.centre_id == "lc-gent"
    centres = [p for _, p in seen if type(p).__name__ == "CareerCentreAccredited"]
    assert {c.centre_id for c in centres} == {"lc-gent", "lc-brugge"}
    # the ledger: contribution spent at intake, four hours captured; the counter reads it all
    account = g.stub.GetAccount(api.GetAccountRequest(person_id=g.person_id), metadata=g.counter).account
    hours = next(w for w in account.wallets if w.wallet == "CAREER_CHEQUE")
    assert (hours.balance, hours.held) == (0, 0)
    read = g.stub.GetCareerTrajectory(api.GetCareerTrajectoryRequest(person_id=g.person_id,
                                                                      cheque_id=cheque.cheque_id), metadata=g.counter)
    assert read.trajectory.cashed_on == t.cashed_on


def test_an_unaccredited_centre_is_refused(accounts, token_for):
    g = Guidance(accounts, token_for, "p-unaccredited")
    cheque = g.buy()
    err = g.refused(g.redeem, cheque.cheque_id, centre="lc-nowhere")
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "lc-nowhere" in err.details()
    assert "not accredited" in err.details()
    g.redeem(cheque.cheque_id)
    err = g.refused(g.step, cheque.cheque_id, "INTAKE", centre="lc-nowhere", scores=scores(INTAKE))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "not accredited" in err.details()
    # only the regisseur accredits; a provider token is not a career centre
    err = g.refused(g.stub.AccreditCareerCentre, api.AccreditCareerCentreRequest(
        request_id="self", centre_id="lc-nowhere", name="Self-made"), metadata=g.centre["lc-nowhere"])
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    err = g.refused(g.stub.RecordTrajectoryStep, api.RecordTrajectoryStepRequest(
        request_id="x", person_id=g.person_id, cheque_id=cheque.cheque_id, phase="INTAKE"),
        metadata=bearer(token_for("prov-1", Role.PROVIDER)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_centre_cannot_see_or_touch_another_centres_trajectory(accounts, token_for):
    g = Guidance(accounts, token_for, "p-private")
    cheque = g.buy()
    g.redeem(cheque.cheque_id, centre="lc-gent")
    g.step(cheque.cheque_id, "INTAKE", scores=scores(INTAKE))
    read = api.GetCareerTrajectoryRequest(person_id=g.person_id, cheque_id=cheque.cheque_id)
    assert g.stub.GetCareerTrajectory(read, metadata=g.centre["lc-gent"]).trajectory.centre_id == "lc-gent"
    for call in (lambda: g.stub.GetCareerTrajectory(read, metadata=g.centre["lc-brugge"]),
                 lambda: g.step(cheque.cheque_id, "ANALYSIS", centre="lc-brugge")):
        err = g.refused(call)
        assert err.code() == grpc.StatusCode.NOT_FOUND and "lc-brugge" in err.details()
    # nor can it tell an unknown person from someone else's cheque
    err = g.refused(g.stub.GetCareerTrajectory, api.GetCareerTrajectoryRequest(person_id="nobody", cheque_id="x"),
                    metadata=g.centre["lc-brugge"])
    assert err.code() == grpc.StatusCode.NOT_FOUND
    # the counter of another person sees nothing either
    other = bearer(token_for("loket", Role.CITIZEN_COUNTER, person_id="p-else"))
    assert g.refused(g.stub.GetCareerTrajectory, read, metadata=other).code() == grpc.StatusCode.PERMISSION_DENIED
    # Lists: each centre its own; another centre's list is refused.
    def listed(centre: str, metadata) -> list[tuple[str, str]]:
        reply = g.stub.ListCareerTrajectories(api.ListCareerTrajectoriesRequest(centre_id=centre, page_size=500),
                                              metadata=metadata)
        return [(t.person_id, t.cheque.cheque_id) for t in reply.trajectories]
    assert (g.person_id, cheque.cheque_id) in listed("", g.centre["lc-gent"])
    assert (g.person_id, cheque.cheque_id) not in listed("", g.centre["lc-brugge"])
    err = g.refused(g.stub.ListCareerTrajectories, api.ListCareerTrajectoriesRequest(centre_id="lc-gent"),
                    metadata=g.centre["lc-brugge"])
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "lc-gent" in err.details()


def test_the_3_month_start_rule_still_holds_and_the_contribution_is_refunded(accounts, token_for):
    h = accounts
    g = Guidance(h, token_for, "p-late")
    cheque = g.buy()
    assert cheque.start_deadline == (START.date().replace(month=6)).isoformat()
    g.redeem(cheque.cheque_id)
    h.clock.advance(timedelta(days=93))  # 2025-06-04: past the deadline 2025-06-03
    err = g.refused(g.step, cheque.cheque_id, "INTAKE", scores=scores(INTAKE))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "had to start by 2025-06-03" in err.details()
    h.service.expire_cheques()  # (the periodic job may have run it already)
    seen = h.wait_for(lambda seen: any(type(p).__name__ == "CareerChequeExpired" and p.person_id == g.person_id
                                       for _, p in seen))
    expired = next(p for _, p in seen if type(p).__name__ == "CareerChequeExpired" and p.person_id == g.person_id)
    assert expired.refunded_cents == cheque.own_contribution_cents > 0


def test_outcome_measures_are_validated_with_clear_errors(accounts, token_for):
    g = Guidance(accounts, token_for, "p-measures")
    cheque = g.buy()
    g.redeem(cheque.cheque_id)
    cases = [
        ({**INTAKE, "SAFETY": 9}, "SAFETY is 9, must be an integer from 1 to 5"),
        ({k: v for k, v in INTAKE.items() if k != "MEANING"}, "missing dimension(s) MEANING"),
        ({**INTAKE, "HAPPINESS": 3}, "unknown dimension(s) HAPPINESS"),
    ]
    for values, problem in cases:
        err = g.refused(g.step, cheque.cheque_id, "INTAKE", scores=scores(values), request_id=problem)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and problem in err.details()
    twice = scores(INTAKE) + [api.Score(dimension="MEANING", score=1)]
    err = g.refused(g.step, cheque.cheque_id, "INTAKE", scores=twice, request_id="twice")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "MEANING" in err.details()
    err = g.refused(g.step, cheque.cheque_id, "ANALYSIS")
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "is INTAKE, not ANALYSIS" in err.details()
    t = g.step(cheque.cheque_id, "INTAKE", scores=scores(INTAKE))  # nothing half-written before
    assert [s.phase for s in t.steps] == ["INTAKE"] and t.outcome_policy_version_id == "work-happiness-1"


def test_the_demos_trajectory_runs_over_the_public_api(accounts, token_for):
    """What ``make run`` does for each planned cheque: the counter buys it, the person redeems it at
    a demo career centre, the centre records the steps with the planned outcomes and cashes it."""
    from services.demo.catalogue import CAREER_CENTRES
    from services.demo.funding import Accounts
    from services.demo.grpc_platform import GrpcPlatform, accredit_career_centres
    from services.demo.plan import PlannedCheque, PlannedOutcome

    h = accounts

    class Api:  # the demo's view of the platform (services/demo/api.py), on this service's channel
        def stub(self, service, module, name):
            return api_grpc.AccountServiceStub(h.channel)

        def auth(self, organisation_id, role, person_id=""):
            return bearer(token_for(organisation_id, role, person_id=person_id))

    Guidance(h, token_for, "p-demo")  # opens the account
    accredit_career_centres(Api())
    today = h.clock.now().date()
    outcome = PlannedOutcome((2, 3, 3, 2, 4, 1), (3, 3, 4, 3, 5, 2), reoriented=False, job_match=True)
    planned = PlannedCheque("p-demo", today, (today + timedelta(days=10), today + timedelta(days=30)),
                            CAREER_CENTRES[0][0], outcome)
    platform = GrpcPlatform(Api(), {}, [], Accounts(Api()))
    cheque_id = platform.buy_cheque(planned)
    for session, day in enumerate(planned.sessions):
        h.clock.set(datetime.combine(day, START.timetz()))
        platform.record_guidance(planned, cheque_id, session)
    t = api_grpc.AccountServiceStub(h.channel).GetCareerTrajectory(
        api.GetCareerTrajectoryRequest(person_id="p-demo", cheque_id=cheque_id),
        metadata=bearer(token_for(CAREER_CENTRES[0][0], Role.CAREER_CENTRE))).trajectory
    assert (t.cheque.status, t.cheque.hours_used, t.cashed_on) == ("COMPLETED", 4, planned.sessions[1].isoformat())
    assert [s.step_date for s in t.steps] == [planned.sessions[0].isoformat()] * 2 + [planned.sessions[1].isoformat()] * 3
    assert tuple(s.score for s in t.evaluation_scores) == outcome.evaluation
    assert t.sustainable_job_match and not t.reorientation
