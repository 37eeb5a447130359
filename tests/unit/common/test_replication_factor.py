"""Every topic a service creates gets the replication factor of its settings (a cluster needs at
least min.insync.replicas, or acks=all writes fail): its own topics, dead-letter topics and
faust's changelog topics."""
from __future__ import annotations

from services.common import kafka, runtime
from services.common.faust_app import make_faust_app
from services.common.kafka import DeadLetters, KafkaAccess, TopicSpec
from services.common.runtime import ServiceRuntime
from services.kpi.settings import KpiSettings


def test_the_setting_defaults_to_the_single_local_broker():
    assert KpiSettings().topic_replication_factor == 1


def test_the_runtime_creates_topics_and_dead_letter_topics_with_the_setting(monkeypatch):
    calls = []
    monkeypatch.setattr(runtime, "ensure_topics", lambda bootstrap, specs, factor: calls.append(factor))
    monkeypatch.setattr(kafka, "ensure_topics", lambda bootstrap, specs, factor: calls.append(factor))
    settings = KpiSettings(topic_replication_factor=3, kafka_password="unused")
    service = ServiceRuntime(settings)
    service.ensure_topics([TopicSpec("t")])
    consumer = service.add_consumer("g", ["t"], handler=lambda envelope: None)
    service.stop(grace_s=0)
    assert consumer.dead_letters._replication_factor == 3
    record = type("Record", (), {"topic": "t", "partition": 0, "offset": 1, "key": b"k", "value": b"v"})()
    dead_letters = DeadLetters(KafkaAccess("nowhere:9092", "kpi", "unused"), replication_factor=3)
    dead_letters._producer = type("Producer", (), {"send": lambda *a, **k: type("F", (), {"get": lambda s, t: None})()})()
    dead_letters.send(record, "reason")
    assert calls == [3, 3]


def test_faust_creates_its_topics_with_the_setting(tmp_path):
    app = make_faust_app(KpiSettings(topic_replication_factor=3, kafka_password="unused"), "test-app", tmp_path)
    assert app.conf.topic_replication_factor == 3
