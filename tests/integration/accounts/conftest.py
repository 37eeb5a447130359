"""The accounts service in-process on the real Kafka and FerretDB, on a FakeClock."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from llr.accounts.v1 import events_pb2  # noqa: F401  (registers payload types for unwrap)
from llr.enrolments.v1 import events_pb2 as enrolment_events
from llr.population.v1 import events_pb2 as pop
from services.accounts.entrypoints.main import build
from services.accounts.settings import AccountsSettings
from services.common.clock import FakeClock
from services.common.envelope import decode, unwrap, wrap
from services.common.kafka import make_consumer, make_producer
from services.common.mongo import make_client
from services.common.tls import service_channel
from tests.eventually import eventually

START = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)


def person_registered(person_id: str, *, experience_days: int = 4000, education=pop.EDUCATION_LEVEL_MEDIUM):
    return pop.PersonRegistered(person_id=person_id, attributes=pop.PersonAttributes(
        birth_date="1980-05-01", sex=pop.SEX_FEMALE, municipality_nis_code="44021", education_level=education,
        birth_country_group=pop.BIRTH_COUNTRY_GROUP_BELGIUM, labour_status=pop.LABOUR_STATUS_EMPLOYED,
        work_history=pop.WorkHistory(work_experience_months=experience_days * 12 // 365,
                                     work_experience_days=experience_days)))


def enrolment_requested(enrolment_id: str, person_id: str, price_cents: int):
    return enrolment_events.EnrolmentRequested(
        enrolment_id=enrolment_id, person_id=person_id, provider_id="prov-1", offer_id="off-1",
        provider_reference=f"ref-{enrolment_id}", instrument="TRAINING_BUDGET", planned_start="2025-04-01",
        planned_end="2025-05-01", price_cents=price_cents, hours=20, policy_version="2025.1")


class Harness:
    def __init__(self, settings, runtime, clock, kafka):
        self.settings, self.runtime, self.clock = settings, runtime, clock
        self.service = runtime.service
        self.channel = service_channel(settings, runtime.grpc.port)
        self.producer = make_producer(kafka, "accounts-test")
        self.consumer = make_consumer(kafka, settings.events_topic,
                                      auto_offset_reset="earliest", consumer_timeout_ms=500)
        self.seen: list = []

    def send(self, context: str, payload, key: str, event_id: str | None = None):
        env = wrap(payload, aggregate_type=context, aggregate_id=key, aggregate_version=1, producer="test",
                   occurred_at=self.clock.now(), event_id=event_id)
        self.producer.send(self.settings.topic(context), key=key.encode(), value=env.SerializeToString()).get(30)
        return env

    def wait_for(self, predicate, timeout_s: float = 60.0):
        """Accounts events read so far, once ``predicate(events)`` holds (or fail after the timeout)."""
        def read_and_check():
            for record in self.consumer:   # until consumer_timeout_ms passes without a record
                env = decode(record.value)
                self.seen.append((env, unwrap(env)))
            return self.seen if predicate(self.seen) else None
        return eventually(read_and_check, timeout_s=timeout_s, pause_s=0,
                          what=lambda: f"the accounts events; seen: {[type(p).__name__ for _, p in self.seen]}")

    def of_type(self, name: str):
        return [p for _, p in self.seen if type(p).__name__ == name]


@pytest.fixture
def accounts(kafka, mongo_uri, unique, public_key_file):
    clock = FakeClock(START)
    settings = AccountsSettings(grpc_port=0, mongo_db=f"test_acc_{unique}", topic_namespace=f"t{unique}.",
                                mongo_uri=mongo_uri, **kafka.settings_fields(),
                                auth_public_key_file=public_key_file, auth_issuer="llr-test-idp",
                                outbox_poll_interval_s=0.05)
    runtime = build(settings, clock)
    harness = Harness(settings, runtime, clock, kafka)
    yield harness
    harness.channel.close()
    harness.consumer.close()
    harness.producer.close()
    runtime.stop(1)
    client = make_client(mongo_uri)
    client.drop_database(settings.mongo_db)
    client.close()
