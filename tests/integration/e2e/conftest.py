"""What the end-to-end tests of ``make run`` share: ``python -m infra.run`` as a subprocess in an
environment isolated from a developer's ``make run`` (own ports, topic namespace, databases,
faust app id, state directory, run record and logs) on the test session's Kafka and FerretDB."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from infra.run import isolated_environment
from services.common.mongo import make_client

REPO = Path(__file__).resolve().parents[3]
SERVICES = ("accounts", "certification", "enrolments", "kpi")


class Platform:
    """``python -m infra.run`` as a subprocess; its output collected line by line."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "infra.run", *args], cwd=REPO, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines)

    def printed(self, text: str) -> bool:
        assert self.proc.poll() is None or any(text in line for line in self.lines), \
            f"infra.run exited with {self.proc.returncode}:\n{self.output()[-6000:]}"
        return any(text in line for line in self.lines)

    def stop(self, timeout_s: float = 120) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                return None
        self._reader.join(10)
        return self.proc.returncode


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def platform_env(stack, unique, tmp_path):
    """Environment of one isolated ``make run``: the session's infrastructure, everything else
    (ports, namespace, databases, faust state) its own."""
    env = isolated_environment(stack, stack.settings.mongo_uri, f"e2e{unique}",
                               tmp_path / "kpi")
    env.update({"LLR_KPI_READOUT_INTERVAL_S": "0.5", "LLR_KPI_HISTORY_MAX_AGE_S": "5"})
    yield env
    client = make_client(stack.settings.mongo_uri)
    for name in SERVICES:
        client.drop_database(env[f"LLR_{name.upper()}_MONGO_DB"])
    client.close()
