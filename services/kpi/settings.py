"""Settings of the kpi service (env prefix `LLR_KPI_`): Participation-rate KPI projections, KPI API and dashboard."""
from __future__ import annotations

from services.common.settings import ServiceSettings, service_config


class KpiSettings(ServiceSettings):
    model_config = service_config("LLR_KPI_")

    service_name: str = "kpi"
    mongo_db: str = "llr_kpi"
    grpc_port: int = 50064
