"""``python -m services.demo.feed``: the population feed on its own, for docker-compose.yml.

Publishes the synthetic Flanders of ``LLR_DEMO_PERSONS`` adults (seed ``LLR_DEMO_SEED``) as
PersonRegistered on ``llr.population.v1.events`` (as the principal ``population-feed``, the only one
that may write it: ``LLR_DEMO_KAFKA_BOOTSTRAP``, ``LLR_DEMO_KAFKA_PASSWORD``; the topic's namespace
from the accounts service's settings), on the real clock, and ends. The accounts service
opens their accounts and the KPI service counts them, so a compose stack does not start empty.
Event ids are derived from the person ids: running it again changes nothing.

The full demo (``python -m services.demo``, a simulated year) needs every service on one
accelerated clock, which ``make run`` arranges; compose runs the services on the real clock.
"""
from __future__ import annotations

import sys

from services.common.clock import Clock, SystemClock

from . import population
from .settings import DemoSettings


def feed(settings: DemoSettings, clock: Clock, **publish_options) -> int:
    people = population.generate(settings.persons, settings.seed, clock.now().date())
    publish_options.setdefault("kafka", settings.kafka)
    population.publish(people, clock, **publish_options)
    return len(people)


def main() -> int:
    count = feed(DemoSettings(), SystemClock())
    print(f"population feed: {count} persons registered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
