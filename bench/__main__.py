"""``make bench``: end-to-end throughput, RPC latency, KPI freshness, replay speed and peak memory,
with the infrastructure's own ceilings measured in the same run. Never part of ``make test``.

What one enrolment goes through here: ``CreateEnrolment`` over gRPC -> enrolments service
(validation, idempotency claim, document + outbox in FerretDB) -> outbox relay -> Kafka
``EnrolmentRequested`` -> accounts service (reservation in the ledger, FerretDB) -> Kafka
``BudgetReserved`` -> enrolments (FUNDED) and the KPI projection (faust), whose
``budget_reserved_cents`` cell for Flanders counts it. "Counted" below means that cell grew by
the enrolment's price, observed through ``KpiService.Subscribe``.

Phases: a warm-up (so the cell is past disclosure control), a closed-loop burst at full
concurrency whose end-to-end rate is taken as the maximum sustained rate R, then open-loop
phases at R/2 and R (latency measured from each request's scheduled send time, so queueing
counts). Then a second KPI process with a new application id rebuilds every KPI from offset 0.

    python -m bench [--persons 6000] [--burst 1500] [--phase-s 20] [--out bench-results.json]
"""
from __future__ import annotations

import argparse
import json
import platform as host
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import grpc

from bench.ceilings import database_commands, kafka_produce_ceiling, mongo_write_ceiling
from bench.platform import Platform
from infra.run import free_port
from infra.stack import REPO, Stack
from services.common.kafka_security import KPI_APP_PREFIX
from services.common.tls import open_channel

PRICE_CENTS = 9_000
PROVIDER = "prov-bench"


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


class Kpi:
    """Follows the budget_reserved_cents cell of Flanders through Subscribe."""

    def __init__(self, channel: grpc.Channel, auth) -> None:
        from llr.kpi.v1 import kpi_service_pb2 as api
        from llr.kpi.v1 import kpi_service_pb2_grpc as api_grpc

        self.stub = api_grpc.KpiServiceStub(channel)
        self.api, self.auth = api, auth
        self.updates: list[tuple[float, int]] = []  # (monotonic time, counted enrolments)
        self._stream = self.stub.Subscribe(api.SubscribeRequest(kpi="budget_reserved_cents",
                                                                cell_prefix="region=flanders"), metadata=auth)
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        try:
            for reply in self._stream:
                if not reply.cell.suppressed and reply.cell.HasField("numerator"):
                    self.updates.append((time.monotonic(), reply.cell.numerator // PRICE_CENTS))
        except grpc.RpcError:
            pass

    def count(self) -> int:
        return self.updates[-1][1] if self.updates else 0

    def wait_for(self, target: int, timeout_s: float) -> float | None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for t, n in self.updates:
                if n >= target:
                    return t
            time.sleep(0.05)
        return None

    def time_reaching(self, target: int) -> float | None:
        return next((t for t, n in self.updates if n >= target), None)

    def close(self) -> None:
        self._stream.cancel()


def setup(plat: Platform, persons: int) -> tuple[list[str], str]:
    """Population feed, accounts opened; provider accredited; one offer. Returns the persons
    whose training budget covers the offer, and the offer id."""
    from llr.accounts.v1 import accounts_service_pb2 as acc
    from llr.accounts.v1 import accounts_service_pb2_grpc as acc_rpc
    from llr.enrolments.v1 import enrolments_service_pb2 as pb
    from llr.enrolments.v1 import enrolments_service_pb2_grpc as rpc
    from services.cli.connect import auth
    from services.common.clock import SystemClock
    from services.demo import population

    today = datetime.now(timezone.utc).date()
    people = population.generate(persons, 4242, today)
    population.publish(people, SystemClock(), kafka=plat.stack.kafka_access("population-feed"),
                       topic=f"{plat.namespace}llr.population.v1.events")
    accounts = acc_rpc.AccountServiceStub(plat.channel("accounts"))
    regisseur = auth("vdab:REGISSEUR")

    def budget(person_id: str) -> int:
        while True:
            try:
                account = accounts.GetAccount(acc.GetAccountRequest(person_id=person_id), metadata=regisseur).account
                return next((w.available for w in account.wallets if w.wallet == "TRAINING_BUDGET"), 0)
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.NOT_FOUND:
                    raise
                time.sleep(0.2)
    with ThreadPoolExecutor(8) as pool:
        budgets = list(pool.map(budget, [p.person_id for p in people]))
    eligible = [p.person_id for p, b in zip(people, budgets) if b >= PRICE_CENTS]
    enrolments = rpc.EnrolmentServiceStub(plat.channel("enrolments"))
    enrolments.AccreditProvider(pb.AccreditProviderRequest(request_id="bench-accredit", provider_id=PROVIDER,
                                                           name="Benchmark provider"), metadata=regisseur)
    offer = enrolments.CreateOffer(pb.CreateOfferRequest(
        request_id="bench-offer", title="Digitale vaardigheden", price_cents=PRICE_CENTS, hours=12,
        earliest_start=today.isoformat(), latest_start=(today + timedelta(days=365)).isoformat(),
        instruments=[pb.FUNDING_INSTRUMENT_TRAINING_BUDGET]), metadata=auth(f"{PROVIDER}:PROVIDER")).offer
    return eligible, offer.offer_id


class Poster:
    """Posts one enrolment per person with CreateEnrolment."""

    def __init__(self, plat: Platform, offer_id: str, people: list[str]) -> None:
        from llr.enrolments.v1 import enrolments_service_pb2 as pb
        from llr.enrolments.v1 import enrolments_service_pb2_grpc as rpc
        from services.cli.connect import auth

        self.pb, self.offer_id, self.people = pb, offer_id, iter(people)
        self.channel = plat.channel("enrolments")
        self.stub = rpc.EnrolmentServiceStub(self.channel)
        self.auth = auth(f"{PROVIDER}:PROVIDER")
        self.lock = threading.Lock()
        start = date.today() + timedelta(days=14)
        self.start, self.end = start.isoformat(), (start + timedelta(days=30)).isoformat()

    def post(self, scheduled: float) -> tuple[float, float, str]:
        """(latency ms from the scheduled time, completion time, status code name)."""
        with self.lock:
            person = next(self.people)
        try:
            self.stub.CreateEnrolment(self.pb.CreateEnrolmentRequest(
                request_id=f"bench-{person}", person_id=person, offer_id=self.offer_id, planned_start=self.start,
                planned_end=self.end, instrument=self.pb.FUNDING_INSTRUMENT_TRAINING_BUDGET,
                provider_reference=f"bench-{person}"), metadata=self.auth, timeout=30)
            code = "OK"
        except grpc.RpcError as err:
            code = err.code().name
        done = time.monotonic()
        return (done - scheduled) * 1000, done, code


def closed_loop(poster: Poster, n: int, workers: int) -> dict:
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda _: poster.post(time.monotonic()), range(n)))
    return summarise(results, started)


def open_loop(poster: Poster, rate: float, seconds: float, workers: int = 64) -> dict:
    n = max(1, int(rate * seconds))
    started = time.monotonic() + 0.2
    futures = []
    with ThreadPoolExecutor(workers) as pool:
        for i in range(n):
            due = started + i / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            futures.append(pool.submit(poster.post, due))
        results = [f.result() for f in futures]
    summary = summarise(results, started)
    summary["target_per_s"] = round(rate, 1)
    return summary


def summarise(results: list[tuple[float, float, str]], started: float) -> dict:
    ok = [r for r in results if r[2] == "OK"]
    codes: dict[str, int] = {}
    for r in results:
        codes[r[2]] = codes.get(r[2], 0) + 1
    latencies = [r[0] for r in ok]
    finished = max((r[1] for r in results), default=started)
    return {"requests": len(results), "accepted": len(ok), "codes": codes,
            "rpc_per_s": round(len(ok) / max(finished - started, 1e-9), 1),
            "latency_ms": {"p50": pct(latencies, 0.50), "p95": pct(latencies, 0.95), "p99": pct(latencies, 0.99)},
            "_started": started, "_accept_times": sorted(r[1] for r in ok)}


def counted(kpi: Kpi, phase: dict, base: int, timeout_s: float = 300) -> None:
    """End-to-end rate and freshness: when the KPI counted each accepted enrolment of the phase."""
    accepts = phase.pop("_accept_times")
    started = phase.pop("_started")
    target = base + len(accepts)
    done = kpi.wait_for(target, timeout_s)
    phase["counted_by_kpi"] = min(kpi.count(), target) - base
    if done is None:
        phase["end_to_end_per_s"] = None
        phase["note"] = f"the KPI counted {phase['counted_by_kpi']} of {len(accepts)} within {timeout_s} s"
        return
    phase["end_to_end_per_s"] = round(len(accepts) / (done - started), 1)
    fresh = []
    for k, accepted_at in enumerate(accepts, start=1):
        seen = kpi.time_reaching(base + k)
        if seen is not None:
            fresh.append(max(0.0, seen - accepted_at) * 1000)
    phase["freshness_ms"] = {"p50": pct(fresh, 0.50), "p99": pct(fresh, 0.99)}


def source_events(plat: Platform) -> int:
    from kafka import TopicPartition

    from services.common.kafka import make_consumer

    consumer = make_consumer(plat.stack.kafka_access())
    try:
        parts = []
        for context in ("population", "enrolments", "accounts", "certification"):
            topic = f"{plat.namespace}llr.{context}.v1.events"
            parts += [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


def all_cells(stub, auth) -> dict:
    from llr.kpi.v1 import kpi_service_pb2 as api

    cells, page = {}, ""
    while True:
        reply = stub.List(api.ListRequest(page_size=1000, page_token=page), metadata=auth, timeout=30)
        cells.update({(c.kpi, c.cell): c.SerializeToString(deterministic=True) for c in reply.cells})
        page = reply.next_page_token
        if not page:
            return cells


def replay(plat: Platform, live_stub, auth, timeout_s: float = 900) -> dict:
    """A second KPI process with a new application id folds every source topic from offset 0."""
    from llr.kpi.v1 import kpi_service_pb2_grpc as api_grpc

    previous, stable_since = None, time.monotonic()
    while time.monotonic() - stable_since < 3:  # the live projection has settled
        cells = all_cells(live_stub, auth)
        if cells != previous:
            previous, stable_since = cells, time.monotonic()
        time.sleep(0.5)
    events = source_events(plat)
    port = free_port()
    started = time.monotonic()
    plat.start("kpi", as_name="kpi-replay", extra_env={
        "LLR_KPI_GRPC_PORT": str(port), "LLR_KPI_DASHBOARD_PORT": str(free_port()),
        "LLR_KPI_FAUST_APP_ID": f"{plat.namespace}{KPI_APP_PREFIX}-replay", "LLR_KPI_DATA_DIR": str(plat.work / "kpi-replay")})
    healthy = time.monotonic()
    stub = api_grpc.KpiServiceStub(open_channel(f"127.0.0.1:{port}", plat.ca_file("kpi")))
    while time.monotonic() - started < timeout_s:
        if all_cells(stub, auth) == previous:
            done = time.monotonic()
            return {"source_events": events, "cells": len(previous), "seconds_from_start": round(done - started, 1),
                    "seconds_after_healthy": round(done - healthy, 1),
                    "events_per_s": round(events / (done - healthy), 1),
                    "events_per_s_including_start": round(events / (done - started), 1)}
        time.sleep(0.25)
    return {"source_events": events, "note": f"not caught up within {timeout_s} s"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=6000)
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--burst", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--phase-s", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results.json")
    args = parser.parse_args()

    from services.cli.connect import auth

    stack = Stack()
    started_infra = stack.start()
    results: dict = {"machine": {"cpus": __import__("os").cpu_count(), "platform": host.platform(),
                                 "python": host.python_version()},
                     "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "args": vars(args) | {"out": str(args.out)}}
    work = Path(tempfile.mkdtemp(prefix="llr-bench-"))
    plat = Platform(stack, work)
    try:
        print("ceilings: Kafka ProducerPerformance, pymongo single-document writes ...", flush=True)
        results["ceilings"] = {"kafka": kafka_produce_ceiling(stack), "ferretdb": mongo_write_ceiling(stack)}
        print("starting the four services ...", flush=True)
        plat.start_all()
        print(f"population feed of {args.persons} persons, accounts, provider and offer ...", flush=True)
        people, offer_id = setup(plat, args.persons)
        consumer = auth("statbel:KPI_CONSUMER")
        kpi_channel = plat.channel("kpi")
        kpi = Kpi(kpi_channel, consumer)
        poster = Poster(plat, offer_id, people)
        needed = args.warmup + args.burst
        print(f"{len(people)} persons can fund the offer; warm-up of {args.warmup} ...", flush=True)
        warm = closed_loop(poster, args.warmup, args.workers)
        counted(kpi, warm, 0)
        base = kpi.count()
        print(f"burst: {args.burst} enrolments from {args.workers} concurrent clients ...", flush=True)
        before = database_commands(stack)
        burst = closed_loop(poster, args.burst, args.workers)
        counted(kpi, burst, base)
        after = database_commands(stack)
        burst["db_commands_per_enrolment"] = {name: round((after[name] - before[name]) / args.burst, 2)
                                              for name in after if after[name] != before[name]}
        burst["db_commands_per_enrolment"]["all"] = round(sum(after.values()) - sum(before.values()), 2) / args.burst
        results["burst"] = burst
        rate = burst["end_to_end_per_s"] or burst["rpc_per_s"]
        for label, share in (("half_load", 0.5), ("full_load", 1.0)):
            left = len(people) - needed
            seconds = min(args.phase_s, left / (rate * share)) if left > 0 else 0
            if seconds < 2:
                results[label] = {"note": "not enough funded persons left; raise --persons"}
                continue
            needed += int(rate * share * seconds)
            base = kpi.count()
            print(f"{label}: open loop at {rate * share:.0f} enrolments/s for {seconds:.0f} s ...", flush=True)
            phase = open_loop(poster, rate * share, seconds)
            counted(kpi, phase, base)
            results[label] = phase
        print("replay: a new KPI application rebuilds every KPI from offset 0 ...", flush=True)
        results["replay"] = replay(plat, kpi.stub, consumer)
        kpi.close()
        results["peak_memory_mib"] = plat.peak_memory()
        ceil_kafka = results["ceilings"]["kafka"]["records_per_s"]
        ceil_mongo = results["ceilings"]["ferretdb"]["writes_per_s"]
        e2e = burst["end_to_end_per_s"] or 0
        results["ratios"] = {
            "end_to_end_vs_kafka_produce": round(e2e / ceil_kafka, 4),
            "end_to_end_vs_ferretdb_writes": round(e2e / ceil_mongo, 4),
            "replay_vs_kafka_produce": round((results["replay"].get("events_per_s") or 0) / ceil_kafka, 4),
        }
    finally:
        plat.stop()
        stack.stop(started_infra)
    args.out.write_text(json.dumps(results, indent=2))
    print_table(results)
    print(f"\nwritten to {args.out}")
    return 0


def print_table(r: dict) -> None:
    def row(label: str, value, target: str = "") -> None:
        print(f"  {label:<44} {str(value):>14}   {target}")
    print(f"\nBenchmark on {r['machine']['cpus']} CPUs, {r['machine']['platform']} ({r['when']})")
    row("Kafka produce ceiling (records/s, acks=all)", r["ceilings"]["kafka"]["records_per_s"])
    row("FerretDB single-doc write ceiling (writes/s)", r["ceilings"]["ferretdb"]["writes_per_s"])
    b = r["burst"]
    row("end-to-end enrolments/s (burst)", b.get("end_to_end_per_s"), "target 1,000")
    row("CreateEnrolment RPC/s (burst)", b.get("rpc_per_s"))
    per = b.get("db_commands_per_enrolment", {})
    row("database commands per enrolment (all services)", round(per.get("all", 0), 1), "target <= 10")
    row("  of which", ", ".join(f"{k} {v}" for k, v in per.items() if k != "all"))
    for label in ("half_load", "full_load"):
        p = r.get(label, {})
        if "latency_ms" in p:
            lat, fresh = p["latency_ms"], p.get("freshness_ms", {})
            row(f"{label}: offered / accepted per s", f"{p['target_per_s']} / {p['rpc_per_s']}")
            row(f"{label}: RPC latency p50/p95/p99 ms", f"{lat['p50']}/{lat['p95']}/{lat['p99']}",
                "target p99 <= 50 ms at half load" if label == "half_load" else "")
            row(f"{label}: KPI freshness p50/p99 ms", f"{fresh.get('p50')}/{fresh.get('p99')}",
                "target p99 <= 1,000 ms at half load" if label == "half_load" else "")
    rp = r["replay"]
    row("replay events/s (after start / incl. start)", f"{rp.get('events_per_s')} / {rp.get('events_per_s_including_start')}",
        "target 10,000")
    for name, mib in r["peak_memory_mib"].items():
        row(f"peak memory {name} (MiB)", mib)
    for name, ratio in r["ratios"].items():
        row(f"ratio {name}", ratio)


if __name__ == "__main__":
    sys.exit(main())
