"""Protobuf envelopes of the source contexts -> KPI domain events."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from llr.accounts.v1 import events_pb2 as acc
from llr.certification.v1 import events_pb2 as cert
from llr.enrolments.v1 import events_pb2 as enr
from llr.population.v1 import events_pb2 as pop
from services.common.envelope import wrap
from services.common.kafka import PoisonMessage
from services.kpi.adapters.envelopes import MappingError, to_domain, to_envelope
from services.kpi.domain import events as ev
from services.kpi.domain.synthetic import SyntheticConfig, generate

AT = datetime(2025, 3, 3, 9, 30, tzinfo=timezone.utc)


def envelope(payload, event_id: str = "e-1"):
    return wrap(payload, aggregate_type="x", aggregate_id="x-1", aggregate_version=1, producer="test",
                occurred_at=AT, event_id=event_id)


def test_every_domain_event_survives_the_round_trip_through_its_context_envelope():
    events = generate(SyntheticConfig(persons=400, enrolments=600, certificates=200, seed=3))
    kinds = {type(e) for e in events}
    assert kinds >= set(ev.ALL_EVENT_TYPES) - {ev.PersonUpdated}  # updates: see the next test
    for event in events:
        context, key, env = to_envelope(event)
        assert env.event_id == event.event_id and context in ("population", "enrolments", "accounts", "certification")
        (back,) = to_domain(env)
        if isinstance(event, ev.PersonUpdated):
            continue
        assert back == event


def test_a_person_update_changes_only_the_attributes_it_knows():
    update = pop.PersonUpdated(person_id="P1", attributes=pop.PersonAttributes(
        municipality_nis_code="44021", labour_status=pop.LABOUR_STATUS_JOBSEEKER, work_disability=True))
    (event,) = to_domain(envelope(update))
    assert event == ev.PersonUpdated(event_id="e-1", occurred_at=AT, person_id="P1", nis_code="44021",
                                     labour_status=ev.LabourStatus.JOBSEEKER, work_disability=True)


def test_only_euro_amounts_are_budget_and_a_capture_releases_its_rest():
    hours = acc.BudgetReserved(reservation_id="R1", person_id="P1", amount=40, unit="HOUR")
    assert to_domain(envelope(hours)) == []
    captured = acc.ReservationCaptured(reservation_id="R1", amount=30000, released_rest=5000, unit="EUR_CENT")
    assert to_domain(envelope(captured, "cap-1")) == [
        ev.BudgetCaptured(event_id="cap-1", occurred_at=AT, reservation_id="R1", amount_cents=30000),
        ev.BudgetReleased(event_id="cap-1#rest", occurred_at=AT, reservation_id="R1", amount_cents=5000),
    ]
    leave = acc.BudgetCredited(account_id="A1", wallet="TRAINING_LEAVE@2025-2026", amount=125, unit="HOUR")
    assert to_domain(envelope(leave)) == []
    credit = acc.BudgetCredited(account_id="A1", person_id="P1", wallet="TRAINING_BUDGET", amount=50000,
                                unit="EUR_CENT")
    assert to_domain(envelope(credit)) == [
        ev.BudgetCredited(event_id="e-1", occurred_at=AT, account_id="A1", amount_cents=50000)]
    released = acc.ReservationReleased(reservation_id="R1", amount=100, unit="EUR_CENT")
    assert to_domain(envelope(released)) == [
        ev.BudgetReleased(event_id="e-1", occurred_at=AT, reservation_id="R1", amount_cents=100)]


def test_facts_the_kpis_do_not_use_map_to_nothing():
    assert to_domain(envelope(acc.AccountOpened(account_id="A1", person_id="P1"))) == []
    assert to_domain(envelope(cert.TrainingRecorded(record_id="T1"))) == []
    assert to_domain(envelope(enr.FundingCaptureRequested(enrolment_id="E1"))) == []


def test_lifecycle_events_carry_only_the_enrolment_id():
    (started,) = to_domain(envelope(enr.EnrolmentStarted(enrolment_id="E1", start_date="2025-03-01")))
    assert started == ev.EnrolmentStarted(event_id="e-1", occurred_at=AT, enrolment_id="E1", start_date=date(2025, 3, 1))
    (leercoach,) = to_domain(envelope(enr.EnrolmentRequested(
        enrolment_id="E1", person_id="P1", provider_id="PRV1", planned_start="2025-03-01", planned_end="2025-03-02")))
    assert leercoach.leercoach_id is None


@pytest.mark.parametrize("payload, field", [
    (pop.PersonRegistered(person_id="P1", attributes=pop.PersonAttributes(birth_date="1980-01-01")), "attributes.sex"),
    (pop.PersonRegistered(person_id="P1"), "attributes.birth_date"),
    (enr.EnrolmentStarted(enrolment_id="E1", start_date="01/03/2025"), "start_date"),
    (enr.EnrolmentFunded(), "enrolment_id"),
    (acc.BudgetCredited(amount=50000, unit="EUR_CENT"), "account_id"),
    (cert.CertificateIssued(certificate_id="C1", holder_id="P1", organisation_id="O1", valid_from="2025-01-01",
                            valid_until="2028-01-01"), "role"),
])
def test_malformed_events_are_poison_naming_the_field(payload, field):
    with pytest.raises(MappingError) as err:
        to_domain(envelope(payload))
    assert isinstance(err.value, PoisonMessage)
    assert str(err.value).startswith(f"{field}:")
