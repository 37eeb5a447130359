"""``make run``: the whole platform on this machine, in the foreground until Ctrl-C.

1. starts Kafka and FerretDB (``infra.stack``), reusing them when already running;
2. creates the development token-signing key pair under ``.llr/keys`` if missing (services get
   only the public key; ``python -m infra.devtokens`` issues tokens with the private one);
3. starts every service that has an entrypoint (``services/<name>/entrypoints/main.py``) as its
   own process, logs under ``.llr/logs``, and waits until each answers its gRPC health check;
4. runs the demo (``services/demo``): a synthetic Flanders on the population feed and a
   simulated year of activity through the gRPC APIs. Every service runs on the same accelerated
   clock (``AcceleratedClock``: the simulated year starts at ``LLR_DEMO_SIM_START`` and one
   simulated day lasts ``LLR_DEMO_SECONDS_PER_DAY`` real seconds, for ``LLR_DEMO_DAYS`` days;
   after that every clock runs at real speed), so deadlines and expiries fire by themselves
   during the simulation;
5. prints the dashboard URL and the gRPC endpoints and keeps running;
6. on Ctrl-C or SIGTERM stops the services, then the infrastructure this call started.

``python -m infra.run --no-demo`` starts the platform on the real clock without demo data.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from infra.stack import REPO, InfraError, Stack

SERVICE_ORDER = ["accounts", "certification", "enrolments", "kpi"]


def ensure_dev_keys(home: Path) -> Path:
    from services.common.auth import generate_keypair

    keys = home / "keys"
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


def wait_for_grpc_health(port: int, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise InfraError(f"service on port {port} exited with {proc.returncode}")
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.3)
    raise InfraError(f"service on port {port} not healthy after {timeout_s}s")


def demo_environment(epoch) -> dict[str, str]:
    """Environment that puts every service on the demo's accelerated clock."""
    from services.demo.settings import DemoSettings

    demo = DemoSettings()
    env = {"LLR_DEMO_SIM_EPOCH": epoch.isoformat()}
    for name in SERVICE_ORDER:
        prefix = f"LLR_{name.upper()}_"
        env[prefix + "SIM_START"] = demo.sim_start.isoformat()
        env[prefix + "SIM_EPOCH"] = epoch.isoformat()
        env[prefix + "SIM_SPEED"] = str(demo.speed)
        env[prefix + "SIM_UNTIL"] = demo.sim_until.isoformat()
    # Periodic jobs (deadlines, expiries) look often enough for simulated days of < 1 s.
    env["LLR_ENROLMENTS_DEADLINE_INTERVAL_S"] = "0.5"
    env["LLR_CERTIFICATION_EXPIRY_INTERVAL_S"] = "2"
    return env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_environment(kafka_bootstrap: str, mongo_uri: str, run_id: str, kpi_data_dir: Path) -> dict[str, str]:
    """Environment for a second platform beside a developer's ``make run`` on the same Kafka and
    FerretDB (the end-to-end test, the benchmark): its own ports, topic namespace, databases
    (``<run_id>_<service>``), faust application id and state directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLR_") or k.startswith("LLR_INFRA_")}
    for name in SERVICE_ORDER:
        prefix = f"LLR_{name.upper()}_"
        env.update({prefix + "GRPC_PORT": str(free_port()), prefix + "TOPIC_NAMESPACE": f"{run_id}.",
                    prefix + "MONGO_DB": f"{run_id}_{name}", prefix + "KAFKA_BOOTSTRAP": kafka_bootstrap,
                    prefix + "MONGO_URI": mongo_uri})
    env.update({"LLR_KPI_DASHBOARD_PORT": str(free_port()), "LLR_KPI_FAUST_APP_ID": run_id,
                "LLR_KPI_DATA_DIR": str(kpi_data_dir)})
    return env


def main() -> int:
    from datetime import datetime, timezone

    def interrupt(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    # SIGTERM behaves like Ctrl-C: the finally block below stops everything this call started.
    signal.signal(signal.SIGTERM, interrupt)
    demo = "--no-demo" not in sys.argv[1:]
    if demo:
        from datetime import timedelta

        from services.demo.settings import DemoSettings

        # The simulated year starts once the demo's set-up is expected to be done.
        epoch = datetime.now(timezone.utc) + timedelta(seconds=DemoSettings().setup_lead_s)
        extra_env = demo_environment(epoch)
    else:
        extra_env = {}
    stack = Stack()
    try:
        started_infra = stack.start()
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(stack.describe(), flush=True)
    ensure_dev_keys(stack.home)
    procs: list[tuple[str, subprocess.Popen]] = []
    try:
        for name in available_services():
            log_path = stack.home / "logs" / f"{name}.log"
            log = open(log_path, "ab")
            proc = subprocess.Popen([sys.executable, "-m", f"services.{name}.entrypoints.main"],
                                    stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                                    env={**os.environ, **extra_env})
            procs.append((name, proc))
            settings_port = _grpc_port(name)
            if settings_port:
                wait_for_grpc_health(settings_port, proc)
                print(f"{name:<14} gRPC 127.0.0.1:{settings_port}   log {log_path}", flush=True)
        if demo:
            subprocess.run([sys.executable, "-m", "services.demo"], cwd=REPO, check=True,
                           env={**os.environ, **extra_env})
        print_endpoints()
        print("platform running; press Ctrl-C to stop", flush=True)
        _wait_for_signal(procs)
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: the demo failed with exit code {exc.returncode} (its output is above; service logs "
              f"under {stack.home / 'logs'})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping...", flush=True)
    finally:
        for name, proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for name, proc in reversed(procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stack.stop(started_infra)
        print("stopped", flush=True)
    return 0


def print_endpoints() -> None:
    for name in available_services():
        print(f"  gRPC {name:<14} 127.0.0.1:{_grpc_port(name)}", flush=True)
    try:
        from services.kpi.settings import KpiSettings

        kpi = KpiSettings()
        port = getattr(kpi, "dashboard_port", None)
        if port:
            print(f"  dashboard            http://127.0.0.1:{port}/", flush=True)
    except ImportError:
        pass
    print("  CLI                  .llr/venv/bin/llr --help", flush=True)


def _grpc_port(name: str) -> int | None:
    import importlib

    try:
        module = importlib.import_module(f"services.{name}.settings")
    except ImportError:
        return None
    settings_cls = next(v for k, v in vars(module).items() if k.endswith("Settings") and k != "ServiceSettings")
    return settings_cls().grpc_port


def _wait_for_signal(procs) -> None:
    """Watch the services until Ctrl-C or SIGTERM (raised as KeyboardInterrupt)."""
    while True:
        for name, proc in procs:
            if proc.poll() is not None:
                raise InfraError(f"{name} exited unexpectedly with {proc.returncode}; see .llr/logs/{name}.log")
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
