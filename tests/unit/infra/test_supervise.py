"""The supervisor of `make run` restarts a service that ended or stays unhealthy, and gives up on
one that crash-loops (fake processes, health answers and clock: the decisions only)."""
from __future__ import annotations

from pathlib import Path

import pytest

from infra.stack import InfraError
from infra.supervise import Service, Supervisor


class Proc:
    def __init__(self) -> None:
        self.returncode: int | None = None
        self.terminated = False

    def poll(self) -> int | None:
        return self.returncode

    def terminate(self) -> None:
        self.terminated, self.returncode = True, -15

    def wait(self, timeout: float | None = None) -> int | None:
        return self.returncode

    def kill(self) -> None:
        self.returncode = -9


class World:
    def __init__(self) -> None:
        self.now = 0.0
        self.serving = True
        self.started: list[Proc] = []
        self.said: list[str] = []
        self.supervisor = Supervisor(unhealthy_s=60, check_every_s=2, max_starts=3, window_s=120,
                                     health=lambda port: self.serving, clock=lambda: self.now, say=self.said.append)
        self.service = self.supervisor.add(Service("accounts", self.start, 50061, Path("accounts.log")))

    def start(self) -> Proc:
        proc = Proc()
        self.started.append(proc)
        return proc

    def tick(self, seconds: float) -> None:
        self.now += seconds
        self.supervisor.check()


def test_a_service_that_exited_is_started_again():
    w = World()
    w.started[0].returncode = 1
    w.tick(0.5)
    assert len(w.started) == 2 and w.service.proc is w.started[1]
    assert w.said == ["accounts exited with 1; starting it again (log accounts.log)"]


def test_a_service_not_serving_for_longer_than_the_limit_is_restarted_and_a_short_blip_is_not():
    w = World()
    w.serving = False
    w.tick(2)
    w.serving = True
    w.tick(30)
    assert len(w.started) == 1, "a blip shorter than the limit is no reason"
    w.serving = False
    for _ in range(31):
        w.tick(2)
    assert len(w.started) == 1, "60 s not serving: not yet"
    w.tick(2)
    assert len(w.started) == 2 and w.started[0].terminated
    assert any("was not healthy for 62 s" in s for s in w.said)


def test_a_crash_loop_is_reported_instead_of_restarted_for_ever():
    w = World()
    with pytest.raises(InfraError, match="accounts keeps failing .* see accounts.log"):
        for _ in range(10):
            w.started[-1].returncode = 1
            w.tick(1)
    assert len(w.started) == 3, "three starts within the window, then it gives up"


def test_a_stop_while_a_restarted_service_gets_ready_still_stops_that_process():
    w = World()

    def interrupted(proc):
        raise KeyboardInterrupt  # Ctrl-C or SIGTERM while infra.run waits for the service's health
    w.service.ready = interrupted
    w.started[0].returncode = -9
    with pytest.raises(KeyboardInterrupt):
        w.tick(0.5)
    assert w.supervisor.procs == [w.started[1]], "the new process is the one infra.run stops"
