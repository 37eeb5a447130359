"""Settings of the certification service (env prefix `LLR_CERTIFICATION_`): Mentor and leercoach certification with verifiable credentials."""
from __future__ import annotations

from services.common.settings import ServiceSettings, service_config


class CertificationSettings(ServiceSettings):
    model_config = service_config("LLR_CERTIFICATION_")

    service_name: str = "certification"
    mongo_db: str = "llr_certification"
    grpc_port: int = 50062
