"""The platform as the benchmark runs it: the four services as their real processes on the
running stack, isolated by their own ports, topic namespace, databases and KPI state, exactly
as ``make run`` starts them (``infra.run``) but without the demo."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from infra.run import SERVICE_ORDER, ensure_dev_keys, isolated_environment, wait_for_grpc_health
from infra.stack import REPO, Stack
from services.common.tls import open_channel


def peak_rss_mib(pid: int) -> float | None:
    """The process's peak resident set (VmHWM) in MiB, or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


@dataclass
class Platform:
    stack: Stack
    work: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ensure_dev_keys(self.stack.home)
        self.env = isolated_environment(self.stack, self.stack.settings.mongo_uri,
                                        f"bench{self.run_id}", self.work / "kpi")
        for name in SERVICE_ORDER:
            self.env[f"LLR_{name.upper()}_LOG_LEVEL"] = "WARNING"
        # Freshness is bounded below by how often the projection is read out: 0.1 s here (2 s
        # by default, where nobody watches a KPI change live).
        self.env["LLR_KPI_READOUT_INTERVAL_S"] = "0.1"

    @property
    def namespace(self) -> str:
        return self.env["LLR_KPI_TOPIC_NAMESPACE"]

    def port(self, service: str) -> int:
        return int(self.env[f"LLR_{service.upper()}_GRPC_PORT"])

    def ca_file(self, service: str) -> Path | None:
        """The CA the service's clients trust (TLS), None for plaintext on loopback."""
        ca = self.env.get(f"LLR_{service.upper()}_GRPC_TLS_CA_FILE")
        return Path(ca) if ca else None

    def channel(self, service: str, options=()) -> grpc.Channel:
        return open_channel(f"127.0.0.1:{self.port(service)}", self.ca_file(service), options=options)

    def start(self, name: str, *, as_name: str | None = None, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start service ``name`` (under the label ``as_name``) and wait until it is healthy."""
        label = as_name or name
        env = {**self.env, **(extra_env or {})}
        log = open(self.work / f"{label}.log", "ab")
        proc = subprocess.Popen([sys.executable, "-m", f"services.{name}.entrypoints.main"], cwd=REPO, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[label] = proc
        wait_for_grpc_health(int(env[f"LLR_{name.upper()}_GRPC_PORT"]), proc, timeout_s=120, ca_file=self.ca_file(name))
        return proc

    def start_all(self) -> None:
        for name in SERVICE_ORDER:
            self.start(name)

    def peak_memory(self) -> dict[str, float | None]:
        return {label: peak_rss_mib(proc.pid) for label, proc in self.procs.items()}

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        from services.common.mongo import make_client

        client = make_client(self.stack.settings.mongo_uri)
        for name in SERVICE_ORDER:
            client.drop_database(self.env[f"LLR_{name.upper()}_MONGO_DB"])
        client.close()
