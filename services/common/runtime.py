"""The process shell of a service: gRPC server, outbox relay, event consumers, periodic jobs
(deadlines) and public HTTP documents, started together and stopped together.

Entrypoints build a ``ServiceRuntime``, register their parts and call ``run_forever()``; tests do
the same in-process with ``grpc_port=0`` and a unique database and topic namespace, then ``stop()``.

Each part runs in a thread that the runtime watches: a part whose thread ended, or a consumer
that made no progress for ``stall_after_s``, makes every service of the gRPC server report
NOT_SERVING on ``grpc.health.v1`` until it is well again. A thread that ended is started again
after a pause (1 s, doubling up to a minute): every part may run again, since a consumer resumes
from its committed offsets and the relay and the periodic jobs from what is in the database.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from pymongo.database import Database

from .audit import LOG_NAME as AUDIT_LOG
from .audit import AuditTrail
from .auth import TokenVerifier
from .clock import Clock, SystemClock
from .grpc_server import GrpcApp, Registration, build_server
from .http_server import Handle, PublicHttpServer
from .kafka import DeadLetters, EventConsumer, Handler, TopicSpec, ensure_topics, make_producer
from .mongo import connect, disconnect
from .outbox import OutboxRelay
from .persistence import MongoKeyedLog
from .settings import ServiceSettings
from .tls import server_credentials

log = logging.getLogger(__name__)

RESTART_MAX_PAUSE_S = 60.0


@dataclass(eq=False)
class Part:
    """A thread of the service that the runtime watches and restarts, or (``run`` None) a loop that
    runs elsewhere and is only watched for progress (``ServiceRuntime.watch``)."""

    name: str
    run: Callable[[], None] | None
    # Monotonic time of the part's last progress, for parts that report it (consumers).
    progress: Callable[[], float] | None = None
    thread: threading.Thread | None = None
    started_at: float = 0.0
    deaths: int = 0
    restart_at: float | None = None  # set while the part is dead: when it is started again

    def problem(self, now: float, stall_after_s: float) -> str | None:
        if self.run is None:
            last = self.progress()
            if last and now - last > stall_after_s:   # 0.0: not started yet
                return f"{self.name} made no progress for {now - last:.0f} s"
            return None
        if self.thread is None or not self.thread.is_alive():
            return f"{self.name} is not running"
        if self.progress is not None:
            idle = now - max(self.progress(), self.started_at)
            if idle > stall_after_s:
                return f"{self.name} made no progress for {idle:.0f} s"
        return None


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, clock: Clock | None = None, *, watch_interval_s: float = 0.5,
                 stall_after_s: float = 120.0, restart_parts: bool = True, token_clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        # Access tokens are checked on real time, whatever time the service lives on (services.common.auth).
        self.token_clock = token_clock or SystemClock()
        self.watch_interval_s = watch_interval_s
        self.stall_after_s = stall_after_s
        self.restart_parts = restart_parts
        self.parts: list[Part] = []
        self.problems: list[str] = []  # why the service is not healthy; empty when it is
        self._serving: bool | None = None  # what gRPC health says now
        self._watcher: threading.Thread | None = None
        self._lock = threading.Lock()  # the watcher's checks against stop()
        self._stops: list[Callable[[], None]] = []  # signal the parts to stop
        self._closers: list[Callable[[], None]] = []  # release resources once the parts stopped
        self._stopped = threading.Event()
        self.grpc: GrpcApp | None = None
        self.http: PublicHttpServer | None = None
        self.relay: OutboxRelay | None = None
        self.db: Database | None = None
        self._producer = None

    # -- infrastructure -----------------------------------------------------------------------
    def connect_mongo(self) -> Database:
        self.db = connect(self.settings)
        self._closers.append(lambda: disconnect(self.settings.service_name))
        return self.db

    def audit_trail(self) -> AuditTrail | None:
        """The service's audit trail (``services.common.audit``), in its database: every service
        with a database records its commands there; one without (the KPI service) has none."""
        if self.db is None:
            return None
        return AuditTrail(MongoKeyedLog(self.db, AUDIT_LOG), self.clock, self.settings.service_name)

    def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        ensure_topics(self.settings.kafka, specs, self.settings.topic_replication_factor)

    def verifier(self) -> TokenVerifier:
        s = self.settings
        return TokenVerifier(s.auth_public_key_pem(), s.auth_issuer, self.token_clock, audience=s.audience,
                             leeway_s=s.auth_leeway_s)

    # -- parts ------------------------------------------------------------------------------
    def add_outbox_relay(self, sources: list) -> OutboxRelay:
        """Publish the pending events of ``sources`` (the ``CommitOutbox`` of the service's
        stores) from a thread of this process; watched like a consumer (no pass that works for
        ``stall_after_s``: NOT_SERVING)."""
        self._producer = make_producer(self.settings.kafka, f"{self.settings.service_name}-relay")
        self.relay = OutboxRelay(self._producer, sources, poll_interval_s=self.settings.outbox_poll_interval_s,
                                 sweep_interval_s=self.settings.outbox_sweep_interval_s)
        relay = self.relay
        self._spawn("outbox-relay", relay.run, progress=lambda: relay.progress_at)
        self._stops.append(self.relay.stop)
        return self.relay

    def add_consumer(self, group_suffix: str, topics: list[str], handler: Handler, **options) -> EventConsumer:
        """Consume ``topics`` in the group ``<namespace><service>.<group_suffix>``; ``options`` go to
        ``EventConsumer`` (retries, Kafka consumer settings)."""
        options.setdefault("dead_letters", DeadLetters(self.settings.kafka,
                                                       self.settings.topic_replication_factor))
        consumer = EventConsumer(
            kafka=self.settings.kafka,
            group_id=f"{self.settings.topic_namespace}{self.settings.service_name}.{group_suffix}",
            topics=topics,
            handler=handler,
            client_id=f"{self.settings.service_name}-{group_suffix}",
            **{"workers": self.settings.consumer_workers, **options},
        )
        self._spawn(f"consumer-{group_suffix}", consumer.run, progress=lambda: consumer.progress_at)
        self._stops.append(consumer.stop)
        return consumer

    def add_periodic(self, name: str, interval_s: float, job: Callable[[], object]) -> None:
        """Run ``job`` every ``interval_s`` seconds until stop (e.g. firing due deadlines). A job
        that keeps failing is logged when it starts failing and when it works again."""
        def loop() -> None:
            failing_since = None
            while not self._stopped.wait(interval_s):
                try:
                    job()
                except Exception:
                    if failing_since is None:
                        failing_since = time.monotonic()
                        log.exception("periodic job %s failed; retrying every %s s", name, interval_s)
                    continue
                if failing_since is not None:
                    log.info("periodic job %s works again after %.0f s", name, time.monotonic() - failing_since)
                    failing_since = None
        self._spawn(f"periodic-{name}", loop)

    def watch(self, name: str, progress: Callable[[], float]) -> None:
        """Watch a loop that runs outside the runtime's threads (the KPI's faust worker on the main
        thread): ``progress()`` is the monotonic time of its last beat, 0.0 until its first; no beat
        for ``stall_after_s`` means NOT_SERVING. It is not restarted from here (a process whose main
        loop is stuck is restarted by its supervisor: ``infra.supervise``, Kubernetes' probe)."""
        self.parts.append(Part(name, None, progress))
        self._ensure_watcher()

    def serve_grpc(self, registrations: Iterable[Registration], public_methods: Iterable[str] = ()) -> GrpcApp:
        s = self.settings
        try:
            credentials = None if s.grpc_tls_cert_file is None else server_credentials(s.grpc_tls_cert_file,
                                                                                        s.grpc_tls_key_file)
        except OSError as exc:
            prefix = s.model_config.get("env_prefix", "")
            raise RuntimeError(f"cannot read {prefix}GRPC_TLS_CERT_FILE={s.grpc_tls_cert_file} or "
                               f"{prefix}GRPC_TLS_KEY_FILE={s.grpc_tls_key_file}: {exc}") from exc
        self.grpc = build_server(service_name=s.service_name, host=s.grpc_host, port=s.grpc_port,
                                 registrations=registrations, verifier=self.verifier(),
                                 public_methods=public_methods, max_workers=s.grpc_max_workers,
                                 credentials=credentials, audit_trail=self.audit_trail())
        with self._lock:
            self.check_parts()
        return self.grpc

    def bind_http(self, port: int, *, tls_cert_file=None, tls_key_file=None) -> PublicHttpServer:
        """Listen for the service's public HTTP documents on ``grpc_host`` (port 0 picks a free
        port); nothing is answered before ``serve_http``. Bound first so that the service can be
        built knowing its own URL."""
        self.http = PublicHttpServer(name=self.settings.service_name, host=self.settings.grpc_host, port=port,
                                     tls_cert_file=tls_cert_file, tls_key_file=tls_key_file)
        self._closers.append(self.http.close)
        return self.http

    def serve_http(self, handle: Handle) -> PublicHttpServer:
        """Answer GET and HEAD on the bound server with ``handle(path)``, from a watched thread."""
        if self.http is None:
            raise RuntimeError("bind_http first")
        self.http.handle = handle
        self._spawn("http", self.http.serve_forever)
        self._stops.append(self.http.shutdown)
        return self.http

    def _spawn(self, name: str, target: Callable[[], None], progress: Callable[[], float] | None = None) -> None:
        part = Part(name, target, progress)
        self.parts.append(part)
        self._start(part)
        self._ensure_watcher()

    def _ensure_watcher(self) -> None:
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name=f"{self.settings.service_name}-watcher",
                                             daemon=True)
            self._watcher.start()

    def _start(self, part: Part) -> None:
        def run() -> None:
            try:
                part.run()
            except BaseException:
                log.exception("%s stopped by an error", part.name)
            else:
                if not self._stopped.is_set():
                    log.error("%s returned while the service runs", part.name)

        part.started_at, part.restart_at = time.monotonic(), None
        part.thread = threading.Thread(target=run, name=f"{self.settings.service_name}-{part.name}", daemon=True)
        part.thread.start()

    # -- health ---------------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stopped.wait(self.watch_interval_s):
            with self._lock:
                if not self._stopped.is_set():
                    self.check_parts()

    def check_parts(self) -> list[str]:
        """Restart the parts whose thread ended (when it is time) and report health; returns the
        problems found. Called by the watcher thread every ``watch_interval_s``."""
        now = time.monotonic()
        problems = []
        for part in self.parts:
            problem = part.problem(now, self.stall_after_s)
            if problem is None:
                if now - part.started_at > RESTART_MAX_PAUSE_S:
                    part.deaths = 0  # well for a while: a next death is restarted quickly again
                continue
            problems.append(problem)
            if part.thread is not None and not part.thread.is_alive():
                if part.restart_at is None:  # found dead just now
                    part.deaths += 1
                    part.restart_at = now + min(RESTART_MAX_PAUSE_S, 2.0 ** (part.deaths - 1))
                elif self.restart_parts and now >= part.restart_at:
                    log.warning("starting %s again (it ended %d times)", part.name, part.deaths)
                    self._start(part)
        self.problems = problems
        self._report_health()
        return problems

    def _report_health(self) -> None:
        serving = not self.problems
        if self.grpc is None or serving == self._serving:
            return
        self.grpc.set_serving(serving)
        if serving and self._serving is not None:
            log.info("%s SERVING again", self.settings.service_name)
        elif not serving:
            log.error("%s NOT_SERVING: %s", self.settings.service_name, "; ".join(self.problems))
        self._serving = serving

    # -- life cycle -------------------------------------------------------------------------
    def stop(self, grace_s: float = 5.0) -> None:
        if self._stopped.is_set():
            return
        with self._lock:  # no restart from here on
            self._stopped.set()
        if self.grpc is not None:
            self.grpc.stop(grace_s)
        # Stop in reverse order of registration, then wait for the threads.
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception:
                log.exception("error while stopping")
        for part in self.parts:
            if part.thread is not None:
                part.thread.join(timeout=grace_s + 10)
        if self._producer is not None:
            self._producer.close()
        for close in self._closers:
            close()

    def run_forever(self) -> None:
        """Block until SIGINT or SIGTERM, then stop cleanly."""
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        signal.signal(signal.SIGINT, lambda *_: done.set())
        log.info("%s running (gRPC port %s%s)", self.settings.service_name, self.grpc.port if self.grpc else "-",
                 f", HTTP {self.http.url}" if self.http else "")
        done.wait()
        self.stop()
