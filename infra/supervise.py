"""Keeping the services of ``make run`` alive, as Kubernetes does with the probes in ``deploy/``.

A service whose process ended is started again at once. One that reports NOT_SERVING on
``grpc.health.v1`` (a consumer or the outbox relay that died or is stuck, see
``services/common/runtime.py``), or does not answer its health check, for longer than
``unhealthy_s`` is stopped and started again. A service that ended or was restarted
``max_starts`` times within ``window_s`` is crash-looping: the supervisor gives up with an
``InfraError`` naming it and its log, instead of restarting it for ever.
"""
from __future__ import annotations

import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from infra.stack import InfraError


def stop_process(proc: subprocess.Popen, grace_s: float = 10) -> None:
    """SIGTERM, and SIGKILL when it has not ended after ``grace_s``; returns once it ended."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def grpc_health(port: int, timeout_s: float = 2.0, ca_file: Path | None = None) -> str:
    """What the gRPC server on ``port`` says: SERVING, NOT_SERVING, or "not running" (over TLS
    trusting ``ca_file`` when given)."""
    from services.common.healthcheck import status

    return status(port, timeout_s=timeout_s, ca_file=ca_file)


def grpc_serving(port: int, timeout_s: float = 2.0, ca_file: Path | None = None) -> bool:
    """Whether the gRPC server on ``port`` answers SERVING."""
    return grpc_health(port, timeout_s, ca_file) == "SERVING"


def services_status() -> dict[str, tuple[int, str]]:
    """Each service's configured gRPC port and what its health check says (``make status``)."""
    from infra.run import _settings, available_services

    found = {}
    for name in available_services():
        settings = _settings(name)
        if settings and settings.grpc_port:
            found[name] = (settings.grpc_port, grpc_health(settings.grpc_port, ca_file=settings.grpc_tls_ca_file))
    return found


@dataclass
class Service:
    name: str
    spawn: Callable[[], subprocess.Popen]     # starts the process
    port: int | None                          # its gRPC port; None: watched as a process only
    log_path: Path
    ready: Callable[[subprocess.Popen], None] = lambda proc: None   # waits until it serves
    proc: subprocess.Popen | None = None
    unhealthy_since: float | None = None
    starts: deque = field(default_factory=deque)


class Supervisor:
    def __init__(self, *, unhealthy_s: float = 60.0, check_every_s: float = 2.0, max_starts: int = 5,
                 window_s: float = 120.0, health: Callable[[int], bool] = grpc_serving,
                 clock: Callable[[], float] = time.monotonic, say: Callable[[str], None] = print) -> None:
        self.services: list[Service] = []
        self.unhealthy_s, self.check_every_s = unhealthy_s, check_every_s
        self.max_starts, self.window_s = max_starts, window_s
        self.health, self.clock, self.say = health, clock, say
        self._next_health_check = 0.0
        self.restarts = 0

    def add(self, service: Service) -> Service:
        self.services.append(service)
        self._start(service)
        return service

    @property
    def procs(self) -> list[subprocess.Popen]:
        return [s.proc for s in self.services if s.proc is not None]

    def _start(self, service: Service) -> None:
        now = self.clock()
        service.starts.append(now)
        while service.starts and service.starts[0] < now - self.window_s:
            service.starts.popleft()
        if len(service.starts) > self.max_starts:
            raise InfraError(f"{service.name} keeps failing ({len(service.starts) - 1} restarts within "
                             f"{self.window_s:.0f} s); see {service.log_path}")
        service.unhealthy_since = None
        # Known before it is waited for: a stop during the wait must stop this process too.
        service.proc = service.spawn()
        service.ready(service.proc)

    def _restart(self, service: Service, why: str) -> None:
        self.say(f"{service.name} {why}; starting it again (log {service.log_path})")
        if service.proc is not None:
            stop_process(service.proc)
        self.restarts += 1
        self._start(service)

    def check(self) -> None:
        """One round: restart what ended, and what stayed unhealthy for too long."""
        now = self.clock()
        look_at_health = now >= self._next_health_check
        if look_at_health:
            self._next_health_check = now + self.check_every_s
        for service in self.services:
            if service.proc is not None and service.proc.poll() is not None:
                self._restart(service, f"exited with {service.proc.returncode}")
                continue
            if not look_at_health or service.port is None:
                continue
            if self.health(service.port):
                if service.unhealthy_since is not None:
                    self.say(f"{service.name} is healthy again")
                service.unhealthy_since = None
            elif service.unhealthy_since is None:
                service.unhealthy_since = now
                self.say(f"{service.name} reports NOT_SERVING; restarted if it stays so for {self.unhealthy_s:.0f} s")
            elif now - service.unhealthy_since > self.unhealthy_s:
                self._restart(service, f"was not healthy for {now - service.unhealthy_since:.0f} s")
