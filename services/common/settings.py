"""Settings shared by every service; each service declares ONE subclass with its own env prefix.

    class EnrolmentsSettings(ServiceSettings):
        model_config = service_config("LLR_ENROLMENTS_")
        service_name: str = "enrolments"
        grpc_port: int = 50061

Nothing else in a service reads ``os.environ``. Defaults point at the local stack that
``infra/stack.py`` runs on loopback; docker-compose and Kubernetes override them per service.
"""
from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .auth import audience_of
from .kafka_security import KafkaAccess, password_file, read_password
from .tls import is_loopback

REPO = Path(__file__).resolve().parents[2]
# Where the local platform keeps its keys and data: the home of the local infrastructure
# (``infra.stack.InfraSettings.home``, ``LLR_INFRA_HOME``), by default ``.llr`` in the repository,
# so that the services, the CLI and ``make reset`` agree on one place.
DEFAULT_HOME = Path(os.environ.get("LLR_INFRA_HOME") or REPO / ".llr")


def service_config(env_prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=env_prefix, extra="forbid", frozen=True)


class KafkaClientSettings(BaseSettings):
    """Where a process finds Kafka and as which principal it logs in (SASL/SCRAM-SHA-512, see
    ``services/common/kafka_security.py``): part of the one settings object of each process."""

    # Kafka bootstrap servers (comma separated host:port).
    kafka_bootstrap: str = "127.0.0.1:19092"
    # The principal; empty: the process's own (a service's name, the feed's ``population-feed``).
    kafka_username: str = ""
    # Its password: given directly (a Kubernetes Secret as an environment variable) or read from a
    # file, by default the one `make run` creates: <LLR_INFRA_HOME>/keys/kafka/<principal>.password.
    kafka_password: SecretStr | None = None
    kafka_password_file: Path | None = None

    def kafka_principal(self) -> str:
        return self.kafka_username

    @property
    def kafka(self) -> KafkaAccess:
        """The access this process's Kafka clients use; a missing password is an error naming the principal."""
        principal = self.kafka_principal()
        if self.kafka_password is not None:
            password = self.kafka_password.get_secret_value()
        else:
            prefix = self.model_config.get("env_prefix", "")
            password = read_password(self.kafka_password_file or password_file(DEFAULT_HOME / "keys", principal),
                                     principal, f"{prefix}KAFKA_PASSWORD or {prefix}KAFKA_PASSWORD_FILE")
        return KafkaAccess(self.kafka_bootstrap, principal, password)


class KafkaAdminSettings(KafkaClientSettings):
    """The ACL set-up of docker-compose.yml (``python -m services.common.kafka_security``)."""

    model_config = service_config("LLR_KAFKA_ADMIN_")

    kafka_username: str = "llr-admin"
    namespace: str = ""


class ServiceSettings(KafkaClientSettings):
    model_config = service_config("LLR_")

    service_name: str = "llr"
    # MongoDB wire-protocol server (FerretDB locally, MongoDB in docker-compose and Kubernetes).
    mongo_uri: str = "mongodb://127.0.0.1:27027/"
    mongo_db: str = "llr"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50060
    grpc_max_workers: int = 16
    # PEM file with the Ed25519 public key that verifies access tokens, and the expected issuer.
    auth_public_key_file: Path = DEFAULT_HOME / "keys" / "token-signing.pub.pem"
    auth_issuer: str = "llr-dev-idp"
    # >>> gRPC TLS and the token policy (README "Security: TLS and access tokens")
    # The audience a token must name in `aud` to be accepted here; empty: llr-<service_name>.
    auth_audience: str = ""
    # How far `exp`, `nbf` and `iat` may be off (clock skew between the identity provider and us).
    auth_leeway_s: int = 30
    # The server's PEM certificate (chain) and private key: both set, gRPC is served over TLS.
    # Without them it is plaintext, which is refused unless grpc_host is a loopback address.
    grpc_tls_cert_file: Path | None = None
    grpc_tls_key_file: Path | None = None
    # For the clients of this service (CLI, demo, health check): the CA its certificate is signed
    # by (set: TLS, certificate and server name verified; unset: plaintext) and the name to verify
    # when it is not the host dialled.
    grpc_tls_ca_file: Path | None = None
    grpc_tls_server_name: str = ""
    # <<< gRPC TLS and the token policy
    # Partitions of this service's event topic (created on start if missing).
    topic_partitions: int = 3
    # Replication factor of every topic this service creates (its events, dead-letter topics,
    # the KPI's output and faust changelog topics). 1 for the single local broker; a cluster sets
    # at least its min.insync.replicas, or writes with acks=all fail (deploy/k8s sets 3).
    topic_replication_factor: int = 1
    # Outbox relay: how often it looks for pending events when nobody wakes it up.
    outbox_poll_interval_s: float = 0.2
    # ... and how often it sweeps the pending pointers of its database for events that other
    # processes, or a crash, left (its own commits wake it directly, see services/common/persistence.py).
    outbox_sweep_interval_s: float = 30.0
    # Threads that handle the records of one poll of each event consumer: records with the same
    # key stay in order on one thread; different keys run side by side (their database changes
    # are then written together, see GroupCommit in services/common/persistence.py). 1: in order.
    consumer_workers: int = 8
    log_level: str = "INFO"
    # Prefix for every topic name this service produces or consumes; empty in production. Tests
    # set a unique one so that runs never see each other's events.
    topic_namespace: str = ""
    # Demo only (make run): run on simulated time that was sim_start at the real instant
    # sim_epoch and runs sim_speed times faster until sim_until, then at real speed
    # (services.common.clock.AcceleratedClock).
    sim_start: datetime | None = None
    sim_epoch: datetime | None = None
    sim_speed: float = 1.0
    sim_until: datetime | None = None

    @model_validator(mode="after")
    def _check_transport(self) -> "ServiceSettings":
        prefix = self.model_config.get("env_prefix", "")
        if (self.grpc_tls_cert_file is None) != (self.grpc_tls_key_file is None):
            raise ValueError(f"{prefix}GRPC_TLS_CERT_FILE and {prefix}GRPC_TLS_KEY_FILE go together: set both or neither")
        if self.grpc_tls_cert_file is None and not is_loopback(self.grpc_host):
            raise ValueError(f"{prefix}GRPC_HOST={self.grpc_host} is not a loopback address, and gRPC without TLS "
                             f"is only served on loopback: set {prefix}GRPC_TLS_CERT_FILE and "
                             f"{prefix}GRPC_TLS_KEY_FILE (a PEM certificate and its key)")
        return self

    @property
    def audience(self) -> str:
        """What a token's ``aud`` must contain for this service to accept it."""
        return self.auth_audience or audience_of(self.service_name)

    def kafka_principal(self) -> str:
        return self.kafka_username or self.service_name

    def topic(self, context: str, kind: str = "events") -> str:
        """Topic of a bounded context, e.g. ``topic("enrolments")`` -> ``llr.enrolments.v1.events``."""
        return f"{self.topic_namespace}llr.{context}.v1.{kind}"

    @property
    def events_topic(self) -> str:
        return self.topic(self.service_name)

    def auth_public_key_pem(self) -> bytes:
        try:
            return self.auth_public_key_file.read_bytes()
        except OSError as exc:
            raise RuntimeError(
                f"cannot read the token verification key {self.auth_public_key_file}: {exc}; "
                f"set {self.model_config.get('env_prefix', '')}AUTH_PUBLIC_KEY_FILE"
            ) from exc
