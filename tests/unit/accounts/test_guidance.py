"""Career guidance at accredited career centres: redemption, the trajectory's steps in order, the
3-month start rule, forfeit after the POP, cashing, and the outcome measures' validation."""
from datetime import date

import pytest
import yaml

from services.accounts.domain import (
    ChequeStatus,
    EntryKind,
    InvalidArgument,
    NotFound,
    RuleViolation,
    WalletKind,
    WalletRef,
    expire_career_cheques,
    record_career_guidance,
)
from services.accounts.domain import guidance as g
from services.accounts.domain.development_plan import record_development_plan
from services.accounts.domain.events import (
    CareerChequeCashed,
    CareerChequeCompleted,
    CareerChequeExpired,
    CareerChequeHoursForfeited,
    CareerChequeRedeemed,
    CareerGuidanceStarted,
    CareerOutcomesRecorded,
    CareerTrajectoryStepRecorded,
)
from tests.unit.accounts.builders import account, at
from tests.unit.accounts.test_career_cheques import buy

POLICIES = g.default_outcome_policies()
HOURS = WalletRef(WalletKind.CAREER_CHEQUE)
CONTRIBUTION = WalletRef(WalletKind.CAREER_CHEQUE_CONTRIBUTION)
BOUGHT = date(2024, 3, 1)  # career-cheque-2024: 4 h, EUR 45
INTAKE_SCORES = {"MEANING": 2, "AUTONOMY": 3, "COMPETENCE": 3, "CONNECTION": 2, "SAFETY": 4, "BALANCE": 1}
EVAL_SCORES = {"MEANING": 4, "AUTONOMY": 3, "COMPETENCE": 4, "CONNECTION": 3, "SAFETY": 4, "BALANCE": 3}


def bought(on: date = BOUGHT):
    acc = account(opened=date(2013, 1, 1))
    cheque = buy(acc, "c-1", on)
    acc.take_events()
    return acc, cheque


def redeem(acc, centre="lc-gent", on=BOUGHT, key="redeem-1", cheque_id="c-1"):
    return g.redeem_career_cheque(acc, cheque_id=cheque_id, centre_id=centre, idempotency_key=key,
                                  redeemed_on=on, now=at(on))


def step(acc, phase, on, hours=1, centre="lc-gent", key=None, **kw):
    return g.record_trajectory_step(acc, cheque_id="c-1", centre_id=centre, phase=phase,
                                    idempotency_key=key or f"step-{phase}", step_date=on, hours=hours,
                                    now=at(on), policies=POLICIES, **kw)


def full_trajectory(acc, start=date(2024, 4, 2), last_hours=1):
    step(acc, "INTAKE", start, scores=INTAKE_SCORES)
    step(acc, "ANALYSIS", date(2024, 4, 9))
    step(acc, "ACTION_PLAN", date(2024, 4, 16))
    step(acc, "EVALUATION", date(2024, 4, 23), hours=last_hours, scores=EVAL_SCORES, reorientation=True,
         sustainable_job_match=False)
    return step(acc, "POP", date(2024, 4, 30), hours=0)


def test_the_policy_names_the_six_work_happiness_dimensions_of_the_source_on_a_1_to_5_scale():
    policy = POLICIES.in_force(date(2026, 1, 1))
    assert [(d.code, d.nl) for d in policy.dimensions] == [
        ("MEANING", "Zingeving"), ("AUTONOMY", "Autonomie"), ("COMPETENCE", "Competentie"),
        ("CONNECTION", "Verbinding"), ("SAFETY", "Veiligheid"), ("BALANCE", "Balans")]
    assert (policy.scale_min, policy.scale_max) == (1, 5)
    assert policy.unconfirmed_fields == ("scale",)


def test_a_full_trajectory_runs_in_order_completes_the_cheque_and_is_cashed_once():
    acc, _ = bought()
    redeem(acc)
    cheque = full_trajectory(acc)
    assert cheque.status is ChequeStatus.COMPLETED and cheque.hours_used == 4
    t = cheque.trajectory
    assert [s.phase for s in t.steps] == list(g.PHASES) and t.pop_delivered and t.next_phase is None
    assert t.intake.mean() < t.evaluation.mean() and t.reorientation is True and t.sustainable_job_match is False
    cashed = g.cash_career_cheque(acc, cheque_id="c-1", centre_id="lc-gent", idempotency_key="cash-1",
                                  cashed_on=date(2024, 5, 2), now=at(date(2024, 5, 2)))
    assert cashed.trajectory.cashed_on == date(2024, 5, 2)
    again = g.cash_career_cheque(acc, cheque_id="c-1", centre_id="lc-gent", idempotency_key="cash-1",
                                 cashed_on=date(2024, 5, 2), now=at(date(2024, 5, 2)))
    assert again == cashed
    with pytest.raises(RuleViolation, match="already cashed"):
        g.cash_career_cheque(acc, cheque_id="c-1", centre_id="lc-gent", idempotency_key="cash-2",
                             cashed_on=date(2024, 5, 3), now=at(date(2024, 5, 3)))
    kinds = [type(e) for e in acc.take_events()]
    assert kinds == [CareerChequeRedeemed,
                     CareerGuidanceStarted, CareerTrajectoryStepRecorded, CareerOutcomesRecorded,
                     CareerTrajectoryStepRecorded, CareerTrajectoryStepRecorded,
                     CareerTrajectoryStepRecorded, CareerOutcomesRecorded,
                     CareerTrajectoryStepRecorded, CareerChequeCompleted, CareerChequeCashed]
    # the contribution was spent at intake; every hour captured from the cheque's hold
    assert acc.balance(CONTRIBUTION) == 0 and acc.balance(HOURS) == 0 and acc.held(HOURS) == 0
    acc.check_invariants()


def test_steps_out_of_order_and_a_second_intake_are_refused():
    acc, _ = bought()
    redeem(acc)
    with pytest.raises(RuleViolation, match="next step .* is INTAKE, not ANALYSIS"):
        step(acc, "ANALYSIS", date(2024, 4, 2))
    step(acc, "INTAKE", date(2024, 4, 2), scores=INTAKE_SCORES)
    with pytest.raises(RuleViolation, match="is ANALYSIS, not INTAKE"):
        step(acc, "INTAKE", date(2024, 4, 3), key="again", scores=INTAKE_SCORES)
    with pytest.raises(InvalidArgument, match="before the previous step"):
        step(acc, "ANALYSIS", date(2024, 4, 1))
    with pytest.raises(InvalidArgument, match="phase 'REFLECTION' is not one of"):
        step(acc, "REFLECTION", date(2024, 4, 3))


def test_a_repeated_request_id_changes_nothing():
    acc, _ = bought()
    redeem(acc)
    first = step(acc, "INTAKE", date(2024, 4, 2), scores=INTAKE_SCORES)
    acc.take_events()
    assert step(acc, "INTAKE", date(2024, 4, 2), scores=INTAKE_SCORES) == first
    assert redeem(acc) == acc.career_cheques["c-1"]
    assert acc.take_events() == []


def test_the_intake_after_the_3_month_start_deadline_is_refused_and_the_cheque_expires_with_a_refund():
    acc, cheque = bought()
    assert cheque.start_deadline == date(2024, 6, 1)
    redeem(acc, on=date(2024, 5, 20))
    with pytest.raises(RuleViolation, match="expired: guidance had to start by 2024-06-01"):
        step(acc, "INTAKE", date(2024, 6, 2), scores=INTAKE_SCORES)
    expired = expire_career_cheques(acc, on_date=date(2024, 6, 2), now=at(date(2024, 6, 2)))
    assert [c.status for c in expired] == [ChequeStatus.EXPIRED] and expired[0].refunded_cents == 4500
    assert [type(e) for e in acc.take_events()] == [CareerChequeRedeemed, CareerChequeExpired]
    refund = [e for e in acc.entries if e.wallet == CONTRIBUTION and e.kind is EntryKind.REFUND]
    assert [e.amount for e in refund] == [4500]


def test_an_expired_cheque_cannot_be_redeemed():
    acc, _ = bought()
    with pytest.raises(RuleViolation, match="expired"):
        redeem(acc, on=date(2024, 6, 2))


def test_the_intake_on_the_deadline_day_is_in_time():
    acc, _ = bought()
    redeem(acc)
    assert step(acc, "INTAKE", date(2024, 6, 1), scores=INTAKE_SCORES).status is ChequeStatus.STARTED


def test_a_pop_with_hours_left_forfeits_them_without_refund():
    acc, _ = bought()
    redeem(acc)
    cheque = full_trajectory(acc, last_hours=0)  # 3 of 4 hours used
    assert cheque.status is ChequeStatus.PARTIALLY_USED and cheque.hours_forfeited == 1
    events = acc.take_events()
    assert isinstance(events[-1], CareerChequeHoursForfeited) and events[-1].hours_forfeited == 1
    assert not [e for e in acc.entries if e.kind is EntryKind.REFUND]


def test_hours_beyond_the_cheque_are_refused():
    acc, _ = bought()
    redeem(acc)
    with pytest.raises(RuleViolation, match="5 h recorded but only 4 h remain"):
        step(acc, "INTAKE", date(2024, 4, 2), hours=5, scores=INTAKE_SCORES)


def test_only_the_centre_the_cheque_was_redeemed_at_records_steps_and_cashes():
    acc, _ = bought()
    redeem(acc)
    with pytest.raises(NotFound, match="career centre lc-brugge has no trajectory on cheque c-1"):
        step(acc, "INTAKE", date(2024, 4, 2), centre="lc-brugge", scores=INTAKE_SCORES)
    with pytest.raises(RuleViolation, match="already redeemed at career centre lc-gent"):
        redeem(acc, centre="lc-brugge", key="redeem-2")


def test_the_counter_can_no_longer_record_guidance_on_a_redeemed_cheque():
    acc, _ = bought()
    redeem(acc)
    with pytest.raises(RuleViolation, match="the centre records its guidance"):
        record_career_guidance(acc, cheque_id="c-1", idempotency_key="s-1", guidance_date=date(2024, 4, 2),
                               hours=1, now=at(date(2024, 4, 2)))


def test_cashing_before_the_pop_is_refused():
    acc, _ = bought()
    redeem(acc)
    step(acc, "INTAKE", date(2024, 4, 2), scores=INTAKE_SCORES)
    with pytest.raises(RuleViolation, match="only after the POP is delivered \\(next step: ANALYSIS\\)"):
        g.cash_career_cheque(acc, cheque_id="c-1", centre_id="lc-gent", idempotency_key="cash",
                             cashed_on=date(2024, 4, 3), now=at(date(2024, 4, 3)))


@pytest.mark.parametrize("scores, problem", [
    ({}, "the 6 work-happiness dimensions .* are required"),
    ({**INTAKE_SCORES, "HAPPINESS": 3}, "unknown dimension\\(s\\) HAPPINESS"),
    ({k: v for k, v in INTAKE_SCORES.items() if k != "BALANCE"}, "missing dimension\\(s\\) BALANCE"),
    ({**INTAKE_SCORES, "SAFETY": 6}, "SAFETY is 6, must be an integer from 1 to 5"),
    ({**INTAKE_SCORES, "MEANING": 0}, "MEANING is 0, must be an integer from 1 to 5"),
])
def test_outcome_scores_are_validated_with_a_clear_error(scores, problem):
    acc, _ = bought()
    redeem(acc)
    with pytest.raises(InvalidArgument, match=problem):
        step(acc, "INTAKE", date(2024, 4, 2), scores=scores)
    assert acc.career_cheques["c-1"].status is ChequeStatus.BOUGHT  # nothing half-written


def test_evaluation_needs_reorientation_and_job_match_and_other_steps_take_no_scores():
    acc, _ = bought()
    redeem(acc)
    step(acc, "INTAKE", date(2024, 4, 2), scores=INTAKE_SCORES)
    with pytest.raises(InvalidArgument, match="recorded at INTAKE and EVALUATION, not at ANALYSIS"):
        step(acc, "ANALYSIS", date(2024, 4, 3), scores=INTAKE_SCORES)
    with pytest.raises(InvalidArgument, match="recorded at EVALUATION"):
        step(acc, "ANALYSIS", date(2024, 4, 3), reorientation=True)
    step(acc, "ANALYSIS", date(2024, 4, 3))
    step(acc, "ACTION_PLAN", date(2024, 4, 4))
    with pytest.raises(InvalidArgument, match="needs reorientation .* and sustainable_job_match"):
        step(acc, "EVALUATION", date(2024, 4, 5), scores=EVAL_SCORES, reorientation=False)


def test_outcome_policy_documents_are_validated():
    raw = yaml.safe_load(g.OUTCOME_POLICY_FILE.read_text(encoding="utf-8"))
    raw["versions"][0]["scale"] = {"min": 5, "max": 1}
    with pytest.raises(InvalidArgument, match="min < max"):
        g.parse_outcome_policies(raw)
    with pytest.raises(InvalidArgument, match="kind must be CAREER_GUIDANCE_OUTCOMES"):
        g.parse_outcome_policies({"kind": "CAREER_CHEQUE"})


def test_a_centre_needs_an_id_and_a_name():
    with pytest.raises(InvalidArgument, match="centre_id is required; name is required"):
        g.accredit_career_centre(centre_id="", name=" ", accredited_on=BOUGHT, accredited_by="vdab", now=at(BOUGHT))


def test_a_trajectory_survives_the_document_codec_and_maps_to_protobuf_events():
    from services.accounts.adapters.codec import decode, encode
    from services.accounts.adapters.events import to_proto
    from services.accounts.domain import Account

    acc, _ = bought()
    redeem(acc)
    cheque = full_trajectory(acc)
    events = acc.take_events()
    restored = Account.from_state(decode(encode(acc.state())))
    assert restored.career_cheques["c-1"] == cheque
    outcomes = [to_proto(e) for e in events if isinstance(e, CareerOutcomesRecorded)]
    assert [(m.moment, [(s.dimension, s.score) for s in m.scores]) for m in outcomes] == [
        ("INTAKE", list(INTAKE_SCORES.items())), ("EVALUATION", list(EVAL_SCORES.items()))]
    assert outcomes[1].reorientation and not outcomes[1].sustainable_job_match


def test_the_pop_step_records_the_trainings_it_lists_as_the_persons_development_plan():
    acc, _ = bought()
    redeem(acc)
    with pytest.raises(InvalidArgument, match="recorded at the POP step, not at INTAKE"):
        step(acc, "INTAKE", date(2024, 4, 2), scores=INTAKE_SCORES, pop_offer_ids=["off-a"])
    step(acc, "INTAKE", date(2024, 4, 2), scores=INTAKE_SCORES)
    step(acc, "ANALYSIS", date(2024, 4, 9))
    step(acc, "ACTION_PLAN", date(2024, 4, 16))
    step(acc, "EVALUATION", date(2024, 4, 23), scores=EVAL_SCORES, reorientation=True, sustainable_job_match=False)
    acc.take_events()
    with pytest.raises(InvalidArgument, match="at least one training, and no empty offer id"):
        step(acc, "POP", date(2024, 4, 30), hours=0, pop_offer_ids=["off-a", " "])
    assert acc.development_plan is None and acc.career_cheques["c-1"].trajectory.next_phase is g.Phase.POP
    step(acc, "POP", date(2024, 4, 30), hours=0, pop_offer_ids=["off-b", "off-a"])
    plan = acc.development_plan
    assert plan.offer_ids == ("off-a", "off-b") and plan.recorded_on == date(2024, 4, 30)
    assert "DevelopmentPlanRecorded" in [type(e).__name__ for e in acc.take_events()]
    # A counter's later plan replaces it; a retry of the POP step changes nothing.
    record_development_plan(acc, offer_ids=["off-c"], recorded_on=date(2024, 5, 6), idempotency_key="pop-2",
                            now=at(date(2024, 5, 6)))
    acc.take_events()
    step(acc, "POP", date(2024, 4, 30), hours=0, pop_offer_ids=["off-b", "off-a"])
    assert acc.development_plan.offer_ids == ("off-c",) and acc.take_events() == []


def test_a_pop_without_trainings_leaves_the_plan_as_it_was():
    acc, _ = bought()
    redeem(acc)
    full_trajectory(acc)
    assert acc.development_plan is None
