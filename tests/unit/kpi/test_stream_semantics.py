"""Idempotency, order independence, the late-event bound, purity and serialisability."""
import copy
import json
from datetime import date, datetime, timedelta

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from services.kpi.domain import events as ev
from services.kpi.domain.definitions import FoldConfig
from services.kpi.domain.projection import apply, fold, fold_all, new_state
from services.kpi.domain.readout import tally
from services.kpi.domain.recount import recount

from .builders import (
    REF, UNBOUNDED, at, cancelled, certificate, cheque, completed, days_before, dropped, guidance, marker,
    next_id, person, requested, started,
)


def scenario() -> list[ev.Event]:
    """A small history touching every event type and every KPI."""
    s = days_before(40)
    return [
        person("p1", nis_code="44021"),
        person("p2", birth_date=date(1965, 2, 1), labour_status=ev.LabourStatus.JOBSEEKER),
        person("p3", nis_code="21004"),
        ev.PersonUpdated(event_id=next_id(), occurred_at=at(days_before(20)), person_id="p3", nis_code="24062"),
        ev.PersonUpdated(event_id=next_id(), occurred_at=at(days_before(20)), person_id="p1",
                         education_level=ev.EducationLevel.HIGH),
        person("p4"),
        ev.PersonDeceased(event_id=next_id(), occurred_at=at(days_before(2)), person_id="p4", date_of_death=days_before(2)),
        requested("e1", "p1", start=s, end=days_before(5), leercoach="coach"),
        ev.EnrolmentFunded(event_id=next_id(), occurred_at=at(days_before(50)), enrolment_id="e1"),
        started("e1", s),
        completed("e1", days_before(5)),
        requested("e2", "p2", provider="PRV2", start=s),
        cancelled("e2", days_before(45)),
        requested("e3", "p3", provider="PRV2", start=days_before(100), end=days_before(10)),
        started("e3", days_before(100)),
        dropped("e3", days_before(60)),
        cheque("c1", "p2", days_before(30)),
        guidance("c1", "p2", days_before(20), outcome="POP_DELIVERED"),
        ev.BudgetReserved(event_id=next_id(), occurred_at=at(days_before(50)), reservation_id="r1",
                          person_id="p1", enrolment_id="e1", amount_cents=12_345),
        ev.BudgetCaptured(event_id=next_id(), occurred_at=at(days_before(5)), reservation_id="r1", amount_cents=12_345),
        certificate("k1", "coach", "ORG1", ev.CertificateRole.LEERCOACH, date(2024, 1, 1), date(2027, 1, 1)),
        ev.CertificateSuspended(event_id=next_id(), occurred_at=at(days_before(3)), certificate_id="k1",
                                suspended_from=days_before(3), suspended_until=days_before(1)),
        certificate("k2", "mentor", "ORG1", ev.CertificateRole.MENTOR, date(2024, 1, 1), date(2027, 1, 1)),
        ev.CertificateRevoked(event_id=next_id(), occurred_at=at(days_before(1)), certificate_id="k2", revoked_on=days_before(1)),
        marker(),
    ]


SCENARIO = scenario()
REFERENCE_STATE = fold_all(SCENARIO, UNBOUNDED)


def test_duplicate_event_changes_nothing():
    once = fold_all(SCENARIO, UNBOUNDED)
    twice = fold_all(SCENARIO + SCENARIO, UNBOUNDED)
    assert twice == once
    interleaved = [e for event in SCENARIO for e in (event, event)]
    assert fold_all(interleaved, UNBOUNDED) == once


def test_redelivered_event_with_same_id_is_ignored_even_later_in_the_stream():
    state = fold_all(SCENARIO, UNBOUNDED)
    before = copy.deepcopy(state)
    for event in SCENARIO:
        assert apply(state, event, FoldConfig()) == before  # default 7-day bound: duplicates, not late


@settings(max_examples=60, deadline=None)
@given(st.permutations(SCENARIO))
def test_any_arrival_order_gives_the_same_state_and_kpis(order):
    state = fold_all(order, UNBOUNDED)
    assert state == REFERENCE_STATE
    assert tally(state, REF) == recount(order, REF, UNBOUNDED).tallies


@settings(max_examples=40, deadline=None)
@given(st.permutations(SCENARIO), st.lists(st.integers(0, len(SCENARIO) - 1), max_size=15), st.randoms())
def test_any_order_with_redeliveries_gives_the_same_state(order, duplicated, rnd):
    stream = list(order)
    for index in duplicated:
        stream.insert(rnd.randrange(len(stream) + 1), SCENARIO[index])
    assert fold_all(stream, UNBOUNDED) == REFERENCE_STATE


def test_late_event_within_bound_is_applied_beyond_it_is_rejected_with_reason():
    config = FoldConfig(max_lateness=timedelta(days=7))
    watermark_event = marker(REF)
    now = watermark_event.occurred_at
    edge = ev.CareerChequeBought(event_id="edge", occurred_at=now - timedelta(days=7), cheque_id="c-edge",
                                 person_id="p", purchase_date=days_before(7), own_contribution_cents=4500)
    too_late = ev.CareerChequeBought(event_id="too-late", occurred_at=now - timedelta(days=7, seconds=1),
                                     cheque_id="c-late", person_id="p", purchase_date=days_before(8),
                                     own_contribution_cents=4500)
    stream = [watermark_event, edge, too_late, too_late]
    state = fold_all(stream, config)
    assert "c-edge" in state["cheques"]
    assert "c-late" not in state["cheques"]
    assert list(state["late"]) == ["too-late"]
    entry = state["late"]["too-late"]
    assert entry["type"] == "CareerChequeBought"
    assert "behind the watermark" in entry["reason"]
    assert entry["watermark"] == state["watermark"]
    result = recount(stream, REF, config)
    assert result.late_event_ids == {"too-late"}
    assert tally(state, REF) == result.tallies


def test_older_events_never_move_the_watermark_back():
    config = FoldConfig(max_lateness=timedelta(days=7))
    state = fold_all([marker(REF), marker(days_before(3)), marker(days_before(30))], config)
    assert state["watermark"] == "2025-03-31T23:00:00.000000Z"
    assert len(state["late"]) == 1


def test_fold_is_pure_and_idempotent_on_a_record():
    record = REFERENCE_STATE["enrolments"]["e1"]
    snapshot = copy.deepcopy(record)
    event = dropped("e1", days_before(7))
    new = fold(record, event)
    assert record == snapshot
    assert new != record and "dropped_out" in new
    assert fold(new, event) == new


def test_state_is_json_serialisable_and_folding_continues_after_a_round_trip():
    half = len(SCENARIO) // 2
    state = fold_all(SCENARIO[:half], UNBOUNDED)
    restored = json.loads(json.dumps(state))
    assert restored == state
    assert fold_all(SCENARIO[half:], UNBOUNDED, restored) == REFERENCE_STATE


def test_new_state_is_empty():
    assert new_state() == {"schema": 5, "watermark": None, "persons": {}, "enrolments": {}, "cheques": {},
                           "reservations": {}, "credits": {}, "certificates": {}, "late": {}}


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        ev.EnrolmentFunded(event_id="x", occurred_at=datetime(2025, 1, 1), enrolment_id="e")
