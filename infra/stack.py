"""Start, check and stop the local infrastructure: Apache Kafka (KRaft) and FerretDB on loopback.

There is no Docker engine on the development machines, so the project runs real servers itself:
Kafka from the Maven Central jars that ``make`` copies to ``.llr/kafka/libs`` and FerretDB from the
binary that ``make`` builds from ``infra/ferretdb``. Data, logs and pid files live under ``.llr/``
(git-ignored).

    python -m infra.stack start|stop|status|run

Starting twice is harmless (a healthy running server is left alone); a port taken by another
process is a clear error naming the port; ``stop`` terminates the whole process group and waits
until it is gone, escalating to SIGKILL after a grace period.
"""
from __future__ import annotations

import argparse
import base64
import secrets
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.kafka_security import (
    ADMIN, MECHANISM, PRINCIPAL_NAMES, KafkaAccess, grant, logs_in, password_file,
)

REPO = Path(__file__).resolve().parents[1]


class InfraSettings(BaseSettings):
    """Where the local infrastructure listens and keeps its files (env prefix ``LLR_INFRA_``)."""

    model_config = SettingsConfigDict(env_prefix="LLR_INFRA_")

    home: Path = REPO / ".llr"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    kafka_heap: str = "512m"
    ferretdb_port: int = 27027
    start_timeout_s: float = 120.0
    stop_timeout_s: float = 30.0

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.ferretdb_port}/"


class InfraError(RuntimeError):
    """A problem the user must fix (port taken, binary missing, server did not come up)."""


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not alive for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass
class Component:
    name: str
    ports: dict[str, int]
    marker: str  # a string that must appear in the process command line (guards against pid reuse)
    command: Callable[[], list[str]]
    healthy: Callable[[], bool]
    prepare: Callable[[], None]
    home: Path

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / f"{self.name}.out"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if pid_alive(pid) and self.marker in pid_cmdline(pid):
            return pid
        return None

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return "stopped"
        return "healthy" if self.healthy() else "starting or unhealthy"

    def start(self, timeout_s: float) -> bool:
        """Start unless already running; returns True when this call started the process."""
        pid = self.pid()
        if pid is not None:
            self._wait_healthy(pid, timeout_s)
            return False
        for label, port in self.ports.items():
            if port_in_use(port):
                raise InfraError(
                    f"{self.name}: port {port} ({label}) on 127.0.0.1 is already in use by another "
                    f"process; stop it or choose another port (see infra/stack.py InfraSettings)"
                )
        self.prepare()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.home,
            )
        self.pid_file.write_text(str(proc.pid))
        try:
            self._wait_healthy(proc.pid, timeout_s)
        except InfraError:
            self.stop(10)
            raise
        return True

    def _wait_healthy(self, pid: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                raise InfraError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.5)
        raise InfraError(f"{self.name} was not healthy after {timeout_s:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout_s: float) -> bool:
        """Stop the process group; returns True when something was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.1)
        # Children that outlived the leader (none expected) go too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def kafka_cluster_id() -> str:
    """A random cluster id in Kafka's own form (URL-safe base64 of a UUID, no padding).

    Like Kafka's ``Uuid.randomUuid`` it never starts with '-': one id in 64 would, and the storage
    tool's argument parser then reads it as an option ("--cluster-id: expected one argument").
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


class Stack:
    """The local Kafka and FerretDB, as configured by ``InfraSettings``."""

    def __init__(self, settings: InfraSettings | None = None) -> None:
        self.settings = s = settings or InfraSettings()
        self.home = s.home
        kafka_dir = s.home / "kafka"
        self.kafka_libs = kafka_dir / "libs"
        self.kafka_data = s.home / "data" / "kafka"
        self.kafka_config = s.home / "run" / "kafka-server.properties"
        self.ferretdb_bin = s.home / "bin" / "ferretdb"
        self.ferretdb_data = s.home / "data" / "ferretdb"
        self.kafka = Component(
            name="kafka",
            ports={"kafka broker": s.kafka_port, "kafka controller": s.kafka_controller_port},
            marker="kafka.Kafka",
            command=self._kafka_command,
            healthy=self._kafka_healthy,
            prepare=self._kafka_prepare,
            home=s.home,
        )
        self.ferretdb = Component(
            name="ferretdb",
            ports={"ferretdb": s.ferretdb_port},
            marker=str(self.ferretdb_bin),
            command=lambda: [
                str(self.ferretdb_bin),
                "-listen", f"127.0.0.1:{s.ferretdb_port}",
                "-data-dir", str(self.ferretdb_data),
            ],
            healthy=self._ferretdb_healthy,
            prepare=self._ferretdb_prepare,
            home=s.home,
        )
        self.components = [self.ferretdb, self.kafka]
        self._kafka_setup_port: int | None = None   # set while _kafka_upgrade runs

    # -- Kafka -------------------------------------------------------------------------------
    def _java_base(self) -> list[str]:
        return [
            "java",
            "-Xms128m",
            f"-Xmx{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{REPO / 'infra' / 'kafka' / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.home / 'logs' / 'kafka'}",
            "-cp",
            f"{self.kafka_libs}/*",
        ]

    def _kafka_command(self) -> list[str]:
        return [*self._java_base(), "kafka.Kafka", str(self.kafka_config)]

    # -- Kafka principals -------------------------------------------------------------------
    def kafka_passwords(self) -> dict[str, str]:
        """The SCRAM password of every principal (``services/common/kafka_security.py``), made
        once and kept in ``<home>/keys/kafka/<principal>.password`` (mode 0600) like the other
        development keys: ``make reset`` keeps them, and the broker's credentials follow them."""
        passwords = {}
        for principal in PRINCIPAL_NAMES:
            path = password_file(self.home / "keys", principal)
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.parent.chmod(0o700)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(24) + "\n")
            passwords[principal] = path.read_text().strip()
        return passwords

    def kafka_access(self, principal: str = ADMIN) -> KafkaAccess:
        return KafkaAccess(self.settings.kafka_bootstrap, principal, self.kafka_passwords()[principal])

    def _kafka_rendered_config(self, setup_port: int | None = None) -> str:
        s = self.settings
        template = (REPO / "infra" / "kafka" / "server.properties.in").read_text()
        config = (
            template.replace("@BROKER_PORT@", str(s.kafka_port))
            .replace("@CONTROLLER_PORT@", str(s.kafka_controller_port))
            .replace("@LOG_DIRS@", str(self.kafka_data))
            .replace("@ADMIN_USER@", ADMIN)
            .replace("@ADMIN_PASSWORD@", self.kafka_passwords()[ADMIN])
        )
        if setup_port is not None:   # _kafka_upgrade only: later keys win
            sasl, setup = f"SASL_PLAINTEXT://127.0.0.1:{s.kafka_port}", f"SETUP://127.0.0.1:{setup_port}"
            config += (f"listeners={sasl},CONTROLLER://127.0.0.1:{s.kafka_controller_port},{setup}\n"
                       f"advertised.listeners={sasl},{setup}\n"
                       f"listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,"
                       f"SETUP:PLAINTEXT\n")
        return config

    def _kafka_prepare(self) -> None:
        if not any(self.kafka_libs.glob("kafka_2.13-*.jar")):
            raise InfraError(f"Kafka jars missing in {self.kafka_libs}: run `make infra-deps` first")
        self.kafka_config.parent.mkdir(parents=True, exist_ok=True)
        (self.home / "logs" / "kafka").mkdir(parents=True, exist_ok=True)
        self.kafka_config.touch(mode=0o600)
        self.kafka_config.chmod(0o600)
        self.kafka_config.write_text(self._kafka_rendered_config(self._kafka_setup_port))
        if not (self.kafka_data / "meta.properties").exists():
            self.kafka_data.mkdir(parents=True, exist_ok=True)
            # Fresh storage starts with every principal's SCRAM credentials (KIP-900).
            scram = [arg for principal, password in self.kafka_passwords().items()
                     for arg in ("--add-scram", f"{MECHANISM}=[name={principal},password={password}]")]
            result = subprocess.run(
                [*self._java_base(), "kafka.tools.StorageTool", "format",
                 f"--cluster-id={kafka_cluster_id()}", "-c", str(self.kafka_config), "--ignore-formatted", *scram],
                capture_output=True, text=True, cwd=self.home,
            )
            if result.returncode != 0:
                raise InfraError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")

    def _kafka_check_running_config(self) -> None:
        """A broker that runs with another configuration (one started before SASL, another
        port) would never let these clients in: say so instead of waiting for it."""
        if self.kafka.pid() is not None and self.kafka_config.exists() \
                and self.kafka_config.read_text() != self._kafka_rendered_config():
            raise InfraError(f"the running Kafka (pid {self.kafka.pid()}) was started with another configuration "
                             f"(an older version without SASL/SCRAM and ACLs?): stop it with `make stop` "
                             f"(python -m infra.stack stop) and start again")

    def _kafka_authenticates(self, principal: str) -> bool:
        try:
            return logs_in(self.kafka_access(principal))
        except Exception as exc:
            raise InfraError(str(exc)) from exc

    def secure_kafka(self) -> list[str]:
        """Make every principal's password work and its ACLs exist; returns the principals whose
        credentials were (re)set. Storage formatted by this version has them all; a principal that
        is refused (added by a later version, its password file deleted) gets its credentials set
        by the admin with Kafka's own tool. Storage formatted before Kafka used SASL has none, not
        even the admin's: the broker is restarted once with a temporary PLAINTEXT listener on
        loopback (``_kafka_upgrade``) through which they are set, then restarted as configured."""
        if not self._kafka_authenticates(ADMIN):
            self._kafka_upgrade()
        refused = [p for p in PRINCIPAL_NAMES if not self._kafka_authenticates(p)]
        if refused:
            with self.kafka_client_properties() as command_config:
                self._kafka_set_credentials(refused, self.settings.kafka_bootstrap, command_config)
        self.grant_kafka()
        return refused

    def _kafka_set_credentials(self, principals: list[str], bootstrap: str, command_config: Path | None) -> None:
        passwords = self.kafka_passwords()
        auth = ["--command-config", str(command_config)] if command_config else []
        for principal in principals:
            result = subprocess.run(
                [*self._java_base(), "kafka.admin.ConfigCommand", "--bootstrap-server", bootstrap, *auth,
                 "--alter", "--entity-type", "users", "--entity-name", principal,
                 "--add-config", f"{MECHANISM}=[password={passwords[principal]}]"],
                capture_output=True, text=True, cwd=self.home,
            )
            if result.returncode != 0:
                raise InfraError(f"setting the Kafka credentials of {principal} failed:\n{result.stdout}{result.stderr}\n"
                                 f"or run `make reset` to start on fresh data")
        deadline = time.monotonic() + 30
        while (still := [p for p in principals if not self._kafka_authenticates(p)]) and time.monotonic() < deadline:
            time.sleep(0.5)
        if still:
            raise InfraError(f"Kafka authentication failed for principal(s) {', '.join(still)} after setting their "
                             f"credentials; run `make reset` to start on fresh data")

    def _kafka_upgrade(self) -> None:
        """Give storage formatted before SASL its principals: restart the broker with an extra
        PLAINTEXT listener on a free loopback port (its ANONYMOUS principal is a super user), set
        every principal's SCRAM credentials through it, restart without it."""
        print(f"Kafka: its data ({self.kafka_data}) has no SCRAM credentials (made before Kafka used SASL and ACLs): "
              f"restarting it once to create them", flush=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self._kafka_setup_port = sock.getsockname()[1]
        try:
            self.kafka.stop(self.settings.stop_timeout_s)
            self.kafka.start(self.settings.start_timeout_s)
            self._kafka_set_credentials(list(PRINCIPAL_NAMES), f"127.0.0.1:{self._kafka_setup_port}", None)
        finally:
            self._kafka_setup_port = None
            self.kafka.stop(self.settings.stop_timeout_s)
        self.kafka.start(self.settings.start_timeout_s)

    @contextlib.contextmanager
    def kafka_client_properties(self, principal: str = ADMIN) -> Iterator[Path]:
        """A client configuration file (mode 0600, removed afterwards) for Kafka's own tools."""
        path = self.home / "run" / f"kafka-client-{principal}-{os.getpid()}.properties"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"security.protocol=SASL_PLAINTEXT\nsasl.mechanism={MECHANISM}\n"
                     f"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
                     f'username="{principal}" password="{self.kafka_passwords()[principal]}";\n')
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def grant_kafka(self, namespace: str = "") -> None:
        """Create the platform's ACLs for topics and groups prefixed with ``namespace`` (creating
        an ACL that exists changes nothing)."""
        try:
            grant(self.kafka_access(), namespace)
        except RuntimeError as exc:
            raise InfraError(str(exc)) from exc

    def _kafka_healthy(self) -> bool:
        if not port_in_use(self.settings.kafka_port):
            return False
        from kafka import KafkaAdminClient  # imported late: `make` installs it first

        try:
            if not logs_in(self.kafka_access(), timeout_s=3):
                return True  # up, but refuses the admin's credentials: secure_kafka() sets them
            admin = KafkaAdminClient(
                **self.kafka_access().client_config(),
                request_timeout_ms=3000,
                client_id="llr-infra-health",
            )
        except Exception:
            return False
        try:
            admin.describe_cluster()
            admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            admin.close()

    # -- FerretDB ----------------------------------------------------------------------------
    def _ferretdb_prepare(self) -> None:
        if not self.ferretdb_bin.exists():
            raise InfraError(f"FerretDB binary missing at {self.ferretdb_bin}: run `make infra-deps` first")
        self.ferretdb_data.mkdir(parents=True, exist_ok=True)

    def _ferretdb_healthy(self) -> bool:
        if not port_in_use(self.settings.ferretdb_port):
            return False
        import pymongo

        client = pymongo.MongoClient(self.settings.mongo_uri, serverSelectionTimeoutMS=2000)
        try:
            client.admin.command("ping")
            return True
        except Exception:
            return False
        finally:
            client.close()

    # -- whole stack -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        path = self.home / "run" / "stack.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def start(self) -> list[str]:
        """Start every component that is not running; returns the names this call started."""
        started = []
        with self._lock():
            try:
                self._kafka_check_running_config()
                for c in self.components:
                    if c.start(self.settings.start_timeout_s):
                        started.append(c.name)
                self.secure_kafka()
            except InfraError:
                for name in reversed(started):
                    self._component(name).stop(self.settings.stop_timeout_s)
                raise
        return started

    def stop(self, names: list[str] | None = None) -> list[str]:
        stopped = []
        with self._lock():
            for c in reversed(self.components):
                if names is None or c.name in names:
                    if c.stop(self.settings.stop_timeout_s):
                        stopped.append(c.name)
        return stopped

    def healthy(self) -> bool:
        return all(c.pid() is not None and c.healthy() for c in self.components)

    def status(self) -> dict[str, str]:
        return {c.name: c.status() for c in self.components}

    def _component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    def describe(self) -> str:
        s = self.settings
        st = self.status()
        return (
            f"kafka     {st['kafka']:<10} bootstrap {s.kafka_bootstrap}\n"
            f"ferretdb  {st['ferretdb']:<10} {s.mongo_uri}\n"
            f"data and logs under {self.home}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.stack", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status", "run"])
    args = parser.parse_args(argv)
    stack = Stack()
    try:
        if args.command == "start":
            started = stack.start()
            print(f"started: {', '.join(started) or 'nothing (already running)'}")
            print(stack.describe())
        elif args.command == "stop":
            stopped = stack.stop()
            print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
        elif args.command == "status":
            from infra.supervise import services_status

            print(stack.describe())
            for name, (port, health) in services_status().items():
                print(f"{name:<14} {health:<12} gRPC 127.0.0.1:{port}")
            return 0 if stack.healthy() else 3
        elif args.command == "run":
            return run_foreground(stack)
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def run_foreground(stack: Stack) -> int:
    """Start the stack, report it, and stop what this call started on Ctrl-C or SIGTERM."""
    started = stack.start()
    print(stack.describe(), flush=True)
    print("infrastructure healthy; press Ctrl-C to stop", flush=True)
    stop = {"now": False}

    def _handler(signum, frame):  # noqa: ARG001
        stop["now"] = True

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    while not stop["now"]:
        time.sleep(0.5)
    print("stopping...", flush=True)
    stack.stop(started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
