"""The broker's ACLs hold (services/common/kafka_security.py): a KPI consumer reads the KPI topics
and nothing person-level, only the feed writes the population feed, a service writes only its
own topics, and a wrong password is refused with an error naming the principal.

Every topic lives in a namespace of this test, with the platform's ACLs for that namespace
(``Stack.grant_kafka``), so the rules are the same as on the unprefixed topics of ``make run``."""
from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import TopicAuthorizationFailedError as AioTopicAuthorizationFailed
from kafka.errors import TopicAuthorizationFailedError

from services.common.kafka import TopicSpec, ensure_topics, make_producer
from services.common.kafka_security import KafkaAccess, KafkaAuthError

SERVICES = ("accounts", "certification", "enrolments")
PERSON_LEVEL = [f"llr.{c}.v1.events" for c in ("population", *SERVICES)]
KPI_TOPICS = ["llr.kpi.v1.cells", "llr.kpi.v1.history"]


@pytest.fixture
def namespace(stack, kafka, unique):
    ns = f"acl{unique}."
    stack.grant_kafka(ns)
    ensure_topics(kafka, [TopicSpec(ns + t, partitions=1) for t in PERSON_LEVEL + KPI_TOPICS])
    return ns


def first_record(access: KafkaAccess, topic: str, group: str):
    """The first record of ``topic`` read by a subscribed aiokafka consumer (faust's client)."""
    async def read():
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=access.bootstrap, security_protocol="SASL_PLAINTEXT",
                                    sasl_mechanism="SCRAM-SHA-512", sasl_plain_username=access.username,
                                    sasl_plain_password=access.password, group_id=group,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            return await asyncio.wait_for(consumer.getone(), 30)
        finally:
            await consumer.stop()
    return asyncio.run(read())


def send(access: KafkaAccess, topic: str) -> None:
    # A principal without WRITE on any topic cannot even get an idempotent producer id: the KPI
    # consumer's attempt is a plain produce request, refused for the topic.
    options = {"enable_idempotence": False} if access.username == "kpi-consumer" else {}
    producer = make_producer(access, f"acl-test-{access.username}", **options)
    try:
        producer.send(topic, key=b"k", value=b"v").get(30)
    finally:
        producer.close(timeout=5)


def test_a_kpi_consumer_reads_the_kpi_topics_and_nothing_person_level(stack, namespace):
    send(stack.kafka_access("kpi"), namespace + "llr.kpi.v1.cells")
    consumer = stack.kafka_access("kpi-consumer")
    group = f"{namespace}kpi-consumer.dashboard"
    assert first_record(consumer, namespace + "llr.kpi.v1.cells", group).value == b"v"
    for topic in PERSON_LEVEL:
        send(stack.kafka_access("population-feed" if "population" in topic else topic.split(".")[1]),
             namespace + topic)
        with pytest.raises(AioTopicAuthorizationFailed):
            first_record(consumer, namespace + topic, group)


def test_only_the_feed_writes_the_population_feed_and_a_service_only_its_own_topic(stack, namespace):
    population = namespace + "llr.population.v1.events"
    send(stack.kafka_access("population-feed"), population)
    for principal in (*SERVICES, "kpi", "kpi-consumer"):
        with pytest.raises(TopicAuthorizationFailedError):
            send(stack.kafka_access(principal), population)
    for writer in SERVICES:
        send(stack.kafka_access(writer), f"{namespace}llr.{writer}.v1.events")
        for other in SERVICES:
            if other != writer:
                with pytest.raises(TopicAuthorizationFailedError):
                    send(stack.kafka_access(writer), f"{namespace}llr.{other}.v1.events")
    with pytest.raises(TopicAuthorizationFailedError):
        send(stack.kafka_access("accounts"), namespace + "llr.kpi.v1.cells")


def test_a_wrong_password_is_refused_naming_the_principal(stack, namespace):
    wrong = KafkaAccess(stack.settings.kafka_bootstrap, "accounts", "not-its-password")
    with pytest.raises(KafkaAuthError, match="Kafka authentication failed for principal 'accounts'"):
        ensure_topics(wrong, [TopicSpec(namespace + "llr.accounts.v1.events")])


def test_data_formatted_before_sasl_gets_every_principal_at_the_next_start(stack, tmp_path):
    """A developer's .llr/data/kafka from before SASL: the first start sets the credentials."""
    import subprocess

    from infra.stack import InfraSettings, Stack, kafka_cluster_id
    from services.common.kafka_security import PRINCIPAL_NAMES, logs_in

    from .private_servers import quiet_port

    for shared in ("kafka", "bin", "keys"):
        (tmp_path / shared).symlink_to(stack.settings.home / shared, target_is_directory=True)
    old = Stack(InfraSettings(home=tmp_path, kafka_port=quiet_port(), kafka_controller_port=quiet_port(),
                              ferretdb_port=quiet_port(), kafka_heap="256m", start_timeout_s=90))
    old.kafka_config.parent.mkdir(parents=True)
    old.kafka_config.write_text(old._kafka_rendered_config())
    old.kafka_data.mkdir(parents=True)
    formatted = subprocess.run([*old._java_base(), "kafka.tools.StorageTool", "format", f"--cluster-id={kafka_cluster_id()}",
                                "-c", str(old.kafka_config)], capture_output=True, text=True)
    assert formatted.returncode == 0, formatted.stderr
    try:
        old.start()
        assert all(logs_in(old.kafka_access(p)) for p in PRINCIPAL_NAMES)
        ensure_topics(old.kafka_access(), [TopicSpec("llr.population.v1.events", partitions=1)])
        with pytest.raises(TopicAuthorizationFailedError):   # and the ACLs hold
            send(old.kafka_access("accounts"), "llr.population.v1.events")
    finally:
        old.stop()
