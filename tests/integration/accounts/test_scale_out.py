"""Two accounts service processes on one database and one broker: the funding saga stays exact.

Each process runs ``python -m services.accounts.entrypoints.main`` with the same settings, so both
consume the enrolment topic in one consumer group (its partitions split between them) and both
write the same account, with no lock shared between them: only the commit insert of
``services.common.persistence`` keeps them apart."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from kafka import KafkaConsumer

from infra.run import free_port
from services.accounts.adapters.repository import AccountRepository
from services.accounts.domain import BUDGET_WALLET, Account
from services.accounts.adapters.codec import decode as decode_state
from services.common.envelope import decode, unwrap, wrap
from services.common.kafka import make_admin, make_consumer, make_producer
from services.common.mongo import make_client
from services.common.persistence import MongoStores

from .conftest import START, enrolment_requested, person_registered

REPO = Path(__file__).resolve().parents[3]
REQUESTS = 200
PRICE = 5_000  # the 2025 yearly credit of 50,000 funds exactly ten


def _answers(consumer: KafkaConsumer, seen: dict, timeout_s: float, until) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not until(seen):
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                env = decode(record.value)
                seen.setdefault(env.event_id, unwrap(env))
    return seen


def test_two_processes_fund_exactly_what_one_budget_covers(stack, kafka, mongo_uri, unique, public_key_file):
    namespace, db_name = f"t{unique}.", f"test_acc_{unique}"
    stack.grant_kafka(namespace)  # the processes log in as the accounts principal
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLR_") or k.startswith("LLR_INFRA_")}
    env.update(LLR_ACCOUNTS_MONGO_URI=mongo_uri, LLR_ACCOUNTS_MONGO_DB=db_name, LLR_ACCOUNTS_KAFKA_BOOTSTRAP=kafka.bootstrap,
               LLR_ACCOUNTS_TOPIC_NAMESPACE=namespace, LLR_ACCOUNTS_AUTH_PUBLIC_KEY_FILE=str(public_key_file),
               LLR_ACCOUNTS_AUTH_ISSUER="llr-test-idp", LLR_ACCOUNTS_TOPIC_PARTITIONS="4",
               LLR_ACCOUNTS_OUTBOX_POLL_INTERVAL_S="0.05",
               # The processes live on the test's day (START, at real speed), so the account opens
               # with START's yearly credit only (opening on a later day would also credit the years
               # since, and the yearly-credit job the current one).
               LLR_ACCOUNTS_SIM_START=START.isoformat(),
               LLR_ACCOUNTS_SIM_EPOCH=datetime.now(timezone.utc).isoformat())
    procs = [subprocess.Popen([sys.executable, "-m", "services.accounts.entrypoints.main"], cwd=REPO,
                              env={**env, "LLR_ACCOUNTS_GRPC_PORT": str(free_port())},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    producer = make_producer(kafka, "scale-out-test")
    consumer = make_consumer(kafka, auto_offset_reset="earliest",
                             group_id=f"{namespace}reader")
    admin = make_admin(kafka, "test-admin")
    client = make_client(mongo_uri)
    try:
        group = f"{namespace}accounts.funding-saga"
        deadline = time.monotonic() + 90
        members = []
        while time.monotonic() < deadline:  # both processes joined and got partitions
            assert all(p.poll() is None for p in procs), [p.stderr.read()[-2000:] for p in procs if p.poll() is not None]
            described = admin.describe_consumer_groups([group])[0]
            members = [m for m in described.members if m.member_assignment and m.member_assignment.assignment
                       and any(parts for _, parts in m.member_assignment.assignment)]
            if described.state == "Stable" and len(members) == 2:
                break
            time.sleep(0.5)
        assert len(members) == 2, f"the funding saga group did not split over two processes: {described}"
        consumer.subscribe([f"{namespace}llr.accounts.v1.events"])

        def send(context, payload, key, event_id):
            envelope = wrap(payload, aggregate_type=context, aggregate_id=key, aggregate_version=1, producer="test",
                            occurred_at=START, event_id=event_id)
            producer.send(f"{namespace}llr.{context}.v1.events", key=key.encode(), value=envelope.SerializeToString())

        send("population", person_registered("p-rush"), "p-rush", "reg-p-rush")
        producer.flush()
        opened = _answers(consumer, {}, 60, lambda s: any(type(p).__name__ == "AccountOpened" for p in s.values()))
        assert any(type(p).__name__ == "AccountOpened" for p in opened.values())
        for i in range(REQUESTS):  # keyed by enrolment: spread over all four partitions
            send("enrolments", enrolment_requested(f"e-{i}", "p-rush", PRICE), f"e-{i}", f"req-{i}")
        producer.flush()

        def answered(seen):
            return {p.enrolment_id for p in seen.values() if type(p).__name__ in ("BudgetReserved", "ReservationRejected")}
        seen = _answers(consumer, opened, 240, lambda s: len(answered(s)) == REQUESTS)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        consumer.close()
        admin.close()
        producer.close()
    try:
        assert all(p.returncode == 0 for p in procs), [p.stderr.read()[-2000:] for p in procs]
        answers: dict[str, set[str]] = {}
        for payload in seen.values():
            if type(payload).__name__ in ("BudgetReserved", "ReservationRejected"):
                answers.setdefault(payload.enrolment_id, set()).add(type(payload).__name__)
        assert len(answers) == REQUESTS, "every request was answered"
        assert all(len(kinds) == 1 for kinds in answers.values()), "no request was both reserved and rejected"
        assert sum("BudgetReserved" in kinds for kinds in answers.values()) == 10

        db = client[db_name]
        repo = AccountRepository(MongoStores(db), "unused")
        account = repo.get("p-rush").account
        assert (account.available(BUDGET_WALLET), account.held(BUDGET_WALLET)) == (0, 10 * PRICE)
        account.check_invariants()
        assert sum(e.balance_delta for e in account.entries if e.wallet == BUDGET_WALLET) == account.balance(BUDGET_WALLET)
        # every committed version of the account, in both processes' order: never below zero
        versions = repo.accounts.history(account.account_id)
        available = [Account.from_state(decode_state(r.body["state"])).available(BUDGET_WALLET) for r in versions]
        assert min(available) == 0 and available == sorted(available, reverse=True)
    finally:
        client.drop_database(db_name)
        client.close()
