"""Process entrypoint of the certification service.

``build(settings, clock)`` wires the runtime: MongoDB (alias ``certification``) behind the
repository, the events topic, the outbox relay, the periodic expiry job and the gRPC API (GetStatusList,
GetIssuer and Verify public). ``main()`` runs it against the local stack; if the issuer key file
is missing it generates a DEVELOPMENT key there first and says so loudly.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from services.common.clock import Clock, clock_from_settings
from services.common.kafka import TopicSpec
from services.common.logs import setup_logging
from services.common.persistence import MongoStores
from services.common.runtime import ServiceRuntime

from ..adapters.issuer_key import generate_issuer_key_file, load_issuer_key
from ..adapters.repository import CertificationRepository
from ..domain.credentials.credential import IssuerProfile
from ..domain.policy import load_policy_book
from ..service.handlers import CertificationService
from ..settings import CertificationSettings
from .grpc_api import PUBLIC_METHODS, registration

log = logging.getLogger(__name__)


def build_service(settings: CertificationSettings, clock: Clock, repo: CertificationRepository) -> CertificationService:
    key = load_issuer_key(settings.issuer_key_file, issuer_id=settings.issuer_id, key_id=settings.issuer_key_id)
    return CertificationService(
        repo, clock=clock, policies=load_policy_book(settings.policy_file), issuer_key=key,
        issuer=IssuerProfile(settings.issuer_id, settings.issuer_name), events_topic=settings.events_topic,
        status_list_base_url=settings.status_list_base_url,
        status_list_ttl=timedelta(seconds=settings.status_list_ttl_s),
    )


def build(settings: CertificationSettings, clock: Clock | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(settings, clock)
    try:
        repo = CertificationRepository(MongoStores(runtime.connect_mongo()))
        runtime.ensure_topics([TopicSpec(settings.events_topic, partitions=settings.topic_partitions)])
        runtime.add_outbox_relay([repo.outbox])
        service = build_service(settings, runtime.clock, repo)
        runtime.add_periodic("expire-certificates", settings.expiry_interval_s, service.expire_due_certificates)
        runtime.serve_grpc([registration(service)], public_methods=PUBLIC_METHODS)
    except BaseException:
        runtime.stop(grace_s=0)
        raise
    return runtime


def ensure_development_issuer_key(settings: CertificationSettings) -> None:
    if settings.issuer_key_file.exists():
        return
    generate_issuer_key_file(settings.issuer_key_file)
    log.warning("generated a NEW DEVELOPMENT credential issuer key at %s -- never use it in production; "
                "configure LLR_CERTIFICATION_ISSUER_KEY_FILE with the real key", settings.issuer_key_file)


def main() -> None:
    settings = CertificationSettings()
    setup_logging(settings.service_name, settings.log_level)
    ensure_development_issuer_key(settings)
    build(settings, clock_from_settings(settings)).run_forever()


if __name__ == "__main__":
    main()
