"""Two processes of the enrolments service and two of the accounts service on one database server
and one broker, with no lock shared between them: the rules hold.

* 100 concurrent CreateEnrolment calls (``LLR_TEST_RUSH=1000`` for the thousand of the storage
  issue, about five minutes), spread over both enrolments processes, for one person whose budget
  funds ten: exactly ten end FUNDED, every other one REJECTED, the account is never
  overspent and its ledger sums to its balance (both accounts processes consume the requests);
* 50 identical posts over both processes: one enrolment, one EnrolmentRequested;
* a bulk upload on one process racing single posts of overlapping periods on the other: for
  every person exactly one of the two exists;
* no call ever answers UNKNOWN (a duplicate key never leaks as an internal error).

The services run on the demo's simulated clock (2026-03-02 onwards) so that the dates are the
2026 policy year whatever today is."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import grpc
import pytest


from infra.run import free_port, wait_for_grpc_health
from llr.accounts.v1 import accounts_service_pb2 as acc
from llr.accounts.v1 import accounts_service_pb2_grpc as acc_rpc
from llr.enrolments.v1 import enrolments_service_pb2 as api
from llr.enrolments.v1 import enrolments_service_pb2_grpc as api_rpc
from llr.enrolments.v1 import events_pb2  # noqa: F401  (payload types for unwrap)
from llr.population.v1 import events_pb2 as pop
from services.common.auth import Role, TokenIssuer
from services.common.clock import SystemClock
from services.common.envelope import decode, wrap
from services.common.grpc_server import bearer
from services.common.kafka import make_consumer, make_producer
from services.common.mongo import make_client

REPO = Path(__file__).resolve().parents[3]
SIM_START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
PRICE = 5_000          # the 2026 yearly credit of 50,000 cents funds exactly ten
# 1,000 passes too but takes about five minutes here, too long for `make test`: every rejection
# is remembered on the one hot account, so each of its commits is larger than the last (the cost
# grows with the square of the requests on one account; see services/common/README.md).
RUSH = int(os.environ.get("LLR_TEST_RUSH", "100"))
DAYS_PER_OFFER = 250
BUDGET = api.FUNDING_INSTRUMENT_TRAINING_BUDGET


def person(person_id: str) -> pop.PersonRegistered:
    return pop.PersonRegistered(person_id=person_id, attributes=pop.PersonAttributes(
        birth_date="1980-05-01", sex=pop.SEX_FEMALE, municipality_nis_code="44021",
        education_level=pop.EDUCATION_LEVEL_MEDIUM, birth_country_group=pop.BIRTH_COUNTRY_GROUP_BELGIUM,
        labour_status=pop.LABOUR_STATUS_EMPLOYED,
        work_history=pop.WorkHistory(work_experience_months=130, work_experience_days=4000)))


class Platform:
    def __init__(self, stack, mongo_uri: str, unique: str, public_key_file: Path) -> None:
        self.namespace = f"t{unique}."
        stack.grant_kafka(self.namespace)  # each service logs in as its own principal
        self.dbs = {s: f"test_so_{s}_{unique}" for s in ("accounts", "enrolments")}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LLR_") or k.startswith("LLR_INFRA_")}
        epoch = datetime.now(timezone.utc)
        for service in ("accounts", "enrolments"):
            p = f"LLR_{service.upper()}_"
            self.env.update({p + "MONGO_URI": mongo_uri, p + "MONGO_DB": self.dbs[service],
                             p + "KAFKA_BOOTSTRAP": stack.settings.kafka_bootstrap, p + "TOPIC_NAMESPACE": self.namespace,
                             p + "AUTH_PUBLIC_KEY_FILE": str(public_key_file), p + "AUTH_ISSUER": "llr-test-idp",
                             p + "TOPIC_PARTITIONS": "4", p + "OUTBOX_POLL_INTERVAL_S": "0.05",
                             p + "SIM_START": SIM_START.isoformat(), p + "SIM_EPOCH": epoch.isoformat(),
                             p + "LOG_LEVEL": "WARNING"})
        self.procs: list[subprocess.Popen] = []
        self.ports: dict[str, list[int]] = {"accounts": [], "enrolments": []}
        self.mongo_uri = mongo_uri

    def start(self) -> None:
        for service in ("accounts", "enrolments", "accounts", "enrolments"):
            port = free_port()
            proc = subprocess.Popen([sys.executable, "-m", f"services.{service}.entrypoints.main"], cwd=REPO,
                                    env={**self.env, f"LLR_{service.upper()}_GRPC_PORT": str(port)},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            self.procs.append(proc)
            self.ports[service].append(port)
            wait_for_grpc_health(port, proc, timeout_s=120)

    def stop(self) -> list[int]:
        for proc in self.procs:
            proc.terminate()
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=30))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        client = make_client(self.mongo_uri)
        for name in self.dbs.values():
            client.drop_database(name)
        client.close()
        return codes


@pytest.fixture
def platform(stack, mongo_uri, unique, public_key_file):
    plat = Platform(stack, mongo_uri, unique, public_key_file)
    try:
        plat.start()
        yield plat
    finally:
        codes = plat.stop()
    assert codes == [0, 0, 0, 0], [p.stderr.read()[-2000:] for p in plat.procs]


def test_two_processes_of_each_service_keep_every_rule(platform, kafka, token_keys):
    issuer = TokenIssuer(token_keys[0], issuer="llr-test-idp", clock=SystemClock())
    regisseur = bearer(issuer.issue("vdab", Role.REGISSEUR, ttl=timedelta(days=365)))
    provider = bearer(issuer.issue("prv-a", Role.PROVIDER, ttl=timedelta(days=365)))
    channels = [grpc.insecure_channel(f"127.0.0.1:{port}") for port in platform.ports["enrolments"]]
    stubs = [api_rpc.EnrolmentServiceStub(c) for c in channels]
    accounts = acc_rpc.AccountServiceStub(grpc.insecure_channel(f"127.0.0.1:{platform.ports['accounts'][0]}"))
    producer = make_producer(kafka, "scale-out-e2e")
    events = make_consumer(kafka, f"{platform.namespace}llr.enrolments.v1.events",
                           auto_offset_reset="earliest", group_id=f"{platform.namespace}test-reader")
    try:
        for person_id in ["p-rush"] + [f"q{i}" for i in range(40)]:
            envelope = wrap(person(person_id), aggregate_type="person", aggregate_id=person_id, aggregate_version=1,
                            producer="test", occurred_at=SIM_START, event_id=f"reg-{person_id}")
            producer.send(f"{platform.namespace}llr.population.v1.events", key=person_id.encode(),
                          value=envelope.SerializeToString())
        producer.flush()
        deadline = time.monotonic() + 90
        while True:
            try:
                accounts.GetAccount(acc.GetAccountRequest(person_id="p-rush"), metadata=regisseur)
                break
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.NOT_FOUND and time.monotonic() < deadline, err
                time.sleep(0.3)
        stubs[0].AccreditProvider(api.AccreditProviderRequest(request_id="acc", provider_id="prv-a", name="A"),
                                  metadata=regisseur)
        # one-day courses on distinct days: the overlap rule lets one person take each of them
        offers = [stubs[1].CreateOffer(api.CreateOfferRequest(
            request_id=f"offer-{k}", title=f"Excel {k}", price_cents=PRICE, hours=8, earliest_start="2026-03-01",
            latest_start="2026-12-31", instruments=[BUDGET]), metadata=provider).offer
            for k in range(-(-RUSH // DAYS_PER_OFFER))]
        offer = offers[0]
        codes: list[str] = []

        def call(i: int, method: str, request):
            try:
                return getattr(stubs[i % 2], method)(request, metadata=provider, timeout=120)
            except grpc.RpcError as err:
                codes.append(err.code().name)
                return None

        # 1. the rush: one person, RUSH one-day courses, a budget for ten
        first_day = date(2026, 4, 1)

        def rush(i: int):
            day = (first_day + timedelta(days=i % DAYS_PER_OFFER)).isoformat()
            return call(i, "CreateEnrolment", api.CreateEnrolmentRequest(
                request_id=f"rush-{i}", person_id="p-rush", offer_id=offers[i // DAYS_PER_OFFER].offer_id,
                planned_start=day,
                planned_end=day, instrument=BUDGET, provider_reference=f"RUSH-{i}"))
        with ThreadPoolExecutor(16) as pool:
            posted = [r.enrolment.enrolment_id for r in pool.map(rush, range(RUSH)) if r is not None]
        assert len(posted) == RUSH and codes == []
        outcome: dict[str, set[str]] = {}
        seen: dict[str, str] = {}
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len([e for e in posted if e in outcome]) < RUSH:
            for records in events.poll(timeout_ms=500).values():
                for record in records:
                    env = decode(record.value)
                    kind = env.event_type.rsplit(".", 1)[1]
                    seen.setdefault(env.event_id, kind)
                    if kind in ("EnrolmentFunded", "EnrolmentRejected"):
                        outcome.setdefault(env.aggregate_id, set()).add(kind)
        assert len([e for e in posted if e in outcome]) == RUSH, "every enrolment was answered"
        assert all(len(kinds) == 1 for kinds in outcome.values())
        assert sum("EnrolmentFunded" in outcome[e] for e in posted) == 10
        account = accounts.GetAccount(acc.GetAccountRequest(person_id="p-rush"), metadata=regisseur).account
        budget = next(w for w in account.wallets if w.wallet == "TRAINING_BUDGET")
        assert (budget.available, budget.held, budget.balance) == (0, 10 * PRICE, 50_000)
        explained = accounts.ExplainBalance(acc.ExplainBalanceRequest(person_id="p-rush"), metadata=regisseur)
        assert (explained.lines[-1].balance_after, explained.lines[-1].held_after) == (50_000, 10 * PRICE)
        assert [line.entry.kind for line in explained.lines].count("RESERVE") == 10

        # 2. fifty identical posts over both processes
        same = api.CreateEnrolmentRequest(request_id="same", person_id="q0", offer_id=offer.offer_id,
                                          planned_start="2026-05-04", planned_end="2026-05-08", instrument=BUDGET,
                                          provider_reference="SAME")
        with ThreadPoolExecutor(16) as pool:
            ids = {r.enrolment.enrolment_id for r in pool.map(lambda i: call(i, "CreateEnrolment", same), range(50))}
        assert len(ids) == 1 and codes == []

        # 3. a bulk upload on one process racing single posts of overlapping periods on the other
        persons = [f"q{i}" for i in range(1, 40)]
        rows = [api.BulkCreateEnrolmentsRequest(person_id=p, offer_id=offer.offer_id, planned_start="2026-06-01",
                                                planned_end="2026-06-12", instrument=BUDGET,
                                                provider_reference=f"BULK-{p}") for p in persons]
        with ThreadPoolExecutor(8) as pool:
            bulk = pool.submit(lambda: stubs[0].BulkCreateEnrolments(iter(rows), metadata=provider, timeout=120))
            singles = list(pool.map(lambda p: call(1, "CreateEnrolment", api.CreateEnrolmentRequest(
                request_id=f"single-{p}", person_id=p, offer_id=offer.offer_id, planned_start="2026-06-10",
                planned_end="2026-06-20", instrument=BUDGET, provider_reference=f"SINGLE-{p}")), persons))
            results = bulk.result().results
        for p, row, single in zip(persons, results, singles):
            assert (row.enrolment_id != "") != (single is not None), p
            assert row.enrolment_id or row.error_code == "ALREADY_EXISTS", (p, row)
        assert set(codes) <= {"ALREADY_EXISTS"}, codes
        # once each: the RUSH of the rush, the one of the fifty, one per racing person
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and list(seen.values()).count("EnrolmentRequested") < RUSH + 1 + 39:
            for records in events.poll(timeout_ms=500).values():
                for record in records:
                    env = decode(record.value)
                    seen.setdefault(env.event_id, env.event_type.rsplit(".", 1)[1])
        time.sleep(1)
        for records in events.poll(timeout_ms=1000).values():
            for record in records:
                env = decode(record.value)
                seen.setdefault(env.event_id, env.event_type.rsplit(".", 1)[1])
        assert list(seen.values()).count("EnrolmentRequested") == RUSH + 1 + 39
    finally:
        events.close()
        producer.close()
        for c in channels:
            c.close()
