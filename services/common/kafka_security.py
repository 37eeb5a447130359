"""Who may do what on Kafka: the principals of the platform, their credentials and their ACLs.

Every client authenticates with SASL/SCRAM-SHA-512 (kafka-python, aiokafka and faust support it;
Strimzi's ``KafkaUser`` calls it ``scram-sha-512``) and the broker's authorizer lets a principal do
only what ``PRINCIPALS`` grants it:

| principal | writes | reads | groups |
|---|---|---|---|
| ``accounts`` | ``llr.accounts.v1.events`` | population feed, enrolments | ``accounts.*`` |
| ``certification`` | ``llr.certification.v1.events`` | - | ``certification.*`` |
| ``enrolments`` | ``llr.enrolments.v1.events`` | accounts, certification | ``enrolments.*`` |
| ``kpi`` | ``llr.kpi.v1.cells``, ``llr.kpi.v1.history``, faust's ``llr-kpi*`` topics | the four event topics | ``llr-kpi*`` (faust) |
| ``population-feed`` | ``llr.population.v1.events`` | - | - |
| ``kpi-consumer`` | - | ``llr.kpi.v1.*`` | ``kpi-consumer*`` |
| ``llr-admin`` | super user: the local broker's own (inter-broker) login, topic and ACL administration, tests | | |

A principal that reads a topic may also create it (so that it can subscribe before the producer
first ran; creating is not writing) and writes the topic's dead-letter topic ``<topic>.dlq``.
Idempotent producers need WRITE on a topic only (Kafka >= 3.0); no client uses transactions.
Test runs and the benchmark prefix every topic and group with a namespace (``topic_namespace``);
their ACLs carry the same prefix (``acls(namespace)``).
"""
from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path

MECHANISM = "SCRAM-SHA-512"
ADMIN = "llr-admin"
DLQ_SUFFIX = ".dlq"

# kafka-python warns on every SASL_PLAINTEXT connection that credentials travel in the clear: not
# so for SCRAM, which sends a salted proof, never the password.
logging.getLogger("kafka.sasl.scram").setLevel(logging.ERROR)


class KafkaAuthError(RuntimeError):
    """Credentials missing or refused by the broker; the message names the principal."""


@dataclass(frozen=True)
class KafkaAccess:
    """Where a client connects and as whom."""

    bootstrap: str
    username: str
    password: str = field(repr=False)

    def client_config(self) -> dict:
        """Settings of a kafka-python client (producer, consumer, admin)."""
        return dict(bootstrap_servers=self.bootstrap, security_protocol="SASL_PLAINTEXT", sasl_mechanism=MECHANISM,
                    sasl_plain_username=self.username, sasl_plain_password=self.password)

    def faust_credentials(self):
        import faust

        return faust.SASLCredentials(username=self.username, password=self.password, mechanism=MECHANISM)

    def settings_fields(self) -> dict:
        """The fields of a service's settings object (``ServiceSettings``) that say the same."""
        return dict(kafka_bootstrap=self.bootstrap, kafka_username=self.username, kafka_password=self.password)

    def auth_error(self, exc: BaseException | None = None) -> KafkaAuthError:
        return KafkaAuthError(f"Kafka authentication failed for principal {self.username!r} at {self.bootstrap}: "
                              f"the broker refused its SCRAM credentials; check its password (the service's KAFKA_PASSWORD or "
                              f"KAFKA_PASSWORD_FILE setting; locally `make run` creates it under .llr/keys/kafka)")


def logs_in(kafka: KafkaAccess, timeout_s: float = 10.0) -> bool:
    """Whether the first bootstrap broker accepts ``kafka``'s credentials: True, False when it
    refuses them; raises ``KafkaConnectionError`` when it does not answer.

    kafka-python's clients do not say why a connection failed (a refused login surfaces as
    "IncompatibleBrokerVersion" or "NoBrokersAvailable"), so this opens one connection itself and
    keeps the error it is closed with."""
    from kafka.conn import BrokerConnection
    from kafka.errors import KafkaConnectionError, SaslAuthenticationFailedError

    errors: list[BaseException] = []

    class Probe(BrokerConnection):
        def close(self, error=None):
            if error is not None:
                errors.append(error)
            super().close(error)

    host, _, port = kafka.bootstrap.split(",")[0].strip().rpartition(":")
    config = {k: v for k, v in kafka.client_config().items() if k != "bootstrap_servers"}
    conn = Probe(host, int(port), socket.AF_UNSPEC, client_id="llr-login-check", **config)
    try:
        if conn.connect_blocking(timeout_s):
            return True
    finally:
        conn.close()
    if any(isinstance(e, SaslAuthenticationFailedError) for e in errors):
        return False
    raise KafkaConnectionError(f"Kafka at {kafka.bootstrap} does not answer: {errors[-1] if errors else 'timeout'}")


def password_file(keys_dir: Path, principal: str) -> Path:
    return keys_dir / "kafka" / f"{principal}.password"


def read_password(path: Path, principal: str, setting: str) -> str:
    try:
        password = path.read_text().strip()
    except OSError as exc:
        raise KafkaAuthError(f"Kafka credentials for principal {principal!r} missing: cannot read {path} ({exc}); "
                             f"set {setting} (locally `make run` and `make test` create it)") from exc
    if not password:
        raise KafkaAuthError(f"Kafka credentials for principal {principal!r} missing: {path} is empty")
    return password


# -- ACLs ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Principal:
    name: str
    writes: tuple[str, ...] = ()        # topics it produces to (and may create)
    reads: tuple[str, ...] = ()         # topics it consumes (may create; writes their .dlq)
    read_prefixes: tuple[str, ...] = () # topic prefixes it may only read
    group_prefix: str = ""              # consumer groups (prefix)
    owned_prefix: str = ""              # topics and groups it owns entirely (faust's internal topics)


def _events(context: str) -> str:
    return f"llr.{context}.v1.events"


KPI_TOPIC_PREFIX = "llr.kpi.v1."
KPI_APP_PREFIX = "llr-kpi"   # faust application ids of the KPI service (services/kpi/settings.py)

PRINCIPALS: tuple[Principal, ...] = (
    Principal("accounts", writes=(_events("accounts"),), reads=(_events("population"), _events("enrolments")),
              group_prefix="accounts."),
    Principal("certification", writes=(_events("certification"),), group_prefix="certification."),
    Principal("enrolments", writes=(_events("enrolments"),), reads=(_events("accounts"), _events("certification")),
              group_prefix="enrolments."),
    Principal("kpi", writes=(KPI_TOPIC_PREFIX + "cells", KPI_TOPIC_PREFIX + "history"),
              reads=tuple(_events(c) for c in ("population", "enrolments", "accounts", "certification")),
              owned_prefix=KPI_APP_PREFIX),
    Principal("population-feed", writes=(_events("population"),)),
    Principal("kpi-consumer", read_prefixes=(KPI_TOPIC_PREFIX,), group_prefix="kpi-consumer"),
)
PRINCIPAL_NAMES = (ADMIN, *(p.name for p in PRINCIPALS))


@dataclass(frozen=True)
class Acl:
    principal: str
    resource: str        # "topic" or "group"
    name: str
    pattern: str         # "literal" or "prefixed"
    operations: tuple[str, ...]   # Kafka's names: Read, Write, Create, Describe, ...


def acls(namespace: str = "") -> list[Acl]:
    """Every ACL of the platform for topics and groups prefixed with ``namespace``."""
    out: list[Acl] = []
    for p in PRINCIPALS:
        def topic(name, pattern, *ops, _p=p):
            out.append(Acl(_p.name, "topic", namespace + name, pattern, ops))
        for t in p.writes:
            topic(t, "literal", "Write", "Describe", "Create")
        for t in p.reads:
            topic(t, "literal", "Read", "Describe", "Create")
            topic(t + DLQ_SUFFIX, "literal", "Write", "Describe", "Create")
        for prefix in p.read_prefixes:
            topic(prefix, "prefixed", "Read", "Describe")
        if p.group_prefix:
            out.append(Acl(p.name, "group", namespace + p.group_prefix, "prefixed", ("Read",)))
        if p.owned_prefix:
            topic(p.owned_prefix, "prefixed", "All")
            out.append(Acl(p.name, "group", namespace + p.owned_prefix, "prefixed", ("Read",)))
    return out


def kafka_python_acls(namespace: str = "") -> list:
    """``acls(namespace)`` as kafka-python ``ACL`` objects, one per operation."""
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ResourcePattern, ResourceType
    from kafka.admin.acl_resource import ACLResourcePatternType

    operation = {"Read": ACLOperation.READ, "Write": ACLOperation.WRITE, "Create": ACLOperation.CREATE,
                 "Describe": ACLOperation.DESCRIBE, "All": ACLOperation.ALL}
    out = []
    for a in acls(namespace):
        pattern = ResourcePattern(ResourceType.TOPIC if a.resource == "topic" else ResourceType.GROUP, a.name,
                                  ACLResourcePatternType.LITERAL if a.pattern == "literal"
                                  else ACLResourcePatternType.PREFIXED)
        out += [ACL(f"User:{a.principal}", "*", operation[op], ACLPermissionType.ALLOW, pattern)
                for op in a.operations]
    return out


def grant(admin: KafkaAccess, namespace: str = "") -> None:
    """Create the platform's ACLs for topics and groups prefixed with ``namespace``, as the admin
    principal (creating an ACL that exists changes nothing)."""
    from kafka import KafkaAdminClient

    client = KafkaAdminClient(**admin.client_config(), request_timeout_ms=15000, client_id="llr-acls")
    try:
        result = client.create_acls(kafka_python_acls(namespace))
    finally:
        client.close()
    if result["failed"]:
        raise RuntimeError(f"creating Kafka ACLs failed: {result['failed'][:3]}")


def main() -> int:
    """``python -m services.common.kafka_security``: create the platform's ACLs on the broker of
    ``LLR_KAFKA_ADMIN_KAFKA_BOOTSTRAP`` as ``llr-admin`` (docker-compose.yml's kafka-acls)."""
    from services.common.settings import KafkaAdminSettings

    settings = KafkaAdminSettings()
    grant(settings.kafka, settings.namespace)
    print(f"Kafka ACLs of {len(PRINCIPALS)} principals in place on {settings.kafka_bootstrap}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
