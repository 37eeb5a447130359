"""Every funding instrument end to end on the real Kafka and FerretDB: training cheques through
the enrolments service and the accounts saga (offer flags -> EnrolmentRequested -> funding
decision -> FUNDED or REJECTED), training-leave hours capped per school year, and the scheduled
yearly-credit job (once per period, idempotent under a re-run and a second process, catching up
after a skipped period)."""
from __future__ import annotations

from datetime import datetime, timezone

import pymongo
import pytest

from llr.accounts.v1 import accounts_service_pb2 as acc_api
from llr.accounts.v1 import accounts_service_pb2_grpc as acc_grpc
from llr.enrolments.v1 import enrolments_service_pb2 as api
from llr.enrolments.v1 import enrolments_service_pb2_grpc as api_grpc
from llr.population.v1 import events_pb2 as pop
from services.accounts.adapters.repository import AccountRepository
from services.accounts.domain import BUDGET_WALLET, WalletKind, WalletRef
from services.accounts.service.yearly_credits import YearlyCredits
from services.common.auth import Role
from services.common.grpc_server import bearer
from services.common.persistence import MongoStores
from services.common.tls import service_channel
from services.enrolments.entrypoints.main import build as build_enrolments
from services.enrolments.settings import EnrolmentsSettings
from tests.eventually import eventually

from .conftest import enrolment_requested, person_registered

S = api.EnrolmentStatus
CHEQUE, LEAVE = api.FUNDING_INSTRUMENT_TRAINING_CHEQUE, api.FUNDING_INSTRUMENT_TRAINING_LEAVE


def _open(h, person_id: str, **kw) -> None:
    h.send("population", person_registered(person_id, **kw), person_id, event_id=f"reg-{person_id}")
    h.wait_for(lambda seen: any(type(p).__name__ == "AccountOpened" and p.person_id == person_id for _, p in seen))


@pytest.fixture
def enrolments(accounts, mongo_uri, kafka, public_key_file, token_for):
    """The enrolments service beside the accounts service: same broker namespace and clock."""
    settings = EnrolmentsSettings(
        grpc_port=0, mongo_db=f"{accounts.settings.mongo_db}_enr", topic_namespace=accounts.settings.topic_namespace,
        auth_public_key_file=public_key_file, auth_issuer="llr-test-idp", mongo_uri=mongo_uri,
        **kafka.settings_fields(), outbox_poll_interval_s=0.05)
    runtime = build_enrolments(settings, accounts.clock)
    channel = service_channel(settings, runtime.grpc.port)
    stub = api_grpc.EnrolmentServiceStub(channel)
    yield stub
    channel.close()
    runtime.stop(grace_s=1)
    client = pymongo.MongoClient(mongo_uri)
    client.drop_database(settings.mongo_db)
    client.close()


class Provider:
    def __init__(self, stub, token_for, provider_id: str = "prov-syntra") -> None:
        self.stub, self.provider_id = stub, provider_id
        stub.AccreditProvider(api.AccreditProviderRequest(request_id=f"acc-{provider_id}", provider_id=provider_id,
                                                          name="Syntra"),
                              metadata=bearer(token_for("vdab", Role.REGISSEUR)))
        self.auth = bearer(token_for(provider_id, Role.PROVIDER))

    def offer(self, title: str, price_cents: int, hours: int, instruments, **flags):
        return self.stub.CreateOffer(api.CreateOfferRequest(
            request_id=f"offer-{title}", title=title, price_cents=price_cents, hours=hours,
            earliest_start="2025-03-10", latest_start="2025-08-31", instruments=instruments, **flags),
            metadata=self.auth).offer

    def enrol(self, person_id: str, offer, ref: str, start: str, end: str, instrument):
        return self.stub.CreateEnrolment(api.CreateEnrolmentRequest(
            request_id=f"req-{ref}", person_id=person_id, offer_id=offer.offer_id, provider_reference=ref,
            planned_start=start, planned_end=end, instrument=instrument), metadata=self.auth).enrolment

    def decided(self, enrolment):
        """The enrolment once the saga decided it (FUNDED or REJECTED)."""
        def get():
            return self.stub.GetEnrolment(api.GetEnrolmentRequest(enrolment_id=enrolment.enrolment_id),
                                          metadata=self.auth).enrolment
        return eventually(lambda: (e := get()).status in (S.Value("ENROLMENT_STATUS_FUNDED"),
                                                           S.Value("ENROLMENT_STATUS_REJECTED")) and e,
                          timeout_s=60, what=f"the saga's decision on {enrolment.provider_reference}")


def test_training_cheques_fund_half_the_price_up_to_the_school_year_maximum_through_the_saga(
        accounts, enrolments, token_for):
    h = accounts
    _open(h, "p-medium")
    _open(h, "p-high", education=pop.EDUCATION_LEVEL_HIGH)
    provider = Provider(enrolments, token_for)
    listed = provider.offer("Boekhouden", 60_000, 40, [CHEQUE], in_training_database=True)
    assert listed.in_training_database and not listed.eligible_for_training_leave
    also_listed = provider.offer("Excel", 8_000, 12, [CHEQUE], in_training_database=True)
    unlisted = provider.offer("Yoga", 20_000, 10, [CHEQUE])

    # 50% of EUR 600 is EUR 300, above the EUR 250 of the school year: EUR 250 is funded
    funded = provider.decided(provider.enrol("p-medium", listed, "R-1", "2025-03-10", "2025-03-20", CHEQUE))
    assert (funded.status, funded.reserved_cents) == (S.Value("ENROLMENT_STATUS_FUNDED"), 25_000)
    # the school year's allowance is used up
    used_up = provider.decided(provider.enrol("p-medium", also_listed, "R-2", "2025-04-01", "2025-04-10", CHEQUE))
    assert used_up.status == S.Value("ENROLMENT_STATUS_REJECTED")
    assert used_up.rejection_reason.startswith("INSUFFICIENT_FUNDS") and "2024-2025" in used_up.rejection_reason
    # not in the Flemish training database
    outside = provider.decided(provider.enrol("p-medium", unlisted, "R-3", "2025-05-01", "2025-05-10", CHEQUE))
    assert outside.rejection_reason.startswith("NOT_ELIGIBLE") and "training database" in outside.rejection_reason

    # the diploma rule: a higher-educated person only for a training listed in their POP
    refused = provider.decided(provider.enrol("p-high", listed, "R-4", "2025-03-10", "2025-03-20", CHEQUE))
    assert refused.rejection_reason.startswith("NOT_ELIGIBLE") and "listed in the POP" in refused.rejection_reason
    counter = bearer(token_for("loket-vdab", Role.CITIZEN_COUNTER, person_id="p-high"))
    plan = acc_grpc.AccountServiceStub(h.channel).RecordDevelopmentPlan(acc_api.RecordDevelopmentPlanRequest(
        request_id="pop-1", person_id="p-high", offer_ids=[listed.offer_id]), metadata=counter).development_plan
    assert list(plan.offer_ids) == [listed.offer_id] and plan.recorded_on == "2025-03-03"
    in_pop = provider.decided(provider.enrol("p-high", listed, "R-5", "2025-04-01", "2025-04-11", CHEQUE))
    assert (in_pop.status, in_pop.reserved_cents) == (S.Value("ENROLMENT_STATUS_FUNDED"), 25_000)
    account = acc_grpc.AccountServiceStub(h.channel).GetAccount(
        acc_api.GetAccountRequest(person_id="p-high"), metadata=counter).account
    assert list(account.development_plan.offer_ids) == [listed.offer_id]


def test_training_leave_hours_are_capped_per_school_year(accounts):
    h = accounts
    _open(h, "p-leave")   # employed: 125 h of training leave for 2024-2025, credited at the opening
    wallet = WalletRef(WalletKind.TRAINING_LEAVE, "2024-2025")
    assert h.service.repo.get("p-leave").account.available(wallet) == 125

    def leave(enrolment_id: str, hours: int, eligible: bool = True, start: str = "2025-04-01", end: str = "2025-05-01"):
        request = enrolment_requested(enrolment_id, "p-leave", 40_000)
        request.instrument, request.hours = "TRAINING_LEAVE", hours
        request.planned_start, request.planned_end = start, end
        request.eligible_for_training_leave = eligible
        h.send("enrolments", request, enrolment_id)

    leave("l-1", 100)
    leave("l-2", 40)                       # 25 h left in 2024-2025
    leave("l-3", 10, eligible=False)       # the offer does not qualify
    leave("l-4", 40, start="2025-09-15", end="2025-10-15")   # the next school year has hours of its own
    h.wait_for(lambda seen: len([p for _, p in seen if type(p).__name__ in ("BudgetReserved", "ReservationRejected")
                                 and p.enrolment_id.startswith("l-")]) == 4)
    reserved = {p.enrolment_id: (p.wallet, p.amount, p.unit) for p in h.of_type("BudgetReserved")}
    rejected = {p.enrolment_id: (p.reason, p.detail) for p in h.of_type("ReservationRejected")}
    assert reserved == {"l-1": ("TRAINING_LEAVE@2024-2025", 100, "HOUR"),
                        "l-4": ("TRAINING_LEAVE@2025-2026", 40, "HOUR")}
    assert rejected["l-2"] == ("INSUFFICIENT_FUNDS", "40 h requested, 25 h of training leave left in 2024-2025")
    assert rejected["l-3"][0] == "NOT_ELIGIBLE" and "does not qualify for training leave" in rejected["l-3"][1]


def test_the_yearly_credit_job_grants_once_per_period_and_catches_up_a_skipped_one(accounts, mongo_uri):
    h = accounts
    people = ["p-y1", "p-y2", "p-y3"]
    for person_id in people:
        _open(h, person_id)                          # 2025 budget and 2024-2025 leave at the opening
    budget = lambda: [h.service.repo.get(p).account.balance(BUDGET_WALLET) for p in people]  # noqa: E731
    leave = lambda period: [h.service.repo.get(p).account.balance(  # noqa: E731
        WalletRef(WalletKind.TRAINING_LEAVE, period)) for p in people]
    assert budget() == [50_000] * 3

    h.clock.set(datetime(2026, 1, 2, 6, tzinfo=timezone.utc))
    job = h.runtime.yearly_credits
    # a second process: its own repository on the same database
    other_client = pymongo.MongoClient(mongo_uri)
    other = YearlyCredits(AccountRepository(MongoStores(other_client[h.settings.mongo_db]), h.settings.events_topic),
                          h.clock, job.catalog, batch=2)
    try:
        other.run()          # two of the three accounts, then the service's job takes the pass over
        job.run()
        job.run()            # a re-run
        other.run()
    finally:
        other_client.close()
    assert budget() == [100_000] * 3 and leave("2025-2026") == [125] * 3

    def credits_of(label: str):
        return [(p.person_id, p.amount) for p in h.of_type("BudgetCredited") if f"budget {label}" in p.explanation]
    h.wait_for(lambda seen: len(credits_of("2026")) == 3)
    h.wait_for(lambda seen: True, timeout_s=2)  # any duplicate would arrive now
    assert sorted(credits_of("2026")) == [(p, 50_000) for p in people]

    # the job does not run on 1 January 2027 nor on 1 September 2027: it catches up when it runs
    h.clock.set(datetime(2027, 10, 4, 6, tzinfo=timezone.utc))
    job.run()
    assert budget() == [150_000] * 3            # 2025, 2026, 2027: the cap of EUR 1,500
    assert leave("2026-2027") == [125] * 3 and leave("2027-2028") == [125] * 3
    assert job.run() == 0
