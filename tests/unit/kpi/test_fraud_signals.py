"""Fraud signals (services/kpi/domain/signals.py) on generated data with planted fraud: every
planted case is signalled with its evidence, clean worlds of the same size raise nothing, and the
result does not depend on arrival order or redeliveries."""
from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
import yaml

from services.kpi.domain import signals as sg
from services.kpi.domain.definitions import FoldConfig
from services.kpi.domain.projection import fold_all

from .fraud_world import EXPECTED_SIGNAL_IDS, H1, H1_LABEL, clean_world, planted_world

UNBOUNDED = FoldConfig(max_lateness=timedelta(days=10**5))


def signals_of(events, book: sg.SignalBook | None = None) -> list[sg.Signal]:
    state = fold_all(events, UNBOUNDED)
    reference = date.fromisoformat(state["watermark"][:10])
    return sg.evaluate(book or sg.default_book(), state["enrolments"], reference)


@pytest.fixture(scope="module")
def planted():
    events, cases = planted_world(1)
    return events, cases, {s.signal_id: s for s in signals_of(events)}


def test_every_planted_case_and_nothing_else_is_signalled(planted):
    _, _, found = planted
    assert sorted(found) == EXPECTED_SIGNAL_IDS
    assert {s.policy_version for s in found.values()} == {"2026.1"}


def test_a_provider_declaring_everything_completed_with_inflated_hours(planted):
    _, _, found = planted
    rate = found[f"provider_completion_rate/PRVX01/{H1_LABEL}"]
    assert rate.figure("completion_rate") == "1.000"
    assert (rate.figure("completed"), rate.figure("dropped_out")) == ("60", "0")
    assert float(rate.figure("peer_median")) < 0.9 and float(rate.figure("p_value")) <= 1e-4
    assert int(rate.figure("peers")) >= 8
    hours = found[f"provider_hours_declared/PRVX01/{H1_LABEL}"]
    assert (hours.figure("hours_attended"), hours.figure("offer_hours")) == ("4320", "2400")
    assert hours.figure("hours_declared") == "1.800" and float(hours.figure("ratio_to_median")) > 1.3
    for signal in (rate, hours):
        assert signal.provider_ids == ("PRVX01",) and signal.person_ids == ()
        # 60 enrolments, at most evidence_cap (20) of their ids; the figures count all of them
        assert len(signal.enrolment_ids) == 20 and signal.truncated
        assert (signal.window_start, signal.window_end) == H1


def test_a_small_provider_with_the_same_pattern_is_not_judged(planted):
    events, _, found = planted
    assert not any("PRVX06" in s.signal_id for s in found.values())
    # it is there: 10 enrolments, all completed with 1.8 times the hours
    state = fold_all(events, UNBOUNDED)
    assert sum(r["requested"]["provider_id"] == "PRVX06" for r in state["enrolments"].values()) == 10


def test_a_provider_enrolling_the_same_learners_again_and_again(planted):
    _, _, found = planted
    signal = found[f"provider_enrolments_per_learner/PRVX02/{H1_LABEL}"]
    assert (signal.figure("enrolments"), signal.figure("learners")) == ("60", "20")
    assert signal.figure("enrolments_per_learner") == "3.000" and signal.figure("peer_median") == "1.000"


def test_a_person_enrolled_at_six_providers_at_once(planted):
    _, _, found = planted
    signal = found["concurrent_providers/PX03-0000/2025-04-04"]
    assert signal.subject == "PX03-0000" and signal.person_ids == ("PX03-0000",)
    assert signal.figure("peak_providers") == "6" and signal.figure("enrolments") == "6"
    assert signal.provider_ids == tuple(f"PRV{i:03d}" for i in range(6))
    assert len(signal.enrolment_ids) == 6 and not signal.truncated
    # courses of 30 days from 1 to 6 April: four providers run from 4 April (the policy's
    # min_providers) and still four on 3 May, when the first two courses have ended
    assert signal.window_start == date(2025, 4, 4) and signal.window_end == date(2025, 5, 3)


def test_a_burst_of_ten_enrolments_in_a_day(planted):
    _, _, found = planted
    signal = found["enrolment_burst/PX04-0000/2025-05-06"]
    assert signal.figure("enrolments") == "10" and signal.provider_ids == ("PRV001",)
    assert signal.window_start == signal.window_end == date(2025, 5, 6) and len(signal.enrolment_ids) == 10


def test_two_providers_sharing_most_learners(planted):
    _, _, found = planted
    signal = found[f"shared_learners/PRVX05A+PRVX05B/{H1_LABEL}"]
    assert signal.figure("shared_learners") == "25"
    assert (signal.figure("learners_a"), signal.figure("learners_b"), signal.figure("jaccard")) == ("30", "30", "0.714")
    assert signal.provider_ids == ("PRVX05A", "PRVX05B")
    assert signal.person_ids == tuple(f"PX05-{i:04d}" for i in range(20)) and signal.truncated


@pytest.mark.parametrize("seed", range(2, 12))
def test_clean_worlds_of_the_same_size_raise_nothing(seed):
    # 20 seeds were tried while choosing the shipped thresholds (none raised a signal); ten run here
    assert signals_of(clean_world(seed)) == []


@pytest.mark.parametrize("seed", [3, 4])
def test_planted_cases_are_found_in_other_worlds_too(seed):
    events, _ = planted_world(seed)
    rules = sorted((s.rule, s.subject) for s in signals_of(events))
    assert rules == [
        ("concurrent_providers", "PX03-0000"), ("enrolment_burst", "PX04-0000"),
        ("provider_completion_rate", "PRVX01"), ("provider_enrolments_per_learner", "PRVX02"),
        ("provider_hours_declared", "PRVX01"), ("shared_learners", "PRVX05A+PRVX05B"),
    ]


def test_arrival_order_and_redeliveries_do_not_change_a_signal(planted):
    events, _, found = planted
    rng = random.Random(5)
    shuffled = events + rng.sample(events, len(events) // 10)  # redelivered
    rng.shuffle(shuffled)
    assert {s.signal_id: s for s in signals_of(shuffled)} == found


def test_signals_are_evaluated_with_the_policy_in_force(planted):
    events, _, _ = planted
    data = yaml.safe_load(sg.POLICY_FILE.read_text())
    stricter = dict(data["policies"][0], version="2026.2", effective_from=date(2026, 1, 1),
                    enrolment_burst={"min_enrolments": 11}, concurrent_providers={"min_providers": 7})
    book = sg.parse_book({"policies": [data["policies"][0], stricter]})
    found = signals_of(events, book)  # the reference date is in 2026: 2026.2 is in force
    assert {s.policy_version for s in found} == {"2026.2"}
    assert {s.rule for s in found} == {"provider_completion_rate", "provider_hours_declared",
                                       "provider_enrolments_per_learner", "shared_learners"}


def test_periods_older_than_the_lookback_are_not_evaluated(planted):
    events, _, _ = planted
    state = fold_all(events, UNBOUNDED)
    later = sg.evaluate(sg.default_book(), state["enrolments"], date(2027, 3, 1))  # H1 2025 is 4 periods back
    assert later == []


def test_a_bad_policy_is_refused_naming_every_problem():
    data = yaml.safe_load(sg.POLICY_FILE.read_text())
    bad = dict(data["policies"][0], period_months=5, evidence_cap=0, shared_learners={"min_shared": 3})
    bad["provider_outliers"] = dict(bad["provider_outliers"],
                                    hours_declared={"min_volume": 30, "min_ratio": 1.3})
    with pytest.raises(sg.PolicyError) as err:
        sg.parse_book({"policies": [bad]})
    message = str(err.value)
    for problem in ("period_months: 5 does not divide 12", "evidence_cap: 0 outside",
                    "hours_declared: needs exactly one of robust_z and max_p_value",
                    "shared_learners.min_jaccard: required", "shared_learners.max_providers_per_person: required"):
        assert problem in message
    with pytest.raises(sg.PolicyError, match="versions must be unique"):
        sg.parse_book({"policies": [data["policies"][0], data["policies"][0]]})


def test_binomial_tail():
    assert sg.binomial_tail(10, 0, 0.5) == 1.0
    assert sg.binomial_tail(10, 10, 0.5) == pytest.approx(1 / 1024)
    assert sg.binomial_tail(3, 2, 0.5) == pytest.approx(0.5)
    # large n (terms far below the float range on their own): mean 1600, standard deviation 17.9
    assert sg.binomial_tail(2000, 1580, 0.8) > 0.8 and sg.binomial_tail(2000, 1700, 0.8) < 1e-6


def test_the_offer_hours_of_a_requested_enrolment_reach_the_state():
    from services.kpi.adapters.envelopes import to_domain, to_envelope
    from tests.unit.kpi.fraud_world import Stream

    stream = Stream("h", random.Random(1))
    stream.enrolment("PX-H", "PRV000", date(2025, 2, 3), offer_hours=40)
    requested = stream.events[0]
    _, _, envelope = to_envelope(requested)
    assert to_domain(envelope) == [requested] and requested.offer_hours == 40
    state = fold_all(stream.events, UNBOUNDED)
    assert state["enrolments"][requested.enrolment_id]["requested"]["offer_hours"] == 40


def test_the_signal_desk_follows_the_projection():
    from services.kpi.service.projection import Projection
    from services.kpi.service.signals import SignalDesk

    from .fraud_world import burst, sharing_pair

    projection, desk = Projection(), SignalDesk()
    assert desk.is_stale(projection) and desk.refresh(projection) == 0 and desk.reference_date is None
    rng = random.Random(2)
    for event in sorted(burst(rng).events + sharing_pair(rng).events, key=lambda e: e.occurred_at):
        projection.ingest("llr.enrolments.v1.events/0", event)
    assert desk.is_stale(projection)
    assert desk.refresh(projection) == 2 and not desk.is_stale(projection)
    assert [s.rule for s in desk.list()] == ["enrolment_burst", "shared_learners"]
    assert [s.subject for s in desk.list(subject="PRVX05B")] == ["PRVX05A+PRVX05B"]
    assert [s.subject for s in desk.list(rule="enrolment_burst", subject="PX04-0000")] == ["PX04-0000"]
    assert desk.list(rule="enrolment_burst", subject="PRVX05A") == []


def test_no_signal_before_the_first_policy_takes_effect(planted):
    events, _, _ = planted
    data = yaml.safe_load(sg.POLICY_FILE.read_text())
    book = sg.parse_book({"policies": [dict(data["policies"][0], effective_from=date(2030, 1, 1))]})
    assert signals_of(events, book) == []
