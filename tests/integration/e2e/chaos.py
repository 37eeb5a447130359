"""Chaos: the platform under load while its processes are killed with SIGKILL and restarted, then
an audit of what users would notice.

A private Kafka broker and a private FerretDB (never the shared ones), the accounts,
certification, enrolments and KPI services as real processes, on the demo's simulated clock. A load thread registers
persons, posts enrolments (retrying each request with the same request id until it is
answered, as a provider's system would) and moves the funded ones on: some are cancelled, some
started and completed. Meanwhile the schedule kills: the broker (down longer than the
consumers' 10 s session timeout), a service, FerretDB; each comes back. When the load stopped
and the platform is quiet, the audit counts anomalies:

* an acknowledged enrolment that does not exist, or is still REQUESTED;
* a budget hold still ACTIVE for an enrolment that is cancelled, rejected or completed;
* a completed enrolment whose budget was not captured;
* a ledger entry applied twice (two entries for one reservation and kind);
* a negative balance, or a balance that is not the sum of its ledger;
* a KPI cell the service serves that differs from an independent recount of the broker's log.

``make chaos`` runs ``python -m tests.integration.e2e.chaos --kills 20 --seed N`` and prints the
audit; ``tests/integration/e2e/test_chaos.py`` runs a short schedule in ``make test``.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import grpc

from infra.run import isolated_environment, wait_for_grpc_health
from infra.stack import Stack
from llr.accounts.v1 import accounts_service_pb2 as acc
from llr.accounts.v1 import accounts_service_pb2_grpc as acc_rpc
from llr.enrolments.v1 import enrolments_service_pb2 as api
from llr.enrolments.v1 import enrolments_service_pb2_grpc as api_rpc
from llr.kpi.v1 import kpi_service_pb2 as kpi_api
from llr.kpi.v1 import kpi_service_pb2_grpc as kpi_rpc
from llr.population.v1 import events_pb2 as pop
from services.certification.adapters.issuer_key import generate_issuer_key_file
from services.common.auth import Role, TokenIssuer, generate_keypair
from services.common.clock import SystemClock
from services.common.envelope import wrap
from services.common.grpc_server import bearer
from services.common.kafka import make_producer
from services.kpi.adapters.cells import to_pb
from services.kpi.settings import KpiSettings
from tests.integration.common.private_servers import PrivateServer, private_broker, private_ferretdb

REPO = Path(__file__).resolve().parents[3]
SIM_START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SERVICES = ("accounts", "certification", "enrolments", "kpi")
PRICE = 5_000
RETRIED = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED,
           grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.RESOURCE_EXHAUSTED}
BROKER_DOWN_S = 13.0   # longer than the consumers' 10 s session timeout
# What an entry of each kind does to (balance, held), as DOMAIN.md defines the ledger.
EFFECT = {"CREDIT": (1, 0), "RESERVE": (0, 1), "CAPTURE": (-1, -1), "RELEASE": (0, -1), "EXPIRE": (-1, 0),
          "REFUND": (-1, 0), "FORFEIT": (-1, 0)}
REFUSALS = {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS}


@dataclass
class Audit:
    kills: list[str] = field(default_factory=list)
    acknowledged: int = 0
    statuses: Counter = field(default_factory=Counter)
    anomalies: list[str] = field(default_factory=list)
    kpi_cells: int = 0
    unexpected_codes: Counter = field(default_factory=Counter)

    def report(self) -> str:
        lines = [f"kills ({len(self.kills)}): " + ", ".join(self.kills),
                 f"acknowledged enrolments: {self.acknowledged}",
                 "final statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())),
                 f"KPI cells compared with the recount: {self.kpi_cells}",
                 f"answers other than OK or a retried outage: {dict(self.unexpected_codes) or 'none'}",
                 f"anomalies: {len(self.anomalies)}"]
        lines += [f"  - {a}" for a in self.anomalies]
        return "\n".join(lines)


def person(person_id: str, municipality: str) -> pop.PersonRegistered:
    return pop.PersonRegistered(person_id=person_id, attributes=pop.PersonAttributes(
        birth_date="1980-05-01", sex=pop.SEX_FEMALE, municipality_nis_code=municipality,
        education_level=pop.EDUCATION_LEVEL_MEDIUM, birth_country_group=pop.BIRTH_COUNTRY_GROUP_BELGIUM,
        labour_status=pop.LABOUR_STATUS_EMPLOYED,
        work_history=pop.WorkHistory(work_experience_months=130, work_experience_days=4000)))


class Platform:
    """The three services as processes on the private servers; each can be killed and restarted."""

    def __init__(self, broker: PrivateServer, db: PrivateServer, home: Path, run_id: str) -> None:
        self.broker, self.db, self.home = broker, db, home
        private, public = generate_keypair()
        (home / "token.pub.pem").write_bytes(public)
        self.issuer = TokenIssuer(private, "llr-chaos-idp", SystemClock())
        self.env = isolated_environment(broker.stack, db.uri, run_id, home / "kpi")
        generate_issuer_key_file(home / "issuer.pem")
        self.env["LLR_CERTIFICATION_ISSUER_KEY_FILE"] = str(home / "issuer.pem")
        epoch = datetime.now(timezone.utc)
        for name in SERVICES:
            p = f"LLR_{name.upper()}_"
            self.env.update({p + "AUTH_PUBLIC_KEY_FILE": str(home / "token.pub.pem"), p + "AUTH_ISSUER": "llr-chaos-idp",
                             p + "SIM_START": SIM_START.isoformat(), p + "SIM_EPOCH": epoch.isoformat(),
                             p + "LOG_LEVEL": "WARNING", p + "OUTBOX_POLL_INTERVAL_S": "0.05",
                             p + "TOPIC_PARTITIONS": "3"})
        self.env["LLR_KPI_READOUT_INTERVAL_S"] = "0.5"
        self.namespace = self.env["LLR_KPI_TOPIC_NAMESPACE"]
        self.procs: dict[str, subprocess.Popen] = {}

    def port(self, name: str) -> int:
        return int(self.env[f"LLR_{name.upper()}_GRPC_PORT"])

    def token(self, organisation_id: str, role: Role) -> list[tuple[str, str]]:
        return bearer(self.issuer.issue(organisation_id, role, ttl=timedelta(days=365)))

    def start(self, name: str) -> None:
        log = open(self.home / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", f"services.{name}.entrypoints.main"], cwd=REPO, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        wait_for_grpc_health(self.port(name), proc, timeout_s=120)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


class Load:
    """Providers' systems: every request is retried with its request id until it is answered."""

    def __init__(self, plat: Platform, persons: list[str], offer_id: str, seed: int, audit: Audit) -> None:
        self.plat, self.persons, self.offer_id = plat, persons, offer_id
        self.random = random.Random(seed)
        self.audit = audit
        self.provider = plat.token("prv-chaos", Role.PROVIDER)
        self.stub = api_rpc.EnrolmentServiceStub(grpc.insecure_channel(f"127.0.0.1:{plat.port('enrolments')}"))
        self.acknowledged: list[str] = []
        self.cancelled: set[str] = set()
        self.completed: set[str] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="chaos-load", daemon=True)
        self.n = 0

    def call(self, method: str, request, give_up: Callable[[], bool] = lambda: False):
        """The answer, or None when it was refused (a rule said no) or ``give_up()``."""
        while True:
            try:
                return getattr(self.stub, method)(request, metadata=self.provider, timeout=10)
            except grpc.RpcError as err:
                code = err.code()
                if code not in RETRIED | REFUSALS or code in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
                    self.audit.unexpected_codes[f"{method} {code.name}: {(err.details() or '')[:120]}"] += 1
                if code not in RETRIED or give_up():
                    return None
                time.sleep(0.5)

    def run(self) -> None:
        first_day = date(2026, 3, 2)
        while not self.stop.is_set():
            self.n += 1
            n, who = self.n, self.random.choice(self.persons)
            day = (first_day + timedelta(days=n % 200)).isoformat()
            reply = self.call("CreateEnrolment", api.CreateEnrolmentRequest(
                request_id=f"post-{n}", person_id=who, offer_id=self.offer_id, planned_start=day, planned_end=day,
                instrument=api.FUNDING_INSTRUMENT_TRAINING_BUDGET, provider_reference=f"CHAOS-{n}"))
            if reply is not None:
                self.acknowledged.append(reply.enrolment.enrolment_id)
            if n % 3 == 0 and len(self.acknowledged) > 5:
                self.move_on(self.acknowledged[-5])
            time.sleep(0.05)

    def move_on(self, enrolment_id: str) -> None:
        """Cancel or complete an enrolment once it is funded (skipped when it is not yet)."""
        got = self.call("GetEnrolment", api.GetEnrolmentRequest(enrolment_id=enrolment_id))
        if got is None or got.enrolment.status != api.ENROLMENT_STATUS_FUNDED:
            return
        if self.random.random() < 0.5:
            if self.call("CancelEnrolment", api.CancelEnrolmentRequest(
                    request_id=f"cancel-{enrolment_id}", enrolment_id=enrolment_id, reason="chaos")) is not None:
                self.cancelled.add(enrolment_id)
        elif self.call("StartEnrolment", api.StartEnrolmentRequest(
                request_id=f"start-{enrolment_id}", enrolment_id=enrolment_id)) is not None:
            if self.call("CompleteEnrolment", api.CompleteEnrolmentRequest(
                    request_id=f"complete-{enrolment_id}", enrolment_id=enrolment_id, hours_attended=8,
                    outcome=api.OUTCOME_PASSED)) is not None:
                self.completed.add(enrolment_id)


def eventually(predicate: Callable[[], object], timeout_s: float, what: str, pause_s: float = 1.0):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = predicate()
        except grpc.RpcError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(pause_s)


def schedule(kills: int, seed: int) -> list[str]:
    """``kills`` targets: the broker twice, each service once and FerretDB once first, then at random."""
    base = ["kafka", "accounts", "enrolments", "kafka", "certification", "kpi", "ferretdb"]
    extra = random.Random(seed).choices(["kafka", "ferretdb", *SERVICES], k=max(0, kills - len(base)))
    return (base + extra)[:kills]


@contextlib.contextmanager
def running_platform(shared: Stack, persons: int, seed: int) -> Iterator[tuple[Platform, list[str], str]]:
    home = Path(tempfile.mkdtemp(prefix="llr-chaos-"))
    try:
        with private_broker(shared) as broker, private_ferretdb(shared) as db:
            plat = Platform(broker, db, home, f"chaos{seed}")
            try:
                for name in SERVICES:
                    plat.start(name)
                people = register_persons(plat, persons)
                yield plat, people, create_offer(plat)
            finally:
                plat.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def register_persons(plat: Platform, n: int) -> list[str]:
    municipalities = ["11002", "44021", "71016", "23062", "31005"]   # one in each province
    producer = make_producer(plat.broker.kafka, "chaos-population")
    people = [f"chaos-{i}" for i in range(n)]
    for i, person_id in enumerate(people):
        env = wrap(person(person_id, municipalities[i % 5]), aggregate_type="person", aggregate_id=person_id,
                   aggregate_version=1, producer="chaos", occurred_at=SIM_START, event_id=f"reg-{person_id}")
        producer.send(f"{plat.namespace}llr.population.v1.events", key=person_id.encode(),
                      value=env.SerializeToString())
    producer.flush()
    producer.close()
    accounts = acc_rpc.AccountServiceStub(grpc.insecure_channel(f"127.0.0.1:{plat.port('accounts')}"))
    regisseur = plat.token("vdab", Role.REGISSEUR)
    eventually(lambda: all(accounts.GetAccount(acc.GetAccountRequest(person_id=p), metadata=regisseur, timeout=5)
                           for p in people), 120, "every account to be opened")
    return people


def create_offer(plat: Platform) -> str:
    stub = api_rpc.EnrolmentServiceStub(grpc.insecure_channel(f"127.0.0.1:{plat.port('enrolments')}"))
    stub.AccreditProvider(api.AccreditProviderRequest(request_id="acc", provider_id="prv-chaos", name="Chaos"),
                          metadata=plat.token("vdab", Role.REGISSEUR), timeout=30)
    return stub.CreateOffer(api.CreateOfferRequest(
        request_id="offer", title="Chaos course", price_cents=PRICE, hours=8, earliest_start="2026-03-01",
        latest_start="2026-12-31", instruments=[api.FUNDING_INSTRUMENT_TRAINING_BUDGET]),
        metadata=plat.token("prv-chaos", Role.PROVIDER), timeout=30).offer.offer_id


def kill_and_restart(plat: Platform, target: str) -> None:
    if target == "kafka":
        plat.broker.kill()
        time.sleep(BROKER_DOWN_S)
        plat.broker.start()
    elif target == "ferretdb":
        plat.db.kill()
        time.sleep(2.0)
        plat.db.start()
    else:
        plat.kill(target)
        time.sleep(1.0)
        plat.start(target)


def run(shared: Stack, *, kills: int, seed: int, persons: int = 30, pause_s: float = 4.0,
        progress: Callable[[str], None] = lambda _: None) -> Audit:
    audit = Audit()
    with running_platform(shared, persons, seed) as (plat, people, offer_id):
        load = Load(plat, people, offer_id, seed, audit)
        load.thread.start()
        try:
            for target in schedule(kills, seed):
                time.sleep(pause_s)
                progress(f"kill -9 {target}")
                kill_and_restart(plat, target)
                audit.kills.append(target)
            time.sleep(pause_s)
        finally:
            load.stop.set()
            load.thread.join(timeout=120)
        progress(f"load stopped after {len(load.acknowledged)} acknowledged enrolments; waiting until quiet")
        check(plat, load, people, audit)
    return audit


def check(plat: Platform, load: Load, people: list[str], audit: Audit) -> None:
    audit.acknowledged = len(load.acknowledged)
    regisseur = plat.token("vdab", Role.REGISSEUR)
    enrolments = api_rpc.EnrolmentServiceStub(grpc.insecure_channel(f"127.0.0.1:{plat.port('enrolments')}"))
    accounts = acc_rpc.AccountServiceStub(grpc.insecure_channel(f"127.0.0.1:{plat.port('accounts')}"))

    def settled() -> dict[str, api.Enrolment] | None:
        found = {}
        for enrolment_id in load.acknowledged:
            e = enrolments.GetEnrolment(api.GetEnrolmentRequest(enrolment_id=enrolment_id), metadata=regisseur,
                                        timeout=10).enrolment
            if e.status == api.ENROLMENT_STATUS_REQUESTED:
                return None
            found[enrolment_id] = e
        return found
    try:
        final = eventually(settled, 180, "every acknowledged enrolment to be answered")
    except AssertionError as exc:
        audit.anomalies.append(str(exc))
        return
    audit.statuses = Counter(api.EnrolmentStatus.Name(e.status).removeprefix("ENROLMENT_STATUS_")
                             for e in final.values())
    if len(set(load.acknowledged)) != len(load.acknowledged):
        audit.anomalies.append("one acknowledged enrolment id was answered for two posts")
    for enrolment_id in load.cancelled:
        if final[enrolment_id].status != api.ENROLMENT_STATUS_CANCELLED:
            audit.anomalies.append(f"cancelled enrolment {enrolment_id} is {final[enrolment_id].status}")
    ended = {i for i, e in final.items() if e.status in (api.ENROLMENT_STATUS_CANCELLED, api.ENROLMENT_STATUS_REJECTED,
                                                         api.ENROLMENT_STATUS_COMPLETED)}

    def accounts_settled() -> bool:
        for person_id in people:
            account = accounts.GetAccount(acc.GetAccountRequest(person_id=person_id), metadata=regisseur,
                                          timeout=10).account
            if any(h.status == "ACTIVE" and h.enrolment_id in ended for h in account.holds):
                return False
            captured = {h.enrolment_id for h in account.holds if h.captured > 0}
            if any(i in load.completed and i not in captured for i in final if final[i].person_id == person_id):
                return False
        return True
    with contextlib.suppress(AssertionError):
        eventually(accounts_settled, 120, "the accounts to follow the enrolments")
    for person_id in people:
        account = accounts.GetAccount(acc.GetAccountRequest(person_id=person_id), metadata=regisseur,
                                      timeout=10).account
        for hold in account.holds:
            if hold.status == "ACTIVE" and hold.enrolment_id in ended:
                audit.anomalies.append(f"hold {hold.reservation_id} outlives enrolment {hold.enrolment_id}")
        captured = {h.enrolment_id for h in account.holds if h.captured > 0}
        for enrolment_id in load.completed:
            if final[enrolment_id].person_id == person_id and enrolment_id not in captured:
                audit.anomalies.append(f"completed enrolment {enrolment_id} was never captured")
        for wallet in account.wallets:
            if wallet.balance < 0 or wallet.held < 0 or wallet.available < 0:
                audit.anomalies.append(f"{person_id} {wallet.wallet}: negative {wallet}")
        explained = accounts.ExplainBalance(acc.ExplainBalanceRequest(person_id=person_id), metadata=regisseur,
                                            timeout=10)
        kinds = Counter((line.entry.reservation_id, line.entry.kind) for line in explained.lines
                        if line.entry.reservation_id and line.entry.kind in ("RESERVE", "RELEASE"))
        audit.anomalies += [f"{person_id}: {kind} of {rid} applied {n} times" for (rid, kind), n in kinds.items()
                            if n > 1]
        balance = held = 0
        for line in explained.lines:  # recounted here from the entries, not taken from the service
            to_balance, to_held = EFFECT[line.entry.kind]
            balance, held = balance + to_balance * line.entry.amount, held + to_held * line.entry.amount
            if balance < 0 or held < 0 or balance < held:
                audit.anomalies.append(f"{person_id}: overspent after entry {line.entry.entry_id}")
        if (balance, held) != (explained.balance, explained.held):
            audit.anomalies.append(f"{person_id}: the ledger sums to {balance} ({held} held), the account says "
                                   f"{explained.balance} ({explained.held} held)")
    compare_kpis(plat, audit)


def compare_kpis(plat: Platform, audit: Audit) -> None:
    from tests.integration.kpi.conftest import expected_cells, read_source_partitions

    settings = KpiSettings(topic_namespace=plat.namespace)
    stub = kpi_rpc.KpiServiceStub(grpc.insecure_channel(f"127.0.0.1:{plat.port('kpi')}"))
    consumer = plat.token("statbel", Role.KPI_CONSUMER)

    def same() -> dict | None:
        expected = {(c.kpi, c.cell): to_pb(c).SerializeToString(deterministic=True)
                    for c in expected_cells(read_source_partitions(plat.broker.kafka, plat.namespace), settings)}
        served = {}
        for kpi in {k for k, _ in expected}:
            reply = stub.List(kpi_api.ListRequest(kpi=kpi, page_size=1000), metadata=consumer, timeout=30)
            served.update({(c.kpi, c.cell): c.SerializeToString(deterministic=True) for c in reply.cells})
        return expected if expected and served == expected else None
    try:
        audit.kpi_cells = len(eventually(same, 180, "the KPI cells to equal the recount", pause_s=3))
    except AssertionError as exc:
        audit.anomalies.append(str(exc))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--persons", type=int, default=30)
    args = parser.parse_args()
    stack = Stack()  # only for the Kafka jars and the FerretDB binary that `make deps` installed
    print(f"chaos: {args.kills} kills, seed {args.seed}, {args.persons} persons", flush=True)
    audit = run(stack, kills=args.kills, seed=args.seed, persons=args.persons,
                progress=lambda text: print(f"  {datetime.now():%H:%M:%S} {text}", flush=True))
    print(audit.report(), flush=True)
    return 1 if audit.anomalies else 0


if __name__ == "__main__":
    sys.exit(main())
