"""The KPI service as its real process (``python -m services.kpi.entrypoints.main``) on the real
Kafka broker, fed by events these tests produce on the source topics themselves (the producing
services are built in parallel). faust owns its process's event loop and signals, so the worker
runs as a subprocess, configured through ``LLR_KPI_*`` environment variables, and is stopped with
SIGTERM at teardown (which must end it cleanly, exit code 0)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka import TopicPartition

from llr.kpi.v1 import kpi_service_pb2 as api
from llr.kpi.v1 import kpi_service_pb2_grpc as api_grpc
from infra.run import free_port
from services.common.auth import Role
from services.common.envelope import decode
from services.common.grpc_server import bearer
from services.common.kafka import KafkaAccess, make_consumer, make_producer
from services.common.tls import service_channel
from services.kpi.adapters.cells import to_pb
from services.kpi.adapters.envelopes import to_domain, to_envelope
from services.kpi.domain.definitions import DisclosureConfig, FoldConfig
from services.kpi.domain.disclosure import Cell, disclose
from services.kpi.domain.recount import admit, recount
from services.kpi.settings import KpiSettings
from tests.eventually import eventually

REPO = Path(__file__).resolve().parents[3]
CONTEXTS = ("population", "enrolments", "accounts", "certification")


def wait_for(predicate, timeout_s: float = 30.0, what: str = "condition", pause_s: float = 0.2):
    return eventually(predicate, timeout_s=timeout_s, what=what, pause_s=pause_s)


@dataclass
class KpiProcess:
    settings: KpiSettings
    proc: subprocess.Popen
    log_path: Path
    channel: grpc.Channel = field(init=False)

    def __post_init__(self) -> None:
        self.channel = service_channel(self.settings)
        self.stub = api_grpc.KpiServiceStub(self.channel)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.dashboard_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def list_all(self, token: str, kpi: str = "", cell_prefix: str = "") -> list:
        cells, page = [], ""
        while True:
            reply = self.stub.List(api.ListRequest(kpi=kpi, cell_prefix=cell_prefix, page_size=1000, page_token=page),
                                   metadata=bearer(token), timeout=30)
            cells.extend(reply.cells)
            page = reply.next_page_token
            if not page:
                return cells

    def stop(self) -> int:
        self.channel.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"kpi did not stop on SIGTERM:\n{self.log()}")
        return self.proc.returncode


@contextmanager
def subscription(kpi: KpiProcess, token: str, request: api.SubscribeRequest, timeout_s: float = 120):
    """The replies of a ``Subscribe`` stream, appended by a reader thread while the block runs; the
    stream is cancelled when it ends."""
    stream = kpi.stub.Subscribe(request, metadata=bearer(token), timeout=timeout_s)
    received: list = []

    def read():
        try:
            for reply in stream:
                received.append(reply)
        except grpc.RpcError:
            pass  # cancelled at the end of the block
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield received
    finally:
        stream.cancel()
        reader.join(10)


@pytest.fixture(scope="module")
def start_kpi(tmp_path_factory, kafka, public_key_file):
    """``start_kpi(namespace, app_id, **settings)`` starts a KPI process; all are stopped at teardown."""
    started: list[KpiProcess] = []
    tmp_path = tmp_path_factory.mktemp("kpi")

    def start(namespace: str, app_id: str, **overrides) -> KpiProcess:
        values = dict(
            grpc_port=free_port(), dashboard_port=free_port(), topic_namespace=namespace, faust_app_id=app_id,
            data_dir=tmp_path / f"data-{app_id}", **kafka.settings_fields(),
            auth_public_key_file=public_key_file, auth_issuer="llr-test-idp", readout_interval_s=0.5,
            history_months=6,
        )
        values.update(overrides)
        settings = KpiSettings(**values)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLR_")}
        env.update({f"LLR_KPI_{k.upper()}": str(v) for k, v in values.items()})
        log_path = tmp_path / f"kpi-{app_id}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "services.kpi.entrypoints.main"], cwd=REPO, env=env,
                                    stdout=log, stderr=subprocess.STDOUT)
        process = KpiProcess(settings, proc, log_path)
        started.append(process)

        def healthy() -> bool:
            assert proc.poll() is None, f"kpi exited with {proc.returncode}:\n{process.log()}"
            try:
                stub = health_pb2_grpc.HealthStub(process.channel)
                grpc_ok = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1
                with urllib.request.urlopen(process.url + "/healthz", timeout=1) as r:
                    return grpc_ok and r.status == 200
            except (grpc.RpcError, OSError):
                return False
        wait_for(healthy, 60, "the kpi process to serve gRPC and the dashboard")
        return process

    yield start
    for process in started:
        process.stop()


def produce(kafka: KafkaAccess, namespace: str, events, extra: list[tuple[str, bytes, bytes]] = ()) -> dict:
    """Publish KPI domain events as the source contexts' envelopes, batched (no per-message get).
    Returns counts and the measured rate."""
    producer = make_producer(kafka, "kpi-test-feed", linger_ms=50, batch_size=512 * 1024)
    started = time.monotonic()
    n = 0
    try:
        for event in events:
            context, key, envelope = to_envelope(event)
            producer.send(f"{namespace}llr.{context}.v1.events", key=key.encode(), value=envelope.SerializeToString())
            n += 1
        for topic, key, value in extra:
            producer.send(topic, key=key, value=value)
            n += 1
        producer.flush(timeout=120)
    finally:
        producer.close()
    elapsed = time.monotonic() - started
    return {"messages": n, "seconds": elapsed, "per_second": n / elapsed if elapsed else 0.0}


def read_source_partitions(kafka: KafkaAccess, namespace: str) -> dict[str, list]:
    """Every source partition from offset 0 to its end, as KPI domain events in log order."""
    consumer = make_consumer(kafka, enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        partitions = []
        for context in CONTEXTS:
            topic = f"{namespace}llr.{context}.v1.events"
            partitions += [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        logs: dict[str, list] = {f"{tp.topic}/{tp.partition}": [] for tp in partitions}
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            for tp, records in consumer.poll(timeout_ms=1000, max_records=5000).items():
                for record in records:
                    if record.offset < ends[tp]:
                        try:
                            logs[f"{tp.topic}/{tp.partition}"].extend(to_domain(decode(record.value)))
                        except Exception:
                            pass  # poison: dead-lettered by the service, not a KPI fact
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return logs
    finally:
        consumer.close()


def expected_cells(logs: dict[str, list], settings: KpiSettings) -> list[Cell]:
    """The independent batch recount of the source partitions, disclosure-controlled: each
    partition admitted in its log order (duplicates and late events as the stream sees them),
    then recounted as a whole."""
    lateness = FoldConfig(max_lateness=timedelta(days=settings.max_lateness_days))
    accepted = []
    for events in logs.values():
        accepted += admit(events, lateness)[0]
    result = recount(accepted, config=FoldConfig(max_lateness=timedelta(days=10**6)))
    disclosure = DisclosureConfig(settings.disclosure_min_numerator, settings.disclosure_min_denominator)
    return disclose(result.tallies, result.reference_date, disclosure)


def as_pb(cells: list[Cell]) -> dict[tuple[str, str], bytes]:
    return {(c.kpi, c.cell): to_pb(c).SerializeToString(deterministic=True) for c in cells}


def served(cells) -> dict[tuple[str, str], bytes]:
    return {(c.kpi, c.cell): c.SerializeToString(deterministic=True) for c in cells}


def chromium(url: str, *args: str, tmp: Path, window: tuple[int, int] = (1200, 900)) -> subprocess.CompletedProcess:
    """Debian's chromium, headless, on a page of the dashboard (``--dump-dom``, ``--screenshot=``) in a
    window of ``window`` CSS pixels."""
    return subprocess.run(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         f"--user-data-dir={tmp / 'profile'}", f"--window-size={window[0]},{window[1]}", *args, url],
        capture_output=True, timeout=120, check=True)


@pytest.fixture
def consumer_token(token_for):
    return token_for("statbel", Role.KPI_CONSUMER)


@pytest.fixture(scope="module")
def tokens(token_issuer):
    """Tokens of a KPI consumer, the regisseur and a training provider, valid for two hours."""
    def issue(org, role):
        return token_issuer.issue(org, role, ttl=timedelta(hours=2))
    return {"consumer": issue("statbel", Role.KPI_CONSUMER), "regisseur": issue("vdab", Role.REGISSEUR),
            "provider": issue("prv-1", Role.PROVIDER)}
