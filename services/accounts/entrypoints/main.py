"""The accounts service process: ``python -m services.accounts.entrypoints.main``.

``build(settings, clock)`` wires MongoDB (alias ``accounts``), the event topic, the outbox relay,
the population-feed and funding-saga consumers, the career-cheque expiry job, the yearly-credit job
and the gRPC API (accounts, budget openings and career guidance at career centres).
"""
from __future__ import annotations

from datetime import timedelta

from services.common.clock import Clock, clock_from_settings
from services.common.kafka import TopicSpec
from services.common.logs import setup_logging
from services.common.persistence import MongoStores
from services.common.runtime import ServiceRuntime

from ..adapters.repository import AccountRepository
from ..service.guidance import CareerGuidance
from ..service.handlers import AccountsService
from ..service.openings import BudgetOpenings
from ..service.yearly_credits import YearlyCredits
from ..settings import AccountsSettings
from .grpc_api import registration


def build(settings: AccountsSettings, clock: Clock | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(settings, clock)
    db = runtime.connect_mongo()
    repo = AccountRepository(MongoStores(db), settings.events_topic)
    topics = [settings.events_topic, settings.topic("population"), settings.topic("enrolments")]
    runtime.ensure_topics(TopicSpec(t, partitions=settings.topic_partitions) for t in topics)
    runtime.add_outbox_relay([repo.outbox])
    service = AccountsService(repo, runtime.clock)
    runtime.add_consumer("population", [settings.topic("population")], service.on_population_event)
    runtime.add_consumer("funding-saga", [settings.topic("enrolments")], service.on_enrolment_event)
    runtime.add_periodic("career-cheque-expiry", settings.expiry_interval_s, service.expire_cheques)
    yearly = YearlyCredits(repo, runtime.clock, service.catalog, batch=settings.yearly_credit_batch,
                           workers=settings.yearly_credit_workers, duty=settings.yearly_credit_duty)
    runtime.add_periodic("yearly-credits", settings.yearly_credit_interval_s, yearly.run)
    openings = BudgetOpenings(repo, runtime.clock, service, timedelta(seconds=settings.opening_draw_settle_s))
    guidance = CareerGuidance(repo, runtime.clock, service)
    runtime.serve_grpc([registration(service, openings, guidance)])
    runtime.service = service
    runtime.openings = openings
    runtime.yearly_credits = yearly
    runtime.guidance = guidance
    return runtime


def main() -> None:
    settings = AccountsSettings()
    setup_logging(settings.service_name, settings.log_level)
    build(settings, clock_from_settings(settings)).run_forever()


if __name__ == "__main__":
    main()
