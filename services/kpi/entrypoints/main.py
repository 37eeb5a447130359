"""Process entrypoint of the KPI service: the faust worker (main thread, asyncio), the gRPC API and
the dashboard (threads), started together and stopped together on SIGTERM / SIGINT.

``python -m services.kpi.entrypoints.main`` runs it against the local stack; settings come from
``LLR_KPI_*`` environment variables. No MongoDB: the state lives in the faust table (RocksDB +
changelog) and every output is rebuilt by replaying the source topics.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import faust

from services.common.clock import Clock, clock_from_settings
from services.common.kafka import DLQ_SUFFIX, TopicSpec
from services.common.logs import setup_logging
from services.common.runtime import ServiceRuntime
from services.kpi.domain.definitions import DisclosureConfig

from ..service.board import Board
from ..service.signals import SignalDesk
from ..settings import KpiSettings
from .dashboard import Dashboard
from .faust_app import build_app, make_projection, output_topics, source_topics
from .grpc_api import registration

log = logging.getLogger(__name__)


@dataclass
class KpiProcess:
    runtime: ServiceRuntime  # gRPC (health, reflection, auth) and life cycle
    app: faust.App
    dashboard: Dashboard
    board: Board
    signals: SignalDesk

    def stop(self) -> None:
        self.dashboard.stop()
        self.runtime.stop(grace_s=1)


def ensure_topics(runtime: ServiceRuntime, settings: KpiSettings) -> None:
    sources = source_topics(settings)
    specs = [TopicSpec(name, partitions=settings.topic_partitions) for name in sources]
    specs += [TopicSpec(name + DLQ_SUFFIX, partitions=1) for name in sources]
    specs += [TopicSpec(name, partitions=settings.topic_partitions, compacted=True) for name in output_topics(settings)]
    runtime.ensure_topics(specs)


def build(settings: KpiSettings, clock: Clock | None = None) -> KpiProcess:
    runtime = ServiceRuntime(settings, clock)
    board, signals = Board(), SignalDesk()
    dashboard = None
    try:
        ensure_topics(runtime, settings)
        beats = [0.0]   # monotonic time of the worker's last read-out tick; 0.0 until it runs
        app = build_app(settings, make_projection(settings), board, signals,
                        beat=lambda: beats.__setitem__(0, time.monotonic()))
        runtime.serve_grpc([registration(board, signals)])
        runtime.watch("faust-worker", lambda: beats[0])
        disclosure = DisclosureConfig(settings.disclosure_min_numerator, settings.disclosure_min_denominator)
        dashboard = Dashboard(board, settings.grpc_host, settings.dashboard_port, disclosure,
                              tls_cert_file=settings.grpc_tls_cert_file,
                              tls_key_file=settings.grpc_tls_key_file).start()
    except BaseException:
        if dashboard is not None:
            dashboard.stop()
        runtime.stop(grace_s=0)
        raise
    return KpiProcess(runtime, app, dashboard, board, signals)


def main() -> None:
    settings = KpiSettings()
    setup_logging(settings.service_name, settings.log_level)
    process = build(settings, clock_from_settings(settings))
    log.info("kpi: gRPC on %s, dashboard on %s://%s:%s/", process.runtime.grpc.port,
             process.dashboard.scheme, settings.grpc_host, process.dashboard.port)
    worker = faust.Worker(process.app, loglevel=settings.log_level, override_logging=False, quiet=True)
    try:
        worker.execute_from_commandline()  # handles SIGTERM / SIGINT: stops the worker cleanly
    finally:
        process.stop()
        log.info("kpi stopped")


if __name__ == "__main__":
    main()
