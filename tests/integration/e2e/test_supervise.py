"""``make run`` keeps its services alive: a service killed with SIGKILL is started again by
``infra.run`` (``infra/supervise.py``) and answers again, without stopping the platform; ``make
status`` shows each service's health."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from infra.supervise import grpc_serving
from tests.integration.e2e.conftest import REPO, Platform
from tests.integration.kpi.conftest import wait_for


def service_pids(module: str, port: str) -> list[int]:
    """The processes running ``module`` with this gRPC port (our isolated platform's only)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if module.encode() in cmdline and f"LLR_ENROLMENTS_GRPC_PORT={port}".encode() in environ:
            found.append(int(proc.name))
    return found


def test_a_killed_service_is_started_again(platform_env):
    env = platform_env
    port = env["LLR_ENROLMENTS_GRPC_PORT"]
    platform = Platform(env, "--no-demo")
    try:
        wait_for(lambda: platform.printed("platform running"), 300, "the platform to be ready", pause_s=1)
        status = subprocess.run([sys.executable, "-m", "infra.stack", "status"], env=env, cwd=REPO,
                                capture_output=True, text=True, timeout=60).stdout
        assert f"enrolments     SERVING      gRPC 127.0.0.1:{port}" in status, status
        [pid] = service_pids("services.enrolments.entrypoints.main", port)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: platform.printed("enrolments exited with -9; starting it again"), 60,
                 "infra.run to start the service again", pause_s=0.5)
        wait_for(lambda: grpc_serving(int(port)), 120, "the service to serve again", pause_s=1)
        [again] = service_pids("services.enrolments.entrypoints.main", port)
        assert again != pid
    finally:
        assert platform.stop() == 0, platform.output()[-3000:]
    assert service_pids("services.enrolments.entrypoints.main", port) == [], "the restarted service stopped too"
