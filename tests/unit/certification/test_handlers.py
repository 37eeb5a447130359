"""The certification use cases on the in-memory repository: no Kafka, no database. What a
mentoring organisation or the regisseur would notice: one registration per person and role, one
live certificate per candidate under concurrent issues and renewals, a command interrupted
between its two commits finished by the next one, distinct qualification numbers and status
entries, and expiry that fires from its schedule."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from services.certification.adapters.repository import CertificationRepository, live_slot
from services.certification.domain.credentials.credential import IssuerProfile
from services.certification.domain.policy import load_policy_book
from services.certification.domain.values import CertificateStatus, CredentialType, OrganisationStatus
from services.certification.service.handlers import CertificationService
from services.common.auth import Principal, Role
from services.common.clock import FakeClock
from services.common.envelope import decode
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, PermissionDenied
from services.common.persistence import InMemoryStores

from .builders import issuer_key

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
REGISSEUR = Principal("vdab-1", "vdab", Role.REGISSEUR)
ORG = Principal("org-a", "org-a", Role.MENTORING_ORGANISATION)


class World:
    def __init__(self) -> None:
        self.clock = FakeClock(START)
        self.repo = CertificationRepository(InMemoryStores())
        key = issuer_key()
        self.service = CertificationService(
            self.repo, clock=self.clock, policies=load_policy_book(), issuer_key=key,
            issuer=IssuerProfile(key.issuer_id, "Test issuer"), events_topic="llr.certification.v1.events",
            status_list_base_url="https://llr.example/status", status_list_ttl=timedelta(days=1))
        self.service.accredit_organisation(REGISSEUR, request_id="acc", organisation_id="org-a", name="Org A")

    def mentor(self, person: str) -> str:
        cand = self.service.register_candidate(ORG, request_id=f"reg-{person}", organisation_id="org-a",
                                               person_id=person, role="MENTOR")
        self.train(cand.candidate_id, "MENTOR-TRAINING", "2025-02-20")
        return cand.candidate_id

    def train(self, candidate_id: str, module: str, on: str, hours: str = "7") -> None:
        self.service.record_training(ORG, request_id=f"tr-{candidate_id}-{module}", candidate_id=candidate_id,
                                     module_id=module, hours=hours, completed_on=on, result="NOT_ASSESSED")

    def later(self, when: datetime) -> None:
        """Move the clock to ``when``, with the organisation re-screened then (its accreditation
        runs 36 months, shorter than a mentor's certificate)."""
        self.clock.set(when)
        self.service.rescreen_organisation(REGISSEUR, request_id=f"rescreen-{when.isoformat()}", organisation_id="org-a")

    def issue(self, candidate_id: str, request_id: str):
        return self.service.issue_certificate(ORG, request_id=request_id, candidate_id=candidate_id)

    def certificates(self, candidate_id: str) -> list:
        items, _ = self.service.list_certificates(REGISSEUR, candidate_id=candidate_id)
        return [s.certificate for s in items]

    def envelopes(self) -> list:
        """The events waiting in the outbox, taken out of it."""
        items = self.repo.outbox.pending()
        self.repo.outbox.done(items)
        return [decode(bytes(e["value"])) for item in items for e in item.events]

    def published(self, kind: str) -> list[str]:
        return [e.aggregate_id for e in self.envelopes() if e.event_type.endswith(kind)]


@pytest.fixture
def world() -> World:
    return World()


def attempt(call):
    try:
        return call()
    except (FailedPrecondition, AlreadyExists) as exc:
        return exc


def test_concurrent_issues_for_one_candidate_make_one_live_certificate_and_one_event(world):
    candidate = world.mentor("person-1")
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda i: attempt(lambda: world.issue(candidate, f"issue-{i}")), range(16)))
    issued = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(issued) == 1
    assert all(isinstance(o, FailedPrecondition) and issued[0].certificate.certificate_id in str(o)
               for o in outcomes if o not in issued)
    assert [c.certificate_id for c in world.certificates(candidate)] == [issued[0].certificate.certificate_id]
    assert world.published("CertificateIssued") == [issued[0].certificate.certificate_id]


def test_concurrent_registrations_of_one_person_make_one_candidate(world):
    def register(i: int):
        return attempt(lambda: world.service.register_candidate(
            ORG, request_id=f"reg-{i}", organisation_id="org-a", person_id="person-2", role="LEERCOACH"))
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(register, range(12)))
    registered = {o.candidate_id for o in outcomes if not isinstance(o, Exception)}
    assert len(registered) == 1
    assert sum(isinstance(o, AlreadyExists) for o in outcomes) == 12 - sum(
        1 for o in outcomes if not isinstance(o, Exception))
    assert world.published("CandidateRegistered") == list(registered)


def test_an_issue_interrupted_after_its_claim_is_finished_by_the_next_issue(world, monkeypatch):
    candidate = world.mentor("person-3")
    real_create = world.repo.certificates.create

    def crash(*args, **kwargs):
        raise RuntimeError("the process died between the claim and the certificate")
    monkeypatch.setattr(world.repo.certificates, "create", crash)
    with pytest.raises(RuntimeError):
        world.issue(candidate, "issue-first")
    monkeypatch.setattr(world.repo.certificates, "create", real_create)
    assert world.certificates(candidate) == []

    refused = attempt(lambda: world.issue(candidate, "issue-second"))
    assert isinstance(refused, FailedPrecondition)
    [first] = world.certificates(candidate)
    assert first.status is CertificateStatus.ACTIVE and first.certificate_id in str(refused)
    assert world.published("CertificateIssued") == [first.certificate_id]
    # The client's retry of the interrupted request gets the certificate that was finished for it.
    assert world.issue(candidate, "issue-first").certificate.certificate_id == first.certificate_id


def test_an_interrupted_registration_is_finished_by_the_next_one(world, monkeypatch):
    real_create = world.repo.candidates.create
    monkeypatch.setattr(world.repo.candidates, "create", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("died")))
    with pytest.raises(RuntimeError):
        world.service.register_candidate(ORG, request_id="reg-a", organisation_id="org-a", person_id="p-4",
                                         role="MENTOR")
    monkeypatch.setattr(world.repo.candidates, "create", real_create)
    with pytest.raises(AlreadyExists):
        world.service.register_candidate(ORG, request_id="reg-b", organisation_id="org-a", person_id="p-4",
                                         role="MENTOR")
    assert len(world.published("CandidateRegistered")) == 1


@pytest.mark.parametrize("order", ["renewal first", "new issue first", "concurrently"])
def test_renewal_after_expiry_and_a_new_issue_leave_one_live_certificate(order):
    w = World()
    candidate = w.mentor("person-r")
    old = w.issue(candidate, "issue-old").certificate.certificate_id
    w.later(START.replace(year=2030, month=3, day=10))                # valid until 2030-03-02: in grace
    assert w.service.expire_due_certificates() == 1
    w.train(candidate, "MENTOR-CE", "2029-06-01", hours="14")
    renew = lambda: attempt(lambda: w.service.renew_certificate(ORG, request_id="renew", certificate_id=old))  # noqa: E731
    issue = lambda: attempt(lambda: w.issue(candidate, "issue-new"))  # noqa: E731
    if order == "concurrently":
        with ThreadPoolExecutor(2) as pool:
            outcomes = [f.result() for f in [pool.submit(renew), pool.submit(issue)]]
    else:
        outcomes = [renew(), issue()] if order == "renewal first" else [issue(), renew()]
    assert sum(not isinstance(o, Exception) for o in outcomes) == 1, outcomes
    assert all(isinstance(o, FailedPrecondition) for o in outcomes if isinstance(o, Exception))
    live = [c for c in w.certificates(candidate) if c.status is CertificateStatus.ACTIVE]
    assert len(live) == 1
    assert w.repo.slot_holder(live_slot(candidate, CredentialType.MENTOR))["_id"] == live[0].certificate_id


def test_qualification_numbers_and_status_entries_are_unique_under_concurrent_issues(world):
    candidates = [world.mentor(f"person-q{i}") for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        issued = list(pool.map(lambda c: world.issue(c, f"issue-{c}"), candidates))
    assert sorted(s.qualification_number for s in issued) == list(range(1, 13))
    assert len({s.certificate.revocation_status.index for s in issued}) == 12
    retried = world.issue(candidates[0], f"issue-{candidates[0]}")
    assert retried.qualification_number == issued[0].qualification_number


def test_expiry_fires_from_the_schedule_once_and_a_renewal_moves_it(world):
    first, second = world.mentor("person-e1"), world.mentor("person-e2")
    expiring = world.issue(first, "issue-e1").certificate
    renewed = world.issue(second, "issue-e2").certificate
    assert world.service.expire_due_certificates() == 0
    world.later(START.replace(year=2029, month=12, day=1))              # inside the renewal window
    world.train(second, "MENTOR-CE", "2029-06-01", hours="14")
    world.service.renew_certificate(ORG, request_id="rn", certificate_id=renewed.certificate_id)
    world.clock.set(datetime.combine(expiring.valid_until, datetime.min.time(), tzinfo=timezone.utc))
    assert world.service.expire_due_certificates() == 0, "still valid on its last day"
    world.clock.advance(timedelta(days=1))
    assert world.service.expire_due_certificates() == 1
    assert world.service.expire_due_certificates() == 0
    statuses = {c.certificate_id: c.status for c in world.certificates(first) + world.certificates(second)}
    assert statuses == {expiring.certificate_id: CertificateStatus.EXPIRED,
                        renewed.certificate_id: CertificateStatus.ACTIVE}
    assert world.published("CertificateExpired") == [expiring.certificate_id]


def test_the_organisation_lifecycle_is_the_regisseurs_and_every_change_is_one_event(world):
    world.envelopes()   # drop the set-up's events
    other = Principal("org-b", "org-b", Role.MENTORING_ORGANISATION)
    for call in (lambda p: world.service.accredit_organisation(p, request_id="x", organisation_id="org-b", name="B"),
                 lambda p: world.service.suspend_organisation(p, request_id="x", organisation_id="org-a", reason="r"),
                 lambda p: world.service.reinstate_organisation(p, request_id="x", organisation_id="org-a"),
                 lambda p: world.service.rescreen_organisation(p, request_id="x", organisation_id="org-a")):
        for caller in (ORG, other, Principal("enrolments", "enrolments", Role.SERVICE)):
            with pytest.raises(PermissionDenied):
                call(caller)
    with pytest.raises(PermissionDenied):
        world.service.get_organisation(other, organisation_id="org-a")
    assert world.service.get_organisation(ORG, organisation_id="org-a").accredited_until.isoformat() == "2028-03-03"

    suspend = lambda request_id: world.service.suspend_organisation(  # noqa: E731
        REGISSEUR, request_id=request_id, organisation_id="org-a", reason="audit")
    first = suspend("s-1")
    assert suspend("s-1") == first                     # a retry: the first answer, nothing new
    with pytest.raises(FailedPrecondition, match="already suspended"):
        suspend("s-2")
    with pytest.raises(InvalidArgument, match="request_id"):
        world.service.suspend_organisation(REGISSEUR, request_id="s-1", organisation_id="org-a", reason="other")
    world.service.reinstate_organisation(REGISSEUR, request_id="r-1", organisation_id="org-a")
    world.service.reinstate_organisation(REGISSEUR, request_id="r-1", organisation_id="org-a")
    world.clock.set(START.replace(year=2027))
    renewed = world.service.rescreen_organisation(REGISSEUR, request_id="rs-1", organisation_id="org-a")
    assert world.service.rescreen_organisation(REGISSEUR, request_id="rs-1", organisation_id="org-a") == renewed
    assert renewed.accredited_until.isoformat() == "2030-03-03"
    # Accrediting it again under its name changes nothing; under another name it is refused.
    assert world.service.accredit_organisation(REGISSEUR, request_id="a-2", organisation_id="org-a",
                                               name="Org A") == renewed
    with pytest.raises(AlreadyExists, match="Org A"):
        world.service.accredit_organisation(REGISSEUR, request_id="a-3", organisation_id="org-a", name="Org Z")
    assert [(e.event_type.rsplit(".", 1)[1], e.aggregate_id, e.aggregate_version) for e in world.envelopes()] == [
        ("OrganisationSuspended", "org-a", 2), ("OrganisationReinstated", "org-a", 3),
        ("OrganisationRescreened", "org-a", 4)]


def test_an_expired_organisation_neither_issues_nor_renews_and_says_since_when(world):
    mentor, waiting = world.mentor("person-x"), world.mentor("person-w")
    cert = world.issue(mentor, "issue-x").certificate
    world.clock.set(START.replace(year=2028, month=2, day=15))
    world.train(mentor, "MENTOR-CE", "2028-02-01", hours="14")
    world.clock.set(START.replace(year=2028, month=3, day=4))
    message = "organisation org-a is not accredited: its accreditation expired after 2028-03-03"
    with pytest.raises(FailedPrecondition, match=message):
        world.issue(waiting, "issue-w")
    with pytest.raises(FailedPrecondition, match=message):
        world.service.register_candidate(ORG, request_id="reg-late", organisation_id="org-a", person_id="p-late",
                                         role="MENTOR")
    world.clock.set(START.replace(year=2029, month=12, day=1))        # the certificate's renewal window
    with pytest.raises(FailedPrecondition, match=message):
        world.service.renew_certificate(ORG, request_id="renew-x", certificate_id=cert.certificate_id)
    # The mentor's certificate itself is still valid.
    assert world.service.get_certificate(ORG, certificate_id=cert.certificate_id).certificate.status \
        is CertificateStatus.ACTIVE
    world.service.rescreen_organisation(REGISSEUR, request_id="rs", organisation_id="org-a")
    assert world.service.renew_certificate(ORG, request_id="renew-x", certificate_id=cert.certificate_id) \
        .certificate.valid_until.isoformat() == "2035-03-02"
    assert world.issue(waiting, "issue-w").certificate.status is CertificateStatus.ACTIVE


def test_the_expiry_job_publishes_an_organisations_expiry_once_and_not_after_a_rescreening(world):
    world.service.accredit_organisation(REGISSEUR, request_id="acc-b", organisation_id="org-b", name="Org B")
    world.envelopes()
    world.clock.set(START.replace(year=2028, month=3, day=3, hour=23))     # the last accredited day
    assert world.service.expire_due_organisations() == 0
    world.service.rescreen_organisation(REGISSEUR, request_id="rs-b", organisation_id="org-b")
    world.clock.set(START.replace(year=2028, month=3, day=4))
    assert world.service.expire_due_organisations() == 1          # org-a; org-b was re-screened
    assert world.service.expire_due_organisations() == 0
    assert world.service.get_organisation(ORG, organisation_id="org-a").status_on(world.clock.now().date()) \
        is OrganisationStatus.EXPIRED
    assert [(e.event_type.rsplit(".", 1)[1], e.aggregate_id) for e in world.envelopes()] == [
        ("OrganisationRescreened", "org-b"), ("OrganisationAccreditationExpired", "org-a")]
    world.clock.set(START.replace(year=2031, month=3, day=4))
    assert world.service.expire_due_organisations() == 1          # org-b's new period ran out on 2031-03-03
