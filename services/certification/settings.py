"""Settings of the certification service (env prefix `LLR_CERTIFICATION_`): Mentor and leercoach certification with verifiable credentials."""
from __future__ import annotations

from pathlib import Path

from pydantic import model_validator

from services.certification.domain.credentials.did_web import did_web
from services.common.settings import DEFAULT_HOME, ServiceSettings, service_config


class CertificationSettings(ServiceSettings):
    model_config = service_config("LLR_CERTIFICATION_")

    service_name: str = "certification"
    mongo_db: str = "llr_certification"
    grpc_port: int = 50062

    # The Ed25519 private key that signs credentials and status lists: a PEM (PKCS#8) file, a
    # file holding the raw 32-byte seed, or a Multikey secretKeyMultibase (z3u2...). Never code.
    # `python -m services.certification.entrypoints.main` generates a development key here if
    # the file is missing; production mounts a secret.
    issuer_key_file: Path = DEFAULT_HOME / "keys" / "certification-issuer.pem"
    # The public HTTP documents verifiers fetch (the did:web DID document, the signed status
    # lists, the JSON-LD contexts), served by the service itself on grpc_host; 0 picks a free port.
    http_port: int = 50072
    # The URL verifiers reach those documents at. It names the issuer (did:web:<host>, a port's
    # colon as %3A, path segments as :segments) and the status lists ({base}/status/{purpose}/{n});
    # set it to the public HTTPS address in production. Empty: this process's own
    # http(s)://<grpc_host>:<http port> (local runs: http://127.0.0.1:50072).
    public_base_url: str = ""
    # HTTPS for the public documents: a PEM certificate (chain) and its private key, both or neither;
    # unset, the gRPC server's certificate (grpc_tls_cert_file) serves them when that is configured.
    http_tls_cert_file: Path | None = None
    http_tls_key_file: Path | None = None
    # The issuer key's id in the DID document (did:web:...#key-1) and the issuer's display name.
    issuer_key_id: str = "key-1"
    issuer_name: str = "Leer- en loopbaanrekening - certificering mentoren en leercoaches"
    # How long a signed status list credential stays valid (verifiers re-fetch after that) ...
    status_list_ttl_s: int = 86_400
    # ... and how long an HTTP cache may keep one (Cache-Control max-age): the longest time a
    # revocation or suspension may go unseen by a verifier that caches.
    status_list_max_age_s: int = 300
    # Cache-Control max-age of the DID document (contexts are immutable and cached for a year).
    did_document_max_age_s: int = 3600
    # How often the expiry jobs look for certificates past their last valid day and organisations
    # past their accreditation.
    expiry_interval_s: float = 60.0
    # Policy data (requirements, validity, capacity, milestones); None = the shipped YAML.
    policy_file: Path | None = None

    @model_validator(mode="after")
    def _check_public_documents(self) -> "CertificationSettings":
        if self.status_list_max_age_s > self.status_list_ttl_s:
            raise ValueError("status_list_max_age_s must not exceed status_list_ttl_s: a cache would keep "
                             "a status list past its validUntil")
        if self.public_base_url:
            did_web(self.public_base_url)   # a ValueError says what is wrong with it
        elif self.grpc_host in ("0.0.0.0", "::", ""):
            raise ValueError("public_base_url is required when grpc_host listens on every interface: "
                             "it names the issuer (did:web) and must be the address verifiers reach")
        if (self.http_tls_cert_file is None) != (self.http_tls_key_file is None):
            raise ValueError("http_tls_cert_file and http_tls_key_file go together")
        return self

    def http_tls(self) -> tuple[Path | None, Path | None]:
        """The certificate and key of the public documents' HTTPS, (None, None) for plain HTTP."""
        if self.http_tls_cert_file is not None:
            return self.http_tls_cert_file, self.http_tls_key_file
        return self.grpc_tls_cert_file, self.grpc_tls_key_file
