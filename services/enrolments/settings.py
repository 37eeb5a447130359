"""Settings of the enrolments service (env prefix `LLR_ENROLMENTS_`): Training providers, offers and enrolments."""
from __future__ import annotations

from pathlib import Path

from services.common.settings import ServiceSettings, service_config


class EnrolmentsSettings(ServiceSettings):
    model_config = service_config("LLR_ENROLMENTS_")

    service_name: str = "enrolments"
    mongo_db: str = "llr_enrolments"
    grpc_port: int = 50063

    # How often the deadline job looks for enrolments whose deadline (NO_SHOW, completion
    # timeout) has passed on the service clock.
    deadline_interval_s: float = 30.0
    # Policy data (deadlines, cut-offs, instruments, holidays); None = the shipped policy.yaml.
    policy_file: Path | None = None
