"""The enrolments service in-process on the real Kafka and FerretDB, on a FakeClock. The tests
play the accounts service (saga replies) and the certification service (leercoach certificates)
by producing their events, wrapped in the envelope, on the real broker."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import grpc
import pymongo
import pytest

from llr.accounts.v1 import events_pb2 as accounts_pb
from llr.certification.v1 import events_pb2 as cert_pb
from llr.enrolments.v1 import enrolments_service_pb2 as api
from llr.enrolments.v1 import enrolments_service_pb2_grpc as api_grpc
from llr.enrolments.v1 import events_pb2  # noqa: F401  (registers the payload types for unwrap)
from services.common.auth import Role
from services.common.clock import FakeClock
from services.common.envelope import decode, unwrap, wrap
from services.common.grpc_server import bearer
from services.common.kafka import make_consumer, make_producer
from services.common.tls import service_channel
from services.enrolments.entrypoints.main import build
from services.enrolments.settings import EnrolmentsSettings
from tests.eventually import eventually

# Mon 6 July 2026, 09:00 UTC. Planned start Fri 17 July; Tue 21 July is a public holiday, so the
# no-show deadline (3 working days) is Thu 23 July, firing at local midnight = 22:00 UTC.
START = datetime(2026, 7, 6, 9, 0, tzinfo=timezone.utc)
BUDGET = api.FUNDING_INSTRUMENT_TRAINING_BUDGET


class Client:
    def __init__(self, channel, token_for):
        self.stub = api_grpc.EnrolmentServiceStub(channel)
        self.token_for = token_for
        self.regisseur = token_for("vdab", Role.REGISSEUR)

    def provider(self, provider_id: str) -> str:
        return self.token_for(provider_id, Role.PROVIDER)

    def __call__(self, method: str, request, token: str | None = None):
        metadata = bearer(token) if token else None
        return getattr(self.stub, method)(request, metadata=metadata, timeout=120)

    def accredit(self, provider_id: str, **kw):
        return self("AccreditProvider", api.AccreditProviderRequest(
            request_id=f"acc-{provider_id}", provider_id=provider_id, name=f"Provider {provider_id}", **kw),
            self.regisseur).provider

    def offer(self, provider_id: str, request_id: str = "offer-1", **kw):
        fields = dict(title="Excel for accountants", price_cents=120_000, hours=40, earliest_start="2026-07-01",
                      latest_start="2026-09-30", instruments=[BUDGET, api.FUNDING_INSTRUMENT_TRAINING_CHEQUE])
        fields.update(kw)
        return self("CreateOffer", api.CreateOfferRequest(request_id=request_id, **fields),
                    self.provider(provider_id)).offer

    def enrol(self, provider_id: str, offer_id: str, ref: str = "REF-1", person_id: str = "person-1",
              request_id: str | None = None, **kw):
        return self("CreateEnrolment", enrol_request(offer_id, ref, person_id, request_id, **kw),
                    self.provider(provider_id)).enrolment

    def get(self, provider_id: str, enrolment_id: str):
        return self("GetEnrolment", api.GetEnrolmentRequest(enrolment_id=enrolment_id),
                    self.provider(provider_id)).enrolment


def enrol_request(offer_id: str, ref: str = "REF-1", person_id: str = "person-1", request_id: str | None = None,
                  **kw) -> api.CreateEnrolmentRequest:
    fields = dict(planned_start="2026-07-17", planned_end="2026-07-31", instrument=BUDGET)
    fields.update(kw)
    return api.CreateEnrolmentRequest(request_id=request_id or f"req-{ref}", person_id=person_id, offer_id=offer_id,
                                      provider_reference=ref, **fields)


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def settings(unique, mongo_uri, kafka, public_key_file):
    return EnrolmentsSettings(
        grpc_port=0, mongo_db=f"test_{unique}", topic_namespace=f"t{unique}.", auth_public_key_file=public_key_file,
        auth_issuer="llr-test-idp", mongo_uri=mongo_uri, **kafka.settings_fields(),
        deadline_interval_s=0.5, outbox_poll_interval_s=1.0, grpc_max_workers=64,
    )


@pytest.fixture
def runtime(settings, clock):
    rt = build(settings, clock)
    yield rt
    rt.stop(grace_s=1)
    client = pymongo.MongoClient(settings.mongo_uri)
    client.drop_database(settings.mongo_db)
    client.close()


@pytest.fixture
def client(runtime, token_for):
    channel = service_channel(runtime.settings, runtime.grpc.port,
                              options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    yield Client(channel, token_for)
    channel.close()


@pytest.fixture
def events(settings):
    """``events(until=predicate)``: the envelopes on the enrolments topic seen so far."""
    consumer = make_consumer(settings.kafka, settings.events_topic,
                             auto_offset_reset="earliest", group_id=f"test-{uuid.uuid4().hex[:8]}",
                             enable_auto_commit=False)
    seen: list = []

    def read(until, timeout_s: float = 60.0):
        def poll_and_check():
            for records in consumer.poll(timeout_ms=300).values():
                seen.extend(decode(r.value) for r in records)
            return until(seen)
        eventually(poll_and_check, timeout_s=timeout_s, pause_s=0,
                   what=lambda: f"events; seen: {types(seen)[:50]}")
        return list(seen)

    yield read
    consumer.close()


class Broker:
    """Plays the other services: produces their events on their topics."""

    def __init__(self, settings):
        self.settings = settings
        self.producer = make_producer(settings.kafka, "test-other-services")

    def _send(self, context: str, payload, aggregate_type: str, key: str, event_id: str | None = None):
        envelope = wrap(payload, aggregate_type=aggregate_type, aggregate_id=key, aggregate_version=1,
                        producer=context, occurred_at=START, event_id=event_id)
        self.producer.send(self.settings.topic(context), key=key.encode(), value=envelope.SerializeToString()).get(30)
        return envelope

    def reserved(self, enrolment_id: str, amount: int = 120_000, reservation_id: str | None = None, **kw):
        return self._send("accounts", accounts_pb.BudgetReserved(
            account_id="acc-1", person_id="person-1", reservation_id=reservation_id or f"res-{enrolment_id}",
            enrolment_id=enrolment_id, instrument="TRAINING_BUDGET", wallet="TRAINING_BUDGET", amount=amount,
            unit="EUR_CENT", capture_point="COMPLETION"), "account", "acc-1", **kw)

    def captured(self, enrolment_id: str, amount: int = 120_000, event_id: str | None = None):
        return self._send("accounts", accounts_pb.ReservationCaptured(
            account_id="acc-1", person_id="person-1", reservation_id=f"res-{enrolment_id}", enrolment_id=enrolment_id,
            amount=amount, unit="EUR_CENT", milestone="COMPLETION"), "account", "acc-1", event_id=event_id)

    def rejected(self, enrolment_id: str, reason: str = "INSUFFICIENT_FUNDS"):
        return self._send("accounts", accounts_pb.ReservationRejected(
            account_id="acc-1", person_id="person-1", enrolment_id=enrolment_id, instrument="TRAINING_BUDGET",
            reason=reason, detail="balance 0"), "account", "acc-1")

    def certificate(self, payload, certificate_id: str):
        return self._send("certification", payload, "certificate", certificate_id)

    def close(self):
        self.producer.close()


@pytest.fixture
def broker(settings, runtime):
    b = Broker(settings)
    yield b
    b.close()


def types(envelopes, aggregate_id: str | None = None) -> list[str]:
    return [e.event_type.rsplit(".", 1)[1] for e in envelopes if aggregate_id in (None, e.aggregate_id)]


def payload(envelope):
    return unwrap(envelope)


def wait_for(predicate, timeout_s: float = 90.0, what: str = "condition"):
    return eventually(predicate, timeout_s=timeout_s, what=what)


def rpc_error(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, **kwargs)
    return err.value


__all__ = ["Client", "cert_pb", "enrol_request", "START", "BUDGET"]
