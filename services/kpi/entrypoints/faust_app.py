"""The faust-streaming worker of the KPI projection.

One agent consumes the four source topics (population, enrolments, accounts, certification),
maps each envelope to KPI domain events and hands them to the ``Projection`` (the state owner,
see ``service.projection`` for the design). Every folded record and every source-partition
watermark is persisted in ONE rocksdict-backed faust table ``kpi-state`` (keys ``r/<table>/<key>``
and ``w/<topic>/<partition>``, JSON values); the in-memory mirror is reloaded from it whenever
faust finished restoring the table. The table's changelog partition is the source partition, so
the source topics must have ``topic_partitions`` partitions (they are created with that count).

A timer reads the projection out (only when something was folded since the last read-out, and at
most a quarter of the time), publishes the changed cells to the compacted topic ``llr.kpi.v1.cells``
(key ``kpi|cell``, value ``KpiCell``; a tombstone for a vanished cell) and to the board behind the
gRPC API and the dashboard; when the stream is quiet (or the history is older than
``history_max_age_s``) it also refreshes the month-end history (``llr.kpi.v1.history``).
On the same timer the fraud signals are re-evaluated over the state when something was folded
since, at most every ``signals_interval_s``, into the ``SignalDesk`` the gRPC API serves to the
regisseur (never to a topic: they name persons).

Undecodable or malformed source events and late events go to ``<source topic>.dlq`` with the
reason in the ``dlq.reason`` header; facts the KPIs do not use are skipped.

Deployment: exactly ONE worker (the read-out needs the whole state); see the README for scaling.
"""
from __future__ import annotations

import json
import logging
import time
from datetime import timedelta
from typing import Callable

import faust
from faust.exceptions import NotReady

from services.common.envelope import decode
from services.common.faust_app import make_faust_app
from services.common.kafka import DLQ_SUFFIX
from services.kpi.domain import definitions as d

from ..adapters.cells import cell_key, history_key, to_pb
from ..adapters.envelopes import MappingError, to_domain
from ..service.board import Board
from ..service.projection import Outcome, Projection
from ..service.signals import SignalDesk
from ..settings import KpiSettings

log = logging.getLogger(__name__)

SOURCE_CONTEXTS = ("population", "enrolments", "accounts", "certification")
# One encoder for every persisted record (``json.dumps`` with options builds a new one per call).
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def source_topics(settings: KpiSettings) -> list[str]:
    return [settings.topic(c) for c in SOURCE_CONTEXTS]


def output_topics(settings: KpiSettings) -> tuple[str, str]:
    return settings.topic("kpi", "cells"), settings.topic("kpi", "history")


def make_projection(settings: KpiSettings) -> Projection:
    return Projection(
        d.FoldConfig(max_lateness=timedelta(days=settings.max_lateness_days)),
        d.DisclosureConfig(settings.disclosure_min_numerator, settings.disclosure_min_denominator),
        settings.history_months,
    )


def build_app(settings: KpiSettings, projection: Projection, board: Board, signals: SignalDesk,
              beat: Callable[[], None] = lambda: None) -> faust.App:
    """``beat`` is called on every tick of the read-out timer: the process's health watches it (a
    worker whose event loop is stuck or stopped is NOT_SERVING)."""
    # Batch the changelog and output writes (every fold writes its record): without a linger each
    # record is its own produce request and the worker is bound by broker round trips.
    app = make_faust_app(settings, settings.faust_app_id, settings.data_dir / settings.faust_app_id,
                         producer_linger=0.05, producer_max_batch_size=512 * 1024)
    sources = source_topics(settings)
    cells_name, history_name = output_topics(settings)
    source = app.topic(*sources, key_type=bytes, value_type=bytes)
    cells_topic = app.topic(cells_name, key_type=bytes, value_type=bytes)
    history_topic = app.topic(history_name, key_type=bytes, value_type=bytes)
    dlq = {name: app.topic(name + DLQ_SUFFIX, key_type=bytes, value_type=bytes) for name in sources}
    # Keys and values are bytes we encode ourselves (key_type/value_type bytes: the raw codec),
    # otherwise a restart would try to JSON-decode them while restoring the table.
    table = app.Table("kpi-state", default=None, partitions=settings.topic_partitions,
                      key_type=bytes, value_type=bytes,
                      options={"driver": "rocksdict"})
    stats = {"folded": 0, "duplicates": 0, "late": 0, "dead_lettered": 0, "skipped": 0}
    timing = {"last_readout": 0.0, "readout_s": 0.0, "read_version": -1, "history_at": 0.0, "signals_at": 0.0}

    @table.on_recover
    async def reload() -> None:
        # A key may sit in more than one partition store if its producers did not key its events
        # consistently: records only grow, so the version with the most event ids is the
        # newest; a watermark only moves forward, so the greatest stamp is the newest.
        records: dict[tuple[str, str], dict] = {}
        marks: dict[str, str] = {}
        for key, value in table.items():
            kind, _, rest = key.decode().partition("/")
            if kind == "r":
                name, _, agg = rest.partition("/")
                record = json.loads(value)
                current = records.get((name, agg))
                if current is None or len(record["ids"]) > len(current["ids"]):
                    records[(name, agg)] = record
            elif kind == "w":
                marks[rest] = max(marks.get(rest, ""), value.decode())
        projection.load(((t, k, r) for (t, k), r in records.items()), marks)
        timing["read_version"] = -1
        log.info("kpi state loaded: %d records, %d source partitions", len(records), len(marks))

    async def dead_letter(message, reason: str) -> None:
        stats["dead_lettered"] += 1
        await dlq[message.topic].send(key=message.key, value=message.value, headers=[
            ("dlq.reason", reason.encode()), ("dlq.consumer", settings.faust_app_id.encode()),
            ("dlq.source", f"{message.topic}/{message.partition}/{message.offset}".encode())])

    @app.agent(source)
    async def fold_events(stream):
        # Batches: each record and source-partition watermark touched in a batch is persisted once,
        # after the batch, in the context of the last event that touched it (so it lands in that
        # event's partition, as a per-event write would); the batch's offsets are acknowledged only
        # after that (at least once; the folds are idempotent).
        async for batch in stream.take_events(settings.batch_size, within=0.2):
            touched: dict[tuple[str, str], tuple[dict, object]] = {}
            sources: dict[str, object] = {}
            for event in batch:
                message = event.message
                try:
                    facts = to_domain(decode(message.value))
                except MappingError as exc:
                    await dead_letter(message, str(exc))
                    continue
                except Exception as exc:  # undecodable bytes can never succeed
                    await dead_letter(message, f"undecodable envelope: {exc}")
                    continue
                if not facts:
                    stats["skipped"] += 1
                source_partition = f"{message.topic}/{message.partition}"
                for fact in facts:
                    result = projection.ingest(source_partition, fact)
                    if result.outcome is Outcome.APPLIED:
                        stats["folded"] += 1
                        touched[(result.table, result.key)] = (result.record, event)
                        sources[source_partition] = event
                    elif result.outcome is Outcome.DUPLICATE:
                        stats["duplicates"] += 1
                    else:
                        stats["late"] += 1
                        await dead_letter(message, result.reason)
            previous = stream.current_event  # the take buffer relies on it: restore it below
            for (name, key), (record, event) in touched.items():
                stream._set_current_event(event)  # the table writes to the event's partition
                table[f"r/{name}/{key}".encode()] = _encode(record).encode()
            for source_partition, event in sources.items():
                stream._set_current_event(event)
                table[f"w/{source_partition}".encode()] = projection.watermarks[source_partition].encode()
            stream._set_current_event(previous)

    @app.timer(interval=settings.readout_interval_s)
    async def read_out() -> None:
        beat()
        try:
            await publish()
        except NotReady:  # the worker began to stop during a read-out: the next start reads out again
            log.info("read-out abandoned: the worker is stopping")

    async def publish() -> None:
        now = time.monotonic()
        if now - timing["last_readout"] < 3 * timing["readout_s"]:
            return  # keep read-outs to at most a quarter of the worker's time
        quiet = projection.version == timing["read_version"]
        if not quiet:
            timing["read_version"] = projection.version
            started = time.monotonic()
            changed, removed = board.publish(projection.read_out(), projection.recording_since())
            for cell in changed:
                await cells_topic.send(key=cell_key(cell.kpi, cell.cell), value=to_pb(cell).SerializeToString())
            for kpi, label in removed:
                await cells_topic.send(key=cell_key(kpi, label), value=None)
            timing["readout_s"] = time.monotonic() - started
            timing["last_readout"] = time.monotonic()
            log.info("read-out %s: %d cells changed, %d removed (%.2fs); %s", board.reference_date,
                     len(changed), len(removed), timing["readout_s"], stats)
        if projection.history_is_stale() and (quiet or now - timing["history_at"] > settings.history_max_age_s):
            projection.refresh_history()
            for cell in board.publish_history(projection.history()):
                await history_topic.send(key=history_key(cell), value=to_pb(cell).SerializeToString())
            timing["history_at"] = time.monotonic()
        if signals.is_stale(projection) and now - timing["signals_at"] >= settings.signals_interval_s:
            started = time.monotonic()
            timing["signals_at"] = started
            try:
                count = signals.refresh(projection)
            except Exception:  # the KPIs go on; the regisseur keeps the previous signals
                log.exception("fraud signals not evaluated on %s", projection.reference_date)
            else:
                log.info("fraud signals %s: %d (%.2fs)", signals.reference_date, count, time.monotonic() - started)

    return app
