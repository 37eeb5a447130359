"""Process entrypoint of the certification service.

``build(settings, clock)`` wires the runtime: MongoDB (alias ``certification``) behind the
repository, the events topic, the outbox relay, the periodic expiry job, the gRPC API (GetStatusList,
GetIssuer and Verify public) and the public HTTP documents (DID document, status lists, contexts),
whose URL names the issuer. ``main()`` runs it against the local stack; if the issuer key file
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
from ..adapters.jsonld_contexts import load_contexts
from ..adapters.repository import CertificationRepository
from ..domain.credentials.credential import IssuerProfile
from ..domain.credentials.did_web import did_web
from ..domain.policy import load_policy_book
from ..service.handlers import CertificationService
from ..settings import CertificationSettings
from .grpc_api import PUBLIC_METHODS, registration
from .http_api import PublicDocuments

log = logging.getLogger(__name__)


def build_service(settings: CertificationSettings, clock: Clock, repo: CertificationRepository,
                  base_url: str) -> CertificationService:
    """The use cases, issuing as the did:web issuer of ``base_url`` (the public base URL)."""
    issuer_id = did_web(base_url)
    key = load_issuer_key(settings.issuer_key_file, issuer_id=issuer_id, key_id=settings.issuer_key_id)
    return CertificationService(
        repo, clock=clock, policies=load_policy_book(settings.policy_file), issuer_key=key,
        issuer=IssuerProfile(issuer_id, settings.issuer_name), events_topic=settings.events_topic,
        status_list_base_url=base_url.rstrip("/") + "/status",
        status_list_ttl=timedelta(seconds=settings.status_list_ttl_s),
        status_list_period=timedelta(seconds=settings.status_list_max_age_s),
    )


def build(settings: CertificationSettings, clock: Clock | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(settings, clock)
    try:
        cert_file, key_file = settings.http_tls()
        http = runtime.bind_http(settings.http_port, tls_cert_file=cert_file, tls_key_file=key_file)
        base_url = settings.public_base_url or http.url
        repo = CertificationRepository(MongoStores(runtime.connect_mongo()))
        runtime.ensure_topics([TopicSpec(settings.events_topic, partitions=settings.topic_partitions)])
        runtime.add_outbox_relay([repo.outbox])
        service = build_service(settings, runtime.clock, repo, base_url)
        runtime.add_periodic("expire-certificates", settings.expiry_interval_s, service.expire_due_certificates)
        runtime.add_periodic("expire-organisations", settings.expiry_interval_s, service.expire_due_organisations)
        runtime.serve_grpc([registration(service)], public_methods=PUBLIC_METHODS)
        runtime.serve_http(PublicDocuments(
            service, base_url, load_contexts(), status_list_max_age_s=settings.status_list_max_age_s,
            did_document_max_age_s=settings.did_document_max_age_s).handle)
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
