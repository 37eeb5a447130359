"""The enrolments use cases on the in-memory repository: no Kafka, no database. What a provider
or the saga would notice: one enrolment per reference, the overlap rule under concurrent posts
(single and bulk), a post interrupted between its two commits finished by the next one, and
deadlines that fire from their schedule."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from llr.accounts.v1 import events_pb2 as accounts_pb
from llr.certification.v1 import events_pb2 as cert_pb
from services.common.auth import Principal, Role
from services.common.clock import FakeClock
from services.common.envelope import decode, wrap
from services.common.errors import AlreadyExists, FailedPrecondition
from services.common.persistence import InMemoryStores
from services.enrolments.adapters.repository import EnrolmentRepository
from services.enrolments.domain.policy import default_policy_book
from services.enrolments.domain.states import EnrolmentStatus
from services.enrolments.service.handlers import EnrolmentRow, EnrolmentService

START = datetime(2026, 7, 6, 9, 0, tzinfo=timezone.utc)  # planned start Fri 17 July, no-show due Thu 23 22:00
REGISSEUR = Principal("vdab-1", "vdab", Role.REGISSEUR)
PROVIDER = Principal("prv-a", "prv-a", Role.PROVIDER)


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(START)
        self.repo = EnrolmentRepository(InMemoryStores())
        self.service = EnrolmentService(self.repo, clock=self.clock, policies=default_policy_book(),
                                        events_topic="llr.enrolments.v1.events")
        self.service.accredit_provider(REGISSEUR, request_id="a-1", provider_id="prv-a", name="Provider A",
                                       mandated_career_centre=False)
        self.offer = self.service.create_offer(PROVIDER, request_id="o-1", title="Excel", price_cents=120_000,
                                               hours=40, earliest_start="2026-07-01", latest_start="2026-09-30",
                                               instruments=["TRAINING_BUDGET"])

    def row(self, ref: str, person: str = "person-1", start: str = "2026-07-17", end: str = "2026-07-31"):
        return EnrolmentRow(person_id=person, offer_id=self.offer.offer_id, planned_start=start, planned_end=end,
                            instrument="TRAINING_BUDGET", provider_reference=ref)

    def post(self, ref: str, request_id: str | None = None, **kw):
        return self.service.create_enrolment(PROVIDER, request_id=request_id or f"req-{ref}", row=self.row(ref, **kw))

    def published(self) -> list:
        items = self.repo.outbox.pending()
        self.repo.outbox.done(items)
        return [decode(bytes(e["value"])) for item in items for e in item.events]

    def requested(self) -> list[str]:
        return [e.aggregate_id for e in self.published() if e.event_type.endswith("EnrolmentRequested")]


@pytest.fixture
def world() -> World:
    return World()


def test_fifty_concurrent_copies_of_a_post_make_one_enrolment_and_one_event(world):
    with ThreadPoolExecutor(8) as pool:
        views = list(pool.map(lambda _: world.post("REF-1"), range(50)))
    assert len({v.enrolment.enrolment_id for v in views}) == 1
    assert world.requested() == [views[0].enrolment.enrolment_id]


def race_once(world: World, post) -> None:
    """24 posts at once, 8 at a time, that exclude each other (``post(i)`` returns None when the
    rules refused it): exactly one is made, and published once."""
    with ThreadPoolExecutor(8) as pool:
        made = [v for v in pool.map(post, range(24)) if v is not None]
    assert len(made) == 1
    assert world.requested() == [made[0].enrolment.enrolment_id]


def test_concurrent_posts_of_overlapping_periods_create_one(world):
    def post(i: int):
        try:
            return world.post(f"REF-{i}", start="2026-07-17", end=f"2026-07-{20 + i % 5}")
        except AlreadyExists:
            return None
    race_once(world, post)
    world.post("REF-later", start="2026-08-01", end="2026-08-10")  # after it: no overlap


def test_a_bulk_upload_racing_single_posts_keeps_the_overlap_rule(world):
    persons = [f"p{i}" for i in range(40)]
    rows = [world.row(f"B-{p}", person=p) for p in persons]

    def single(p: str):
        try:
            return world.post(f"S-{p}", person=p, start="2026-07-20", end="2026-07-25")
        except AlreadyExists:
            return None
    with ThreadPoolExecutor(4) as pool:
        bulk = pool.submit(world.service.bulk_create, PROVIDER, rows)
        singles = list(pool.map(single, persons))
        results = bulk.result()
    for person, res, one in zip(persons, results, singles):
        assert (res.enrolment_id != "") != (one is not None), f"{person}: exactly one of the two may exist"
        assert res.enrolment_id or res.error_code == "ALREADY_EXISTS"
    assert len(world.requested()) == 40


def test_bulk_rows_answer_like_retries_and_each_bad_row_alone(world):
    first = world.post("R0", person="p0")
    rows = [world.row("R0", person="p0"), world.row("R1", person="p1"), world.row("R1", person="p1"),
            world.row("R2", person="p1"), world.row("R3", person="p3", start="17-07-2026")]
    results = world.service.bulk_create(PROVIDER, rows)
    assert [(r.enrolment_id != "", r.replayed, r.error_code) for r in results] == [
        (True, True, ""), (True, False, ""), (True, True, ""), (False, False, "ALREADY_EXISTS"),
        (False, False, "INVALID_ARGUMENT")]
    assert results[0].enrolment_id == first.enrolment.enrolment_id
    again = world.service.bulk_create(PROVIDER, rows)
    assert [(r.enrolment_id, r.error_code) for r in again] == [(r.enrolment_id, r.error_code) for r in results]
    assert sorted(world.requested()) == sorted({first.enrolment.enrolment_id, results[1].enrolment_id})


def test_a_post_interrupted_between_its_two_commits_is_finished_by_the_next(world, monkeypatch):
    real_create = world.repo.enrolments.create
    monkeypatch.setattr(world.repo.enrolments, "create", lambda *a, **k: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        world.post("REF-1")  # committed into its pair, then the process "died"
    monkeypatch.setattr(world.repo.enrolments, "create", real_create)
    assert world.requested() == []
    with pytest.raises(AlreadyExists):  # the overlap rule already counts it ...
        world.post("REF-2")
    [enrolment_id] = world.requested()  # ... and the next writer of the pair created it
    assert world.repo.enrolment(enrolment_id)["provider_reference"] == "REF-1"
    assert world.post("REF-1").enrolment.enrolment_id == enrolment_id  # the provider's retry


def test_no_show_fires_from_the_deadline_schedule_once(world):
    e = world.post("REF-1").enrolment
    world.service.on_accounts_event(wrap(accounts_pb.BudgetReserved(
        enrolment_id=e.enrolment_id, reservation_id="res-1", amount=120_000), aggregate_type="account",
        aggregate_id="acc", aggregate_version=2, producer="test", occurred_at=START, event_id="reply-1"))
    assert world.service.fire_due_deadlines() == 0
    world.clock.advance(timedelta(days=17, hours=13))  # Thu 23 July 22:00 UTC
    assert world.service.fire_due_deadlines() == 1
    assert world.service.fire_due_deadlines() == 0
    assert world.repo.enrolment(e.enrolment_id)["status"] == EnrolmentStatus.NO_SHOW.value
    kinds = [x.event_type.rsplit(".", 1)[1] for x in world.published()]
    assert kinds[-2:] == ["EnrolmentNoShow", "FundingReleaseRequested"]


def test_a_leercoach_counts_only_while_certified(world):
    def event(payload, n: int):
        world.service.on_certification_event(wrap(payload, aggregate_type="certificate", aggregate_id="c-1",
                                                   aggregate_version=n, producer="test", occurred_at=START))
    row = lambda ref: EnrolmentRow(person_id="p", offer_id=world.offer.offer_id, planned_start="2026-07-17",  # noqa
                                   planned_end="2026-07-31", instrument="TRAINING_BUDGET", provider_reference=ref,
                                   leercoach_id="coach-1")
    with pytest.raises(FailedPrecondition, match="coach-1"):
        world.service.create_enrolment(PROVIDER, request_id="r1", row=row("L1"))
    event(cert_pb.CertificateIssued(certificate_id="c-1", holder_id="coach-1", role=cert_pb.CREDENTIAL_TYPE_LEERCOACH,
                                    valid_from="2026-01-01", valid_until="2028-12-31"), 1)
    assert world.service.leercoach_is_valid("coach-1", START.date())
    event(cert_pb.CertificateRevoked(certificate_id="c-1", revoked_on="2026-07-01"), 2)
    assert not world.service.leercoach_is_valid("coach-1", START.date())
    assert world.repo.persons.load("p") is None, "a refused row writes nothing"


# --- the same person on other offers, at this or another provider (double financing) ----------
PROVIDER_B = Principal("prv-b", "prv-b", Role.PROVIDER)


def with_second_provider(world: World, cross_offer: str = "FLAG"):
    """Provider B with an offer of its own; the policy in force set to ``cross_offer``."""
    from dataclasses import replace

    from services.enrolments.domain.policy import CrossOfferOverlap, PolicyBook

    book = default_policy_book()
    world.service.policies = PolicyBook(tuple(replace(p, cross_offer_overlap=CrossOfferOverlap(cross_offer))
                                              for p in book.policies))
    world.service.accredit_provider(REGISSEUR, request_id="a-2", provider_id="prv-b", name="Provider B",
                                    mandated_career_centre=False)
    return world.service.create_offer(PROVIDER_B, request_id="o-2", title="Word", price_cents=80_000, hours=20,
                                      earliest_start="2026-07-01", latest_start="2026-09-30",
                                      instruments=["TRAINING_BUDGET"])


def post_at_b(world: World, offer, ref: str, person: str = "person-1", start: str = "2026-07-20",
              end: str = "2026-07-25"):
    return world.service.create_enrolment(PROVIDER_B, request_id=f"req-{ref}", row=EnrolmentRow(
        person_id=person, offer_id=offer.offer_id, planned_start=start, planned_end=end,
        instrument="TRAINING_BUDGET", provider_reference=ref))


def test_an_overlap_at_another_provider_is_flagged_for_the_regisseur_only(world):
    offer_b = with_second_provider(world, "FLAG")
    first = world.post("A-1")
    world.published()
    flagged = post_at_b(world, offer_b, "B-1")
    assert flagged.flags == ("CROSS_OFFER_OVERLAP",)
    events = world.published()
    assert [e.event_type.rsplit(".", 1)[1] for e in events] == ["EnrolmentRequested", "EnrolmentFlagged"]
    from services.common.envelope import unwrap
    flag = unwrap(events[1])
    assert list(flag.overlapping_enrolment_ids) == [first.enrolment.enrolment_id] and flag.provider_id == "prv-b"
    # kept on later changes; a period after the first one is not flagged
    assert world.service.get_enrolment(REGISSEUR, flagged.enrolment.enrolment_id).flags == ("CROSS_OFFER_OVERLAP",)
    assert post_at_b(world, offer_b, "B-2", start="2026-08-01", end="2026-08-05").flags == ()


def test_under_refuse_concurrent_posts_at_two_providers_fund_one_period(world):
    offer_b = with_second_provider(world, "REFUSE")

    def post(i: int):
        try:
            if i % 2:
                return post_at_b(world, offer_b, f"B-{i}", person="person-x")
            return world.post(f"A-{i}", person="person-x")
        except FailedPrecondition as exc:
            assert "double financing is refused" in exc.reason and "prv-" not in exc.reason
            return None
        except AlreadyExists:
            return None
    race_once(world, post)


def test_a_bulk_upload_applies_the_cross_offer_rule_within_the_upload_and_against_the_database(world):
    offer_b = with_second_provider(world, "REFUSE")
    post_at_b(world, offer_b, "B-1", person="p-db")
    rows = [world.row("U-1", person="p-db"),                                   # overlaps B-1 in the database
            world.row("U-2", person="p-new", start="2026-08-03", end="2026-08-07"),
            EnrolmentRow(person_id="p-new", offer_id=world.offer.offer_id, planned_start="2026-08-10",
                         planned_end="2026-08-14", instrument="TRAINING_BUDGET", provider_reference="U-3")]
    results = world.service.bulk_create(PROVIDER, rows)
    assert [r.error_code for r in results] == ["FAILED_PRECONDITION", "", ""]
    assert "double financing is refused" in results[0].reason


# --- a provider's accreditation: validity, re-screening, events -----------------------------------
def test_an_accreditation_expires_after_its_validity_and_a_rescreening_renews_it(world):
    from services.common.envelope import unwrap

    provider = world.service.get_provider(REGISSEUR, "prv-a")
    assert (provider.screened_on.isoformat(), provider.accredited_until.isoformat()) == ("2026-07-06", "2029-07-06")
    world.clock.set(datetime(2029, 7, 7, 9, 0, tzinfo=timezone.utc))
    with pytest.raises(FailedPrecondition, match="expired after 2029-07-06 .* until the regisseur re-screens it"):
        world.post("LATE-1")
    with pytest.raises(FailedPrecondition, match="expired"):
        world.service.create_offer(PROVIDER, request_id="o-late", title="Late", price_cents=1_000, hours=2,
                                   earliest_start="2029-08-01", latest_start="2029-09-30",
                                   instruments=["TRAINING_BUDGET"])
    world.published()
    renewed = world.service.rescreen_provider(REGISSEUR, request_id="rs-1", provider_id="prv-a")
    assert renewed.accredited_until.isoformat() == "2032-07-07"
    world.service.create_offer(PROVIDER, request_id="o-late", title="Late", price_cents=1_000, hours=2,
                               earliest_start="2029-08-01", latest_start="2029-09-30", instruments=["TRAINING_BUDGET"])
    [rescreened] = [e for e in world.published() if e.aggregate_type == "provider"]
    assert (rescreened.event_type, unwrap(rescreened).accredited_until) == (
        "llr.enrolments.v1.ProviderRescreened", "2032-07-07")


def test_every_accreditation_decision_is_an_event_once(world):
    world.service.suspend_provider(REGISSEUR, request_id="s-1", provider_id="prv-a", reason="audit pending")
    world.service.suspend_provider(REGISSEUR, request_id="s-2", provider_id="prv-a", reason="audit pending")
    world.service.reinstate_provider(REGISSEUR, request_id="r-1", provider_id="prv-a")
    events = [e for e in world.published() if e.aggregate_type == "provider"]
    assert [(e.event_type.rsplit(".", 1)[1], e.aggregate_version) for e in events] == [
        ("ProviderAccredited", 1), ("ProviderSuspended", 2), ("PayablesFrozen", 2), ("ProviderReinstated", 3),
        ("PayablesReleased", 3)]
