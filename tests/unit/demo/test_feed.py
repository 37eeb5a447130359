"""The compose population feed: a synthetic Flanders as PersonRegistered, the same event ids
on every run (so the consumers ignore a second run)."""
from __future__ import annotations

from datetime import datetime, timezone

from services.common.clock import FakeClock
from services.common.envelope import decode
from services.demo import feed
from services.demo.settings import DemoSettings


class Producer:
    def __init__(self, sent):
        self.sent = sent

    def send(self, topic, key, value):
        self.sent.append((topic, key, value))

    def flush(self):
        pass

    def close(self):
        pass


def run_feed(monkeypatch, persons=25):
    sent, topics = [], []
    monkeypatch.setattr("services.common.kafka.ensure_topics", lambda bootstrap, specs, *a: topics.extend(specs))
    monkeypatch.setattr("services.common.kafka.make_producer", lambda *a, **k: Producer(sent))
    clock = FakeClock(datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
    count = feed.feed(DemoSettings(persons=persons, kafka_password="unused"), clock)
    return count, sent, topics


def test_the_feed_registers_every_person_once_with_stable_event_ids(monkeypatch):
    count, sent, topics = run_feed(monkeypatch)
    assert count == 25 == len(sent)
    assert [t.name for t in topics] == ["llr.population.v1.events"]
    envelopes = [decode(value) for _, _, value in sent]
    assert {e.event_type for e in envelopes} == {"llr.population.v1.PersonRegistered"}
    assert [key.decode() for _, key, _ in sent] == [e.aggregate_id for e in envelopes]
    _, again, _ = run_feed(monkeypatch)
    assert [decode(v).event_id for _, _, v in again] == [e.event_id for e in envelopes]
