"""Settings of the certification service (env prefix `LLR_CERTIFICATION_`): Mentor and leercoach certification with verifiable credentials."""
from __future__ import annotations

from pathlib import Path

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
    # The issuer as named in credentials (did:web / https URL) and its key's id (fragment).
    issuer_id: str = "did:web:certificering.leerenloopbaanrekening.example"
    issuer_key_id: str = "key-1"
    issuer_name: str = "Leer- en loopbaanrekening - certificering mentoren en leercoaches"
    # Base URL of the Bitstring Status List credentials ({base}/{purpose}/{number}); a gateway
    # serves them over HTTPS, GetStatusList serves them over gRPC.
    status_list_base_url: str = "https://certificering.leerenloopbaanrekening.example/status"
    # How long a signed status list credential stays valid (verifiers re-fetch after that).
    status_list_ttl_s: int = 86_400
    # How often the expiry job looks for certificates past their last valid day.
    expiry_interval_s: float = 60.0
    # Policy data (requirements, validity, capacity, milestones); None = the shipped YAML.
    policy_file: Path | None = None
