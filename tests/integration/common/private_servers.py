"""A private Kafka broker or FerretDB server for the tests that kill and restart one.

Each runs from the shared stack's build (the Kafka jars in ``<home>/kafka``, the FerretDB binary
in ``<home>/bin``) with its own ports, data and logs in a temporary directory, so the shared
servers that every other test uses are never touched. The context managers always kill the
server and remove its directory, also when the test failed.
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

from infra.stack import Component, InfraError, InfraSettings, Stack, pid_alive, port_in_use


def quiet_port() -> int:
    """A free port below the kernel's ephemeral range. While a server is down its clients keep
    reconnecting; with a port from that range one of them can be given the server's port as its
    own source port and connect to itself, and the port then looks taken when the server restarts."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randrange(20000, min(low, 32000))
        if not port_in_use(port):
            return port


class PrivateServer:
    def __init__(self, stack: Stack, component: Component) -> None:
        self.stack = stack
        self.component = component
        self.settings = stack.settings

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap

    @property
    def kafka(self):
        """The private broker as its admin principal."""
        return self.stack.kafka_access()

    @property
    def uri(self) -> str:
        return self.settings.mongo_uri

    def start(self, attempts: int = 3) -> None:
        """Start (again). A server restarted right after a SIGKILL has been seen to exit during
        start-up once in a full run (an empty log: its port or data directory not released yet),
        so a start is tried up to ``attempts`` times, two seconds apart."""
        for attempt in range(1, attempts + 1):
            try:
                self.component.start(self.settings.start_timeout_s)
                return
            except InfraError:
                if attempt == attempts:
                    raise
                self.component.pid_file.unlink(missing_ok=True)
                time.sleep(2.0)

    def kill(self) -> None:
        """SIGKILL the server's process group, as a crash would, and wait until it is gone."""
        pid = self.component.pid()
        assert pid is not None, f"the private {self.component.name} is not running"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)

    def stop(self) -> None:
        if self.component.pid() is not None:
            self.kill()  # its data is thrown away anyway
        self.component.pid_file.unlink(missing_ok=True)


@contextlib.contextmanager
def _private(shared: Stack, name: str, build_dir: str, **settings) -> Iterator[PrivateServer]:
    home = Path(tempfile.mkdtemp(prefix=f"llr-private-{name}-"))
    server = None
    try:
        (home / build_dir).symlink_to(shared.settings.home / build_dir, target_is_directory=True)
        # The principals' passwords of the shared stack, so that services started on the private
        # server find theirs where they always do.
        (home / "keys").symlink_to(shared.settings.home / "keys", target_is_directory=True)
        stack = Stack(InfraSettings(home=home, start_timeout_s=60, **settings))
        server = PrivateServer(stack, getattr(stack, name))
        yield server
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(home, ignore_errors=True)  # removes the link, never what it points to


@contextlib.contextmanager
def private_broker(shared: Stack) -> Iterator[PrivateServer]:
    """A single-node KRaft broker with a 256 MiB heap; ``.bootstrap`` to connect."""
    with _private(shared, "kafka", "kafka", kafka_port=quiet_port(), kafka_controller_port=quiet_port(),
                  kafka_heap="256m") as broker:
        write_config = broker.component.prepare

        def prepare() -> None:
            write_config()
            # After a SIGKILL the controller would wait out the dead broker's 9 s session before
            # the new one may serve; the test decides itself how long the broker stays down.
            with open(broker.stack.kafka_config, "a") as config:
                config.write("broker.session.timeout.ms=2000\nbroker.heartbeat.interval.ms=500\n")
        broker.component.prepare = prepare
        broker.start()
        yield broker


@contextlib.contextmanager
def private_ferretdb(shared: Stack) -> Iterator[PrivateServer]:
    """A FerretDB server on SQLite; ``.uri`` to connect."""
    with _private(shared, "ferretdb", "bin", ferretdb_port=quiet_port()) as server:
        server.start()
        yield server
