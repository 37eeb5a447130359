"""The Kafka principals' table and how a process finds its credentials (services/common/kafka_security.py);
the broker enforcing them: tests/integration/common/test_kafka_acls.py."""
from __future__ import annotations

import pytest

from services.accounts.settings import AccountsSettings
from services.common.kafka_security import KafkaAuthError, acls
from services.demo.settings import DemoSettings


def allowed(namespace: str, principal: str, operation: str, topic: str) -> bool:
    return any(a.principal == principal and a.resource == "topic"
               and (operation in a.operations or "All" in a.operations)
               and (topic == a.name if a.pattern == "literal" else topic.startswith(a.name))
               for a in acls(namespace))


@pytest.mark.parametrize("namespace", ["", "e2eab12."])
def test_each_topic_has_one_writer_and_a_kpi_consumer_reads_only_kpi_topics(namespace):
    principals = {a.principal for a in acls(namespace)}
    contexts = ("population", "accounts", "certification", "enrolments")
    writer = {"population": "population-feed"}
    for context in contexts:
        topic = f"{namespace}llr.{context}.v1.events"
        assert {p for p in principals if allowed(namespace, p, "Write", topic)} == {writer.get(context, context)}
        assert not allowed(namespace, "kpi-consumer", "Read", topic)
        assert not allowed(namespace, "kpi-consumer", "Read", topic + ".dlq")
    assert allowed(namespace, "kpi-consumer", "Read", f"{namespace}llr.kpi.v1.cells")
    assert {p for p in principals if allowed(namespace, p, "Write", f"{namespace}llr.kpi.v1.cells")} == {"kpi"}
    # A namespace's ACLs say nothing about the topics of make run (or of another namespace).
    if namespace:
        assert not any(allowed(namespace, p, "Read", "llr.population.v1.events") for p in principals)


def test_a_reader_dead_letters_to_its_topics_dlq_and_only_there():
    assert allowed("", "accounts", "Write", "llr.population.v1.events.dlq")
    assert not allowed("", "accounts", "Write", "llr.certification.v1.events.dlq")


def test_a_service_logs_in_as_itself_and_the_feed_as_the_feed(tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    access = AccountsSettings(kafka_password_file=tmp_path / "pw").kafka
    assert (access.username, access.password) == ("accounts", "s3cret")
    assert "s3cret" not in repr(access)
    assert DemoSettings(kafka_password="x").kafka.username == "population-feed"


def test_a_missing_password_is_an_error_naming_the_principal_and_the_setting(tmp_path):
    with pytest.raises(KafkaAuthError, match=r"principal 'accounts' missing.*LLR_ACCOUNTS_KAFKA_PASSWORD"):
        AccountsSettings(kafka_password_file=tmp_path / "nowhere").kafka
