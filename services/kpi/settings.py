"""Settings of the kpi service (env prefix `LLR_KPI_`): Participation-rate KPI projections, KPI API and dashboard."""
from __future__ import annotations

from pathlib import Path

from services.common.settings import DEFAULT_HOME, ServiceSettings, service_config
from services.kpi.domain.projection import SCHEMA_VERSION


class KpiSettings(ServiceSettings):
    model_config = service_config("LLR_KPI_")

    service_name: str = "kpi"
    mongo_db: str = "llr_kpi"
    grpc_port: int = 50064
    # The web dashboard (stdlib http.server on grpc_host); 0 picks a free port.
    dashboard_port: int = 50074
    # faust: application id (consumer group, changelog topic prefix) and the RocksDB directory.
    # A new app id replays every source topic from offset 0 into a fresh state. The default changes
    # with the state's schema, so that an existing installation rebuilds its state from the topics
    # instead of missing the facts an older version skipped.
    faust_app_id: str = f"llr-kpi-{SCHEMA_VERSION}"
    # Beside the local broker's data (.llr/data/kafka): the RocksDB state mirrors the broker's
    # changelog topics, so wiping one without the other would make faust refuse to start.
    data_dir: Path = DEFAULT_HOME / "data" / "kpi"
    # How often (seconds) the projection is read out when events were folded since the last read-out.
    readout_interval_s: float = 2.0
    # Events folded per batch; each touched record is persisted once per batch.
    batch_size: int = 1000
    # Month-end history points kept for the dashboard (restated from the current state).
    history_months: int = 12
    # The history is refreshed when the stream is quiet, or at the latest after this many seconds.
    history_max_age_s: float = 60.0
    # Fraud signals (domain/signals.py) are re-evaluated at most this often (seconds), when events
    # were folded since the last evaluation; served to the regisseur by ListFraudSignals.
    signals_interval_s: float = 30.0
    # Events more than this many days behind the watermark of their source partition are late:
    # not applied, forwarded to the source topic's dead-letter topic.
    max_lateness_days: int = 7
    # Statistical disclosure control (DOMAIN.md section 4).
    disclosure_min_numerator: int = 10
    disclosure_min_denominator: int = 100
