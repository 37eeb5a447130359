"""The process shell of a service: gRPC server, outbox relay, event consumers and periodic jobs
(deadlines), started together and stopped together.

Entrypoints build a ``ServiceRuntime``, register their parts and call ``run_forever()``; tests do
the same in-process with ``grpc_port=0`` and a unique database and topic namespace, then ``stop()``.
"""
from __future__ import annotations

import logging
import signal
import threading
from typing import Callable, Iterable

from pymongo.database import Database

from .auth import TokenVerifier
from .clock import Clock, SystemClock
from .grpc_server import GrpcApp, Registration, build_server
from .kafka import EventConsumer, Handler, TopicSpec, ensure_topics, make_producer
from .mongo import connect, disconnect
from .outbox import OutboxRelay
from .settings import ServiceSettings

log = logging.getLogger(__name__)


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self._threads: list[threading.Thread] = []
        self._stops: list[Callable[[], None]] = []  # signal the parts to stop
        self._closers: list[Callable[[], None]] = []  # release resources once the parts stopped
        self._stopped = threading.Event()
        self.grpc: GrpcApp | None = None
        self.relay: OutboxRelay | None = None
        self.db: Database | None = None
        self._producer = None

    # -- infrastructure -----------------------------------------------------------------------
    def connect_mongo(self) -> Database:
        self.db = connect(self.settings)
        self._closers.append(lambda: disconnect(self.settings.service_name))
        return self.db

    def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        ensure_topics(self.settings.kafka_bootstrap, specs)

    def verifier(self) -> TokenVerifier:
        return TokenVerifier(self.settings.auth_public_key_pem(), self.settings.auth_issuer, self.clock)

    # -- parts ------------------------------------------------------------------------------
    def add_outbox_relay(self, sources: list) -> OutboxRelay:
        """Publish the pending events of ``sources`` (collections with document outboxes, or a
        ``services.common.persistence.CommitOutbox``) from a thread of this process."""
        self._producer = make_producer(self.settings.kafka_bootstrap, f"{self.settings.service_name}-relay")
        self.relay = OutboxRelay(self._producer, sources, poll_interval_s=self.settings.outbox_poll_interval_s,
                                 sweep_interval_s=self.settings.outbox_sweep_interval_s)
        self._spawn("outbox-relay", self.relay.run)
        self._stops.append(self.relay.stop)
        return self.relay

    def add_consumer(self, group_suffix: str, topics: list[str], handler: Handler) -> EventConsumer:
        consumer = EventConsumer(
            bootstrap=self.settings.kafka_bootstrap,
            group_id=f"{self.settings.topic_namespace}{self.settings.service_name}.{group_suffix}",
            topics=topics,
            handler=handler,
            client_id=f"{self.settings.service_name}-{group_suffix}",
        )
        self._spawn(f"consumer-{group_suffix}", consumer.run)
        self._stops.append(consumer.stop)
        return consumer

    def add_periodic(self, name: str, interval_s: float, job: Callable[[], object]) -> None:
        """Run ``job`` every ``interval_s`` seconds until stop (e.g. firing due deadlines)."""
        def loop() -> None:
            while not self._stopped.wait(interval_s):
                try:
                    job()
                except Exception:
                    log.exception("periodic job %s failed; will retry", name)
        self._spawn(f"periodic-{name}", loop)

    def serve_grpc(self, registrations: Iterable[Registration], public_methods: Iterable[str] = ()) -> GrpcApp:
        s = self.settings
        self.grpc = build_server(service_name=s.service_name, host=s.grpc_host, port=s.grpc_port,
                                 registrations=registrations, verifier=self.verifier(),
                                 public_methods=public_methods, max_workers=s.grpc_max_workers)
        return self.grpc

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        t = threading.Thread(target=target, name=f"{self.settings.service_name}-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    # -- life cycle -------------------------------------------------------------------------
    def stop(self, grace_s: float = 5.0) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.grpc is not None:
            self.grpc.stop(grace_s)
        # Stop in reverse order of registration, then wait for the threads.
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception:
                log.exception("error while stopping")
        for t in self._threads:
            t.join(timeout=grace_s + 10)
        if self._producer is not None:
            self._producer.close()
        for close in self._closers:
            close()

    def run_forever(self) -> None:
        """Block until SIGINT or SIGTERM, then stop cleanly."""
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        signal.signal(signal.SIGINT, lambda *_: done.set())
        log.info("%s running (gRPC port %s)", self.settings.service_name, self.grpc.port if self.grpc else "-")
        done.wait()
        self.stop()
