"""Process entrypoint of the enrolments service.

``build(settings, clock)`` wires the runtime: the database (``EnrolmentRepository``), topics,
the outbox relay, the consumers of the accounts' saga replies and of the certification events
(leercoach projection), the periodic deadline job and the gRPC API. ``main()`` runs it.
"""
from __future__ import annotations

from llr.accounts.v1 import events_pb2 as _accounts_events  # noqa: F401  (payload types for unwrap)
from llr.certification.v1 import events_pb2 as _certification_events  # noqa: F401

from services.common.clock import Clock, clock_from_settings
from services.common.kafka import TopicSpec
from services.common.logs import setup_logging
from services.common.persistence import MongoStores
from services.common.runtime import ServiceRuntime

from ..adapters.repository import EnrolmentRepository
from ..domain.policy import default_policy_book, load_policy_book
from ..service.handlers import EnrolmentService
from ..settings import EnrolmentsSettings
from .grpc_api import registration


def build(settings: EnrolmentsSettings, clock: Clock | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(settings, clock)
    try:
        repo = EnrolmentRepository(MongoStores(runtime.connect_mongo()))
        accounts_topic, certification_topic = settings.topic("accounts"), settings.topic("certification")
        runtime.ensure_topics([TopicSpec(t, partitions=settings.topic_partitions)
                               for t in (settings.events_topic, accounts_topic, certification_topic)])
        runtime.add_outbox_relay([repo.outbox])
        policies = load_policy_book(settings.policy_file) if settings.policy_file else default_policy_book()
        service = EnrolmentService(repo, clock=runtime.clock, policies=policies, events_topic=settings.events_topic)
        runtime.add_consumer("funding-saga", [accounts_topic], service.on_accounts_event)
        runtime.add_consumer("leercoach-projection", [certification_topic], service.on_certification_event)
        runtime.add_periodic("deadlines", settings.deadline_interval_s, service.fire_due_deadlines)
        runtime.serve_grpc([registration(service)])
    except BaseException:
        runtime.stop(grace_s=0)
        raise
    return runtime


def main() -> None:
    settings = EnrolmentsSettings()
    setup_logging(settings.service_name, settings.log_level)
    build(settings, clock_from_settings(settings)).run_forever()


if __name__ == "__main__":
    main()
