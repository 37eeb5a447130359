"""The career-guidance use cases on the in-memory repository: who may accredit, redeem, record,
cash and read, and that the accreditation is published once."""
from __future__ import annotations

import pytest

from services.accounts.service.guidance import CareerGuidance
from services.common import errors as common
from services.common.auth import Principal, Role

from .test_handlers import REGISSEUR, World

COUNTER = Principal(subject="loket", organisation_id="loket", role=Role.CITIZEN_COUNTER, person_id="p-1")
SCORES = {"MEANING": 2, "AUTONOMY": 3, "COMPETENCE": 3, "CONNECTION": 2, "SAFETY": 4, "BALANCE": 1}


def centre(centre_id: str) -> Principal:
    return Principal(subject=f"career_centre:{centre_id}", organisation_id=centre_id, role=Role.CAREER_CENTRE)


@pytest.fixture
def world():
    w = World()
    w.register("p-1")
    w.guidance = CareerGuidance(w.repo, w.clock, w.service)
    w.cheque = w.service.buy_career_cheque(COUNTER, "p-1", "buy-1", "")
    return w


def test_only_the_regisseur_accredits_and_a_repeat_changes_nothing(world):
    g = world.guidance
    with pytest.raises(common.PermissionDenied):
        g.accredit(centre("lc-1"), request_id="r", centre_id="lc-1", name="Self-made")
    first = g.accredit(REGISSEUR, request_id="r1", centre_id="lc-1", name="Loopbaancentrum Gent")
    assert g.accredit(REGISSEUR, request_id="r2", centre_id="lc-1", name="Loopbaancentrum Gent") == first
    with pytest.raises(common.AlreadyExists, match="already accredited"):
        g.accredit(REGISSEUR, request_id="r3", centre_id="lc-1", name="Another name")
    accredited = [p for p in world.published() if type(p).__name__ == "CareerCentreAccredited"]
    assert [(p.centre_id, p.name) for p in accredited] == [("lc-1", "Loopbaancentrum Gent")]


def test_redeem_needs_an_accredited_centre_and_the_persons_own_counter(world):
    g = world.guidance
    with pytest.raises(common.FailedPrecondition, match="'lc-1' is not accredited"):
        g.redeem(COUNTER, request_id="x", person_id="p-1", cheque_id=world.cheque.cheque_id, centre_id="lc-1",
                 redeemed_on="")
    g.accredit(REGISSEUR, request_id="r1", centre_id="lc-1", name="Loopbaancentrum Gent")
    other = Principal(subject="loket", organisation_id="loket", role=Role.CITIZEN_COUNTER, person_id="p-2")
    with pytest.raises(common.PermissionDenied):
        g.redeem(other, request_id="x", person_id="p-1", cheque_id=world.cheque.cheque_id, centre_id="lc-1",
                 redeemed_on="")
    with pytest.raises(common.PermissionDenied):  # a centre does not redeem for the person
        g.redeem(centre("lc-1"), request_id="x", person_id="p-1", cheque_id=world.cheque.cheque_id,
                 centre_id="lc-1", redeemed_on="")
    view = g.redeem(COUNTER, request_id="x", person_id="p-1", cheque_id=world.cheque.cheque_id, centre_id="lc-1",
                    redeemed_on="")
    assert view.trajectory.centre_id == "lc-1"


def test_a_centre_records_and_reads_only_its_own_trajectories(world):
    g = world.guidance
    for c in ("lc-1", "lc-2"):
        g.accredit(REGISSEUR, request_id=c, centre_id=c, name=f"Centre {c}")
    cheque_id = world.cheque.cheque_id
    g.redeem(COUNTER, request_id="x", person_id="p-1", cheque_id=cheque_id, centre_id="lc-1", redeemed_on="")
    step = dict(person_id="p-1", cheque_id=cheque_id, phase="INTAKE", step_date="", hours=1, scores=SCORES,
                reorientation=None, sustainable_job_match=None)
    with pytest.raises(common.NotFound, match="lc-2"):
        g.record_step(centre("lc-2"), request_id="s1", **step)
    with pytest.raises(common.FailedPrecondition, match="'lc-9' is not accredited"):
        g.record_step(centre("lc-9"), request_id="s1", **step)
    with pytest.raises(common.PermissionDenied):
        g.record_step(COUNTER, request_id="s1", **step)
    assert g.record_step(centre("lc-1"), request_id="s1", **step).cheque.status == "STARTED"
    assert g.trajectory(centre("lc-1"), person_id="p-1", cheque_id=cheque_id).trajectory.intake is not None
    assert g.trajectory(COUNTER, person_id="p-1", cheque_id=cheque_id).cheque.cheque_id == cheque_id
    with pytest.raises(common.NotFound):
        g.trajectory(centre("lc-2"), person_id="p-1", cheque_id=cheque_id)
    with pytest.raises(common.InvalidArgument, match="recorded at INTAKE and EVALUATION, not at ANALYSIS"):
        g.record_step(centre("lc-1"), request_id="s2", **{**step, "phase": "ANALYSIS", "scores": {"JOY": 3}})


def test_a_centre_lists_the_trajectories_redeemed_with_it_once_each_and_only_its_own(world):
    g = world.guidance
    for c in ("lc-1", "lc-2"):
        g.accredit(REGISSEUR, request_id=c, centre_id=c, name=f"Centre {c}")
    cheque_id = world.cheque.cheque_id
    assert g.trajectories(centre("lc-1"), centre_id="", after=0, limit=50) == ([], None)
    redeem = dict(person_id="p-1", cheque_id=cheque_id, redeemed_on="")
    g.redeem(COUNTER, request_id="x", centre_id="lc-1", **redeem)
    g.redeem(COUNTER, request_id="x", centre_id="lc-1", **redeem)          # a retry: the same redemption
    with pytest.raises(common.FailedPrecondition, match="already redeemed"):
        g.redeem(COUNTER, request_id="y", centre_id="lc-2", **redeem)      # refused: nothing listed at lc-2

    views, last = g.trajectories(centre("lc-1"), centre_id="", after=0, limit=50)
    assert [(v.person_id, v.cheque.cheque_id) for v in views] == [("p-1", cheque_id)] and last is None
    assert g.trajectories(REGISSEUR, centre_id="lc-1", after=0, limit=50)[0] == views
    assert g.trajectories(centre("lc-2"), centre_id="", after=0, limit=50) == ([], None)
    # Page by page: the retry's entry names no trajectory, so the second page is empty and the last.
    first, cursor = g.trajectories(centre("lc-1"), centre_id="lc-1", after=0, limit=1)
    assert first == views and cursor == 1
    assert g.trajectories(centre("lc-1"), centre_id="lc-1", after=cursor, limit=1) == ([], 2)
    assert g.trajectories(centre("lc-1"), centre_id="lc-1", after=2, limit=1) == ([], None)

    with pytest.raises(common.PermissionDenied, match="lists only its own"):
        g.trajectories(centre("lc-2"), centre_id="lc-1", after=0, limit=50)
    with pytest.raises(common.PermissionDenied):
        g.trajectories(COUNTER, centre_id="lc-1", after=0, limit=50)
    with pytest.raises(common.InvalidArgument, match="centre_id"):
        g.trajectories(REGISSEUR, centre_id="", after=0, limit=50)
