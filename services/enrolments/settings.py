"""Settings of the enrolments service (env prefix `LLR_ENROLMENTS_`): Training providers, offers and enrolments."""
from __future__ import annotations

from services.common.settings import ServiceSettings, service_config


class EnrolmentsSettings(ServiceSettings):
    model_config = service_config("LLR_ENROLMENTS_")

    service_name: str = "enrolments"
    mongo_db: str = "llr_enrolments"
    grpc_port: int = 50063
