"""``make run``: the whole platform on this machine, in the foreground until Ctrl-C.

1. starts Kafka and FerretDB (``infra.stack``), reusing them when already running;
2. creates the development token-signing key pair under ``.llr/keys`` if missing (services get
   only the public key; ``python -m infra.devtokens`` issues tokens with the private one), and the
   development CA and server certificate under ``.llr/keys/tls`` (the services listen on loopback,
   where plaintext is allowed; docker-compose and a local TLS run use them, see the README);
3. decides from the run record beside the data (``infra.runstate``) how to start, and says so:
   on fresh data with the demo, on data of an earlier run by resuming its time line (no second
   demo; the clock continues where the platform stopped; ready once the KPI service serves the
   restored picture again);
4. starts every service that has an entrypoint (``services/<name>/entrypoints/main.py``) as its
   own process, logs under ``.llr/logs``, and waits until each answers its gRPC health check;
5. on fresh data runs the demo (``services/demo``): a synthetic Flanders on the population feed
   and a simulated year of activity through the gRPC APIs. Every service runs on the same
   accelerated clock (``AcceleratedClock``: the simulated year starts at ``LLR_DEMO_SIM_START``
   and one simulated day lasts ``LLR_DEMO_SECONDS_PER_DAY`` real seconds, for ``LLR_DEMO_DAYS``
   days; after that every clock runs at real speed), so deadlines and expiries fire by
   themselves during the simulation;
6. prints the dashboard URL, the gRPC endpoints and the platform time, and keeps running,
   writing the platform time to the run record every few seconds;
7. on Ctrl-C or SIGTERM records the platform time, stops the services, then the infrastructure
   this call started.

``python -m infra.run --no-demo`` starts the platform without demo data: on the real clock on
fresh data, on the demo's time line on data a demo made. ``make reset`` (``infra.reset``) wipes
the data and its run record.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from infra import runstate
from infra.stack import REPO, InfraError, Stack
from infra.supervise import Service, Supervisor, grpc_serving, stop_process
from services.common.kafka_security import KPI_APP_PREFIX

SERVICE_ORDER = ["accounts", "certification", "enrolments", "kpi"]


def ensure_dev_keys(home: Path) -> Path:
    """The development token-signing key pair and the development CA with its server certificate
    (``services.common.tls.ensure_dev_tls``: docker-compose serves gRPC over TLS with them), each
    made when missing; returns the token verification key."""
    from services.common.auth import generate_keypair
    from services.common.tls import ensure_dev_tls

    keys = home / "keys"
    ensure_dev_tls(keys)
    private, public = keys / "token-signing.pem", keys / "token-signing.pub.pem"
    if not private.exists() or not public.exists():
        keys.mkdir(parents=True, exist_ok=True)
        priv, pub = generate_keypair()
        private.write_bytes(priv)
        private.chmod(0o600)
        public.write_bytes(pub)
    return public


def available_services() -> list[str]:
    return [s for s in SERVICE_ORDER if (REPO / "services" / s / "entrypoints" / "main.py").exists()]


def wait_for_grpc_health(port: int, proc: subprocess.Popen, timeout_s: float = 60,
                         ca_file: Path | None = None) -> None:
    from infra.supervise import grpc_serving

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise InfraError(f"service on port {port} exited with {proc.returncode}")
        if grpc_serving(port, timeout_s=1, ca_file=ca_file):
            return
        time.sleep(0.3)
    raise InfraError(f"service on port {port} not healthy after {timeout_s}s")


def clock_environment(record: "runstate.RunRecord | None") -> dict[str, str]:
    """Environment that puts every service on the run's clock (none: the real clock)."""
    if record is None or record.clock is None:
        return {}
    env = record.clock.environment(SERVICE_ORDER)
    if record.clock.speed > 1:
        # The demo's set-up and the simulation read their clock from the same parameters.
        env["LLR_DEMO_SIM_EPOCH"] = record.clock.epoch
        # Periodic jobs (deadlines, expiries) look often enough for simulated days of < 1 s.
        env["LLR_ENROLMENTS_DEADLINE_INTERVAL_S"] = "0.5"
        env["LLR_CERTIFICATION_EXPIRY_INTERVAL_S"] = "2"
    return env


def existing_platform_data(mongo_uri: str) -> str | None:
    """The name of a service database already on the server (data made without a run record)."""
    import pymongo

    from services.accounts.settings import AccountsSettings
    from services.certification.settings import CertificationSettings
    from services.enrolments.settings import EnrolmentsSettings

    client = pymongo.MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    try:
        present = set(client.list_database_names())
    finally:
        client.close()
    names = [s().mongo_db for s in (AccountsSettings, EnrolmentsSettings, CertificationSettings)]
    return next((f"database {n}" for n in names if n in present), None)


class Heartbeat:
    """Keeps the run record's platform time current while the platform runs."""

    def __init__(self, path: Path, record: "runstate.RunRecord | None", interval_s: float) -> None:
        self.path, self.record, self.interval_s = path, record, interval_s
        self.clock = record.platform_clock() if record else None
        self._last = 0.0

    def beat(self, force: bool = False) -> None:
        if self.record is None or (not force and time.monotonic() - self._last < self.interval_s):
            return
        self.record.platform_time = self.clock.now().isoformat()
        runstate.save(self.path, self.record)
        self._last = time.monotonic()

    def demo_completed(self) -> None:
        self.record.demo.completed = True
        self.beat(force=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_environment(stack: Stack, mongo_uri: str, run_id: str, kpi_data_dir: Path) -> dict[str, str]:
    """Environment for a second platform beside a developer's ``make run`` on the same Kafka and
    FerretDB (the end-to-end test, the benchmark): its own ports, topic namespace, databases
    (``<run_id>_<service>``), faust application id and state directory, and, beside that
    directory, its own run record and service logs. The principals get the ACLs of its topic
    namespace on ``stack``'s broker (their passwords are the stack's)."""
    kafka_bootstrap = stack.settings.kafka_bootstrap
    stack.grant_kafka(f"{run_id}.")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLR_") or k.startswith("LLR_INFRA_")}
    for name in SERVICE_ORDER:
        prefix = f"LLR_{name.upper()}_"
        env.update({prefix + "GRPC_PORT": str(free_port()), prefix + "TOPIC_NAMESPACE": f"{run_id}.",
                    prefix + "MONGO_DB": f"{run_id}_{name}", prefix + "KAFKA_BOOTSTRAP": kafka_bootstrap,
                    prefix + "MONGO_URI": mongo_uri})
    env.update({"LLR_KPI_DASHBOARD_PORT": str(free_port()), "LLR_CERTIFICATION_HTTP_PORT": str(free_port()),
                # Inside the namespace and starting like every KPI application id (its ACLs).
                "LLR_KPI_FAUST_APP_ID": f"{run_id}.{KPI_APP_PREFIX}",
                "LLR_DEMO_KAFKA_BOOTSTRAP": kafka_bootstrap,
                "LLR_KPI_DATA_DIR": str(kpi_data_dir),
                "LLR_RUN_RECORD_FILE": str(kpi_data_dir.parent / f"{run_id}-run.json"),
                "LLR_RUN_LOG_DIR": str(kpi_data_dir.parent / f"{run_id}-logs")})
    return env


def main(argv: list[str] | None = None) -> int:
    import argparse
    from datetime import datetime, timezone

    from services.demo.settings import DemoSettings

    parser = argparse.ArgumentParser(prog="python -m infra.run", description="Start the platform (make run).")
    parser.add_argument("--no-demo", action="store_true",
                        help="no demo data; on fresh data the platform runs on the real clock")
    args = parser.parse_args(argv)

    def interrupt(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    # SIGTERM behaves like Ctrl-C: the finally block below stops everything this call started.
    signal.signal(signal.SIGTERM, interrupt)
    stack = Stack()
    try:
        started_infra = stack.start()
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(stack.describe(), flush=True)
    ensure_dev_keys(stack.home)
    run_settings = runstate.RunSettings()
    record_path = run_settings.record_path(stack.home)
    try:
        record = runstate.load(record_path)
        existing = None if record else existing_platform_data(stack.settings.mongo_uri)
    except runstate.RecordError as exc:
        print(f"error: {exc}", file=sys.stderr)
        stack.stop(started_infra)
        return 2
    plan = runstate.plan_start(record, existing, not args.no_demo, DemoSettings(), datetime.now(timezone.utc),
                               run_settings.start_at)
    for message in plan.messages:
        print(message, flush=True)
    heartbeat = Heartbeat(record_path, plan.record, run_settings.heartbeat_s)
    heartbeat.beat(force=True)
    extra_env = clock_environment(plan.record)
    # Services that end are started again, and so are those that stay NOT_SERVING (infra/supervise.py).
    # The CA each service's clients trust (its settings), by port: TLS where one is configured.
    trusted = {s.grpc_port: s.grpc_tls_ca_file for s in map(_settings, available_services()) if s}
    procs = Supervisor(say=lambda text: print(text, flush=True),
                       health=lambda port: grpc_serving(port, ca_file=trusted.get(port)))
    try:
        for name in available_services():
            log_path = run_settings.log_path(stack.home) / f"{name}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            settings = _settings(name)
            settings_port = settings.grpc_port if settings else None
            ca_file = settings.grpc_tls_ca_file if settings else None

            def spawn(name: str = name, log_path: Path = log_path) -> subprocess.Popen:
                with open(log_path, "ab") as log:
                    return subprocess.Popen([sys.executable, "-m", f"services.{name}.entrypoints.main"],
                                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                                            env={**os.environ, **extra_env})

            def ready(proc: subprocess.Popen, port: int | None = settings_port, ca_file: Path | None = ca_file) -> None:
                if port:
                    wait_for_grpc_health(port, proc, ca_file=ca_file)
            procs.add(Service(name, spawn, settings_port, log_path, ready))
            if settings_port:
                print(f"{name:<14} gRPC 127.0.0.1:{settings_port}   log {log_path}", flush=True)
            heartbeat.beat()
        if plan.run_demo:
            _run_demo({**os.environ, **extra_env}, procs, heartbeat)
            heartbeat.demo_completed()
        elif plan.record is not None and plan.record.kind == runstate.DEMO:
            # Resumed: ready means the KPIs of the data are served again, not only a healthy port.
            _wait_for_kpi_state(procs, heartbeat)
        print_endpoints()
        print(f"platform time {runstate.short(plan.clock().now())}", flush=True)
        print("platform running; press Ctrl-C to stop", flush=True)
        _wait_for_signal(procs, heartbeat)
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: the demo failed with exit code {exc.returncode} (its output is above; service logs "
              f"under {run_settings.log_path(stack.home)})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping...", flush=True)
    finally:
        # The platform time at which it stopped: the next start continues from here.
        heartbeat.beat(force=True)
        for proc in reversed(procs.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(procs.procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stack.stop(started_infra)
        print("stopped", flush=True)
    return 0


def _wait_for_kpi_state(procs: Supervisor, heartbeat: Heartbeat, timeout_s: float = 180) -> None:
    """Wait until the KPI service serves the cells of the data it restored (its state store and
    changelog are read after its gRPC port is up)."""
    import grpc

    from llr.kpi.v1 import kpi_service_pb2 as pb
    from llr.kpi.v1 import kpi_service_pb2_grpc as pb_grpc
    from services.cli.connect import token
    from services.common.auth import Role
    from services.common.grpc_server import bearer
    from services.common.tls import service_channel

    settings = _settings("kpi")
    if not settings or not any(service.name == "kpi" for service in procs.services):
        return
    print("kpi            reading the KPI state of the data...", flush=True)
    metadata = bearer(token("llr-run", Role.KPI_CONSUMER))
    deadline = time.monotonic() + timeout_s
    with service_channel(settings) as channel:
        stub = pb_grpc.KpiServiceStub(channel)
        while time.monotonic() < deadline:
            procs.check()
            heartbeat.beat()
            try:
                if stub.List(pb.ListRequest(kpi="participation_12m", page_size=1), metadata=metadata, timeout=5).cells:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    print(f"note: the KPI service serves no cells yet after {timeout_s:.0f} s; see its log", flush=True)


def _run_demo(env: dict[str, str], procs: Supervisor, heartbeat: Heartbeat) -> None:
    """Run the demo in the foreground (its progress bars on this terminal), watching the services."""
    demo = subprocess.Popen([sys.executable, "-m", "services.demo"], cwd=REPO, env=env)
    try:
        while demo.poll() is None:
            procs.check()
            heartbeat.beat()
            time.sleep(0.2)
    finally:
        stop_process(demo)
    if demo.returncode != 0:
        raise subprocess.CalledProcessError(demo.returncode, demo.args)


def print_endpoints() -> None:
    for name in available_services():
        print(f"  gRPC {name:<14} 127.0.0.1:{_grpc_port(name)}", flush=True)
    from services.certification.settings import CertificationSettings

    certification = CertificationSettings()
    base_url = certification.public_base_url or f"http://{certification.grpc_host}:{certification.http_port}"
    print(f"  certificate issuer   {base_url}/.well-known/did.json (did:web, status lists, contexts)", flush=True)
    try:
        from services.kpi.settings import KpiSettings

        kpi = KpiSettings()
        port = getattr(kpi, "dashboard_port", None)
        if port:
            print(f"  dashboard            http://127.0.0.1:{port}/", flush=True)
    except ImportError:
        pass
    print("  CLI                  .llr/venv/bin/llr --help", flush=True)


def _settings(name: str):
    """The settings of service ``name`` (from this environment), None when it has none."""
    from services.cli.connect import service_settings

    try:
        return service_settings(name)
    except ImportError:
        return None


def _grpc_port(name: str) -> int | None:
    settings = _settings(name)
    return settings.grpc_port if settings else None


def _wait_for_signal(procs: Supervisor, heartbeat: Heartbeat) -> None:
    """Watch the services until Ctrl-C or SIGTERM (raised as KeyboardInterrupt)."""
    while True:
        procs.check()
        heartbeat.beat()
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
