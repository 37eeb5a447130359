"""Issue 17, items 4 and 5, on the real broker and the real KPI process.

Secondary suppression: a feed in which a small municipality and a small sex group would be exactly
the published total minus their published siblings; what List and Subscribe serve no longer lets a
reader compute them.

Renewals and reinstatements: certificates run through the certification service's own aggregate
(issue, renew before the end, expire, renew in the grace period, suspend, reinstate), their
envelopes published as the certification service publishes them; the served certified counts
follow each step.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone

from llr.kpi.v1 import kpi_service_pb2 as api
from services.certification.adapters.events import to_envelope as certification_envelope
from services.kpi.domain import definitions as d
from services.kpi.domain import events as ev
from services.kpi.domain.definitions import DisclosureConfig
from services.kpi.domain.disclosure import is_suppressed
from services.kpi.domain.recount import recount
from tests.unit.certification.builders import T0, issued_leercoach, policy, training

from .conftest import as_pb, expected_cells, produce, read_source_partitions, served, subscription, wait_for

# municipality -> (residents, of whom learning), all in the province of Antwerpen; 12009 is small
TOWNS = {"11002": (200, 60), "11004": (150, 30), "12009": (110, 5)}
REF = date(2025, 6, 2)


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), timezone.utc)


def population_feed() -> list[ev.Event]:
    """460 residents of three municipalities, 95 of whom started a course last week; three of the
    460 have sex X (a group far below the disclosure limit)."""
    events: list[ev.Event] = []
    n = 0
    for nis, (residents, learners) in TOWNS.items():
        for i in range(residents):
            n += 1
            pid = f"S{n:07d}"
            sex = ev.Sex.OTHER if n <= 3 else (ev.Sex.FEMALE if n % 2 else ev.Sex.MALE)
            events.append(ev.PersonRegistered(
                event_id=f"reg-{pid}", occurred_at=at(date(2025, 1, 1)), person_id=pid,
                birth_date=date(1980, 5, 1), sex=sex, nis_code=nis, education_level=ev.EducationLevel.MEDIUM,
                birth_country_group=ev.BirthCountryGroup.BE, labour_status=ev.LabourStatus.EMPLOYED,
                work_disability=False))
            if i < learners:
                events += [
                    ev.EnrolmentRequested(event_id=f"req-{pid}", occurred_at=at(REF - timedelta(days=20)),
                                          enrolment_id=f"enr-{pid}", person_id=pid, provider_id="prv-1",
                                          offer_id="o-1", instrument="training_budget",
                                          planned_start=REF - timedelta(days=5), planned_end=REF + timedelta(days=30)),
                    ev.EnrolmentStarted(event_id=f"start-{pid}", occurred_at=at(REF - timedelta(days=5)),
                                        enrolment_id=f"enr-{pid}", start_date=REF - timedelta(days=5)),
                ]
    events.append(ev.PersonRegistered(  # moves the reference date to REF
        event_id="reg-late", occurred_at=at(REF), person_id="S9999999", birth_date=date(1930, 1, 1),
        sex=ev.Sex.FEMALE, nis_code="11002", education_level=ev.EducationLevel.MEDIUM,
        birth_country_group=ev.BirthCountryGroup.BE, labour_status=ev.LabourStatus.EMPLOYED, work_disability=False))
    return sorted(events, key=lambda e: (e.occurred_at, e.event_id))  # none late for its partition


def recoverable(cells: dict[str, object], total: str, children: list[str]) -> dict[str, int]:
    """What a reader computes from served cells: with the total and all but one child published,
    the last child's numerator and denominator are the differences."""
    hidden = [c for c in children if cells[c].suppressed]
    if cells[total].suppressed or len(hidden) != 1:
        return {}
    rest = [cells[c] for c in children if c != hidden[0]]
    return {hidden[0]: (cells[total].numerator - sum(c.numerator for c in rest),
                        cells[total].denominator - sum(c.denominator for c in rest))}


def attack(cells: dict[str, object]) -> dict[str, int]:
    towns = [f"municipality={nis}" for nis in TOWNS]
    sexes = [label for label in cells if label.startswith("sex=")]
    return {**recoverable(cells, "province=10000", towns), **recoverable(cells, d.FLANDERS, sexes)}


def subscribe_snapshot(kpi, token: str, name: str, size: int) -> dict[str, object]:
    with subscription(kpi, token, api.SubscribeRequest(kpi=name), timeout_s=60) as received:
        wait_for(lambda: len([r for r in received if r.snapshot]) >= size, 30, "the snapshot")
    return {r.cell.cell: r.cell for r in received if r.snapshot}


def test_a_small_cell_is_not_recoverable_from_what_list_and_subscribe_serve(start_kpi, kafka,
                                                                           consumer_token):
    namespace = f"t{uuid.uuid4().hex[:10]}."
    kpi = start_kpi(namespace, f"kpi-{namespace}")
    events = population_feed()
    produce(kafka, namespace, events)
    expected = as_pb(expected_cells(read_source_partitions(kafka, namespace), kpi.settings))
    wait_for(lambda: served(kpi.list_all(consumer_token)) == expected, 120, "the recount to be served")

    # the precondition: under primary suppression alone both would be recoverable
    config = DisclosureConfig(kpi.settings.disclosure_min_numerator, kpi.settings.disclosure_min_denominator)
    tallies = recount(events).tallies
    primary = {label for (name, label), t in tallies.items()
               if name == d.PARTICIPATION_12M and is_suppressed(t, config)}
    assert primary == {"municipality=12009", "sex=X"}

    listed = {c.cell: c for c in kpi.list_all(consumer_token, kpi=d.PARTICIPATION_12M)}
    assert listed["municipality=12009"].suppressed and listed["sex=X"].suppressed
    assert not listed["province=10000"].suppressed and not listed[d.FLANDERS].suppressed
    assert listed["province=10000"].numerator == 95
    assert attack(listed) == {}
    # the complements are the smallest siblings; the larger ones keep their numbers
    assert listed["municipality=11004"].suppressed and not listed["municipality=11002"].suppressed
    assert listed["municipality=11002"].numerator == 60
    assert sum(listed[s].suppressed for s in ("sex=F", "sex=M")) == 1

    streamed = subscribe_snapshot(kpi, consumer_token, d.PARTICIPATION_12M, len(listed))
    assert {k: v.SerializeToString(deterministic=True) for k, v in streamed.items()} == \
        {k: v.SerializeToString(deterministic=True) for k, v in listed.items()}
    assert attack(streamed) == {}


def certification_records(namespace: str, certificates) -> list[tuple[str, bytes, bytes]]:
    """The pending events of the certificates as the certification service publishes them, in time
    order (certificates share partitions, and the KPI service rejects an event far behind its
    partition's latest)."""
    topic = f"{namespace}llr.certification.v1.events"
    pending = sorted((event.occurred_at, event.event_id, cert.certificate_id,
                      certification_envelope(event, aggregate_version=cert.version))
                     for cert in certificates for event in cert.pull_events())
    return [(topic, key.encode(), envelope.SerializeToString()) for _, _, key, envelope in pending]


def resident(day: date) -> ev.PersonRegistered:
    """A registration at the end of ``day``: the read-out then has cells (participation) dated
    ``day`` even when no certificate counts."""
    return ev.PersonRegistered(
        event_id=f"resident-{day}", occurred_at=at(day, 23), person_id=f"R-{day}", birth_date=date(1980, 5, 1),
        sex=ev.Sex.FEMALE, nis_code="11002", education_level=ev.EducationLevel.MEDIUM,
        birth_country_group=ev.BirthCountryGroup.BE, labour_status=ev.LabourStatus.EMPLOYED, work_disability=False)


def test_renewed_and_reinstated_certificates_keep_being_counted(start_kpi, kafka, consumer_token):
    namespace = f"t{uuid.uuid4().hex[:10]}."
    kpi = start_kpi(namespace, f"kpi-{namespace}", disclosure_min_numerator=1, disclosure_min_denominator=1)

    def served_count(day: date) -> int | None:
        """The served Flanders count once the reference date is ``day`` (0 when there is no cell)."""
        cells = {c.cell: c for c in kpi.list_all(consumer_token, kpi=d.CERTIFIED_LEERCOACHES)}
        dates = {c.reference_date for c in kpi.list_all(consumer_token)}
        if dates != {day.isoformat()}:
            return None
        cell = cells.get(d.FLANDERS)
        return 0 if cell is None else cell.numerator

    def serves(day: date, count: int) -> None:
        wait_for(lambda: served_count(day) is not None, 60, f"the read-out of {day}")
        assert served_count(day) == count, kpi.log()

    issued = [issued_leercoach(T0) for _ in range(3)]  # valid 2025-03-03 .. 2028-03-02
    (org1, cand1, recs1, c1), (org2, cand2, recs2, c2), (org3, cand3, recs3, c3) = issued
    original_end = c1.valid_until
    for org, cand, recs, cert in issued[:2]:  # renewed in the renewal window, before the end
        ce = training(org, cand, "CE-COACHING", hours=21, on=date(2027, 6, 1))
        cert.renew(trainings=recs + [ce], policy=policy(), now=at(date(2027, 12, 1)))
    expiry_job = at(original_end + timedelta(days=8))
    assert c3.expire_if_due(expiry_job) and not c1.expire_if_due(expiry_job)
    produce(kafka, namespace, [resident(expiry_job.date())], certification_records(namespace, [c1, c2, c3]))
    serves(expiry_job.date(), 2)  # the original end has passed: the renewed two still count

    c1.suspend(reason="complaint under investigation", now=at(date(2028, 3, 20)))
    produce(kafka, namespace, [resident(date(2028, 3, 20))], certification_records(namespace, [c1]))
    serves(date(2028, 3, 20), 1)

    c1.reinstate(now=at(date(2028, 4, 1)))
    ce = training(org3, cand3, "CE", hours=21, on=date(2027, 1, 10))
    c3.renew(trainings=[ce], policy=policy(), now=at(date(2028, 4, 1), hour=10))  # in the grace period
    produce(kafka, namespace, [resident(date(2028, 4, 1))], certification_records(namespace, [c1, c3]))
    serves(date(2028, 4, 1), 3)  # reinstated and renewed after expiry: counted again
    organisation = next(c for c in kpi.list_all(consumer_token, kpi=d.CERTIFIED_LEERCOACHES)
                        if c.cell == f"organisation={org1.organisation_id}")
    assert organisation.numerator == 3
