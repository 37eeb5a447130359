"""A private single-node Kafka broker for the tests that kill, freeze or restart one.

It runs from the jars of the shared stack (``<home>/kafka/libs``) with its own ports, data and
logs in a temporary directory and a small heap, so the shared broker that every other test uses
is never touched. ``private_broker()`` is the context manager the fixtures use: it always stops
the broker and removes its directory, also when the test failed.
"""
from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Iterator

from infra.stack import Component, InfraSettings, Stack, pid_alive, port_in_use


def quiet_port() -> int:
    """A free port below the kernel's ephemeral range. While the broker is down, its clients keep
    reconnecting; with a port from that range one of them can be given the broker's port as its
    own source port and connect to itself, and the port then looks taken when the broker restarts."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randrange(20000, min(low, 32000))
        if not port_in_use(port):
            return port


class PrivateBroker:
    def __init__(self, shared: Stack, home: Path) -> None:
        (home / "kafka").symlink_to(shared.settings.home / "kafka", target_is_directory=True)
        self.settings = InfraSettings(home=home, kafka_port=quiet_port(), kafka_controller_port=quiet_port(),
                                      kafka_heap="256m", start_timeout_s=60)
        stack = Stack(self.settings)
        self.kafka: Component = stack.kafka
        write_config = self.kafka.prepare

        def prepare() -> None:
            write_config()
            # After a SIGKILL the controller would wait out the dead broker's 9 s session before
            # the new one may serve; the test decides itself how long the broker stays down.
            with open(stack.kafka_config, "a") as config:
                config.write("broker.session.timeout.ms=2000\nbroker.heartbeat.interval.ms=500\n")
        self.kafka.prepare = prepare

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap

    def start(self) -> None:
        self.kafka.start(self.settings.start_timeout_s)

    def kill(self) -> None:
        """SIGKILL the broker's process group, as a crash would, and wait until it is gone."""
        pid = self.kafka.pid()
        assert pid is not None, "the private broker is not running"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill it outright (its data is thrown away anyway; this also ends a frozen broker)."""
        if self.kafka.pid() is not None:
            self.kill()
        self.kafka.pid_file.unlink(missing_ok=True)


@contextlib.contextmanager
def private_broker(shared: Stack) -> Iterator[PrivateBroker]:
    home = Path(tempfile.mkdtemp(prefix="llr-private-kafka-"))
    broker = None
    try:
        broker = PrivateBroker(shared, home)
        broker.start()
        yield broker
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(home, ignore_errors=True)
