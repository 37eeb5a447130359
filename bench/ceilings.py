"""The infrastructure's own ceilings, measured with its own tools on the same machine and run:
Kafka produce throughput (Kafka's ProducerPerformance tool from the broker jars) and the raw
pymongo single-document write rate on the same FerretDB. The platform's figures are reported as
ratios of these."""
from __future__ import annotations

import re
import subprocess
import time
import uuid

import pymongo

from infra.stack import Stack
from services.common.kafka import TopicSpec, ensure_topics


def kafka_produce_ceiling(stack: Stack, records: int = 200_000, record_size: int = 300) -> dict:
    topic = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    ensure_topics(stack.kafka_access(), [TopicSpec(topic, partitions=3)])
    with stack.kafka_client_properties() as client_config:
        cmd = [
            "java", "-Xmx256m", "-cp", f"{stack.kafka_libs}/*",
            "-Dlog4j.configuration=file:/dev/null",
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic", topic, "--num-records", str(records), "--record-size", str(record_size),
            "--throughput", "-1", "--producer.config", str(client_config),
            "--producer-props", f"bootstrap.servers={stack.settings.kafka_bootstrap}", "acks=all",
            "enable.idempotence=true", "linger.ms=5",
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    last = [line for line in out.splitlines() if "records sent" in line][-1]
    rate = float(re.search(r"([\d.]+) records/sec", last).group(1))
    p99 = float(re.search(r"([\d.]+) ms 99th", last).group(1))
    return {"tool": "org.apache.kafka.tools.ProducerPerformance", "records": records, "record_size": record_size,
            "acks": "all", "records_per_s": rate, "p99_ms": p99, "raw": last.strip()}


def mongo_write_ceiling(stack: Stack, writes: int = 3000) -> dict:
    client = pymongo.MongoClient(stack.settings.mongo_uri)
    db = client[f"bench_{uuid.uuid4().hex[:8]}"]
    coll = db["docs"]
    coll.insert_one({"_id": "warm-up"})
    start = time.perf_counter()
    for i in range(writes):
        coll.insert_one({"_id": i, "person_id": f"p-{i}", "amount_cents": 1000, "status": "REQUESTED"})
    elapsed = time.perf_counter() - start
    client.drop_database(db.name)
    client.close()
    return {"tool": "pymongo insert_one, one document per call, sequential", "writes": writes,
            "writes_per_s": round(writes / elapsed, 1)}


DATA_COMMANDS = ("find", "getMore", "insert", "update", "delete", "findAndModify", "aggregate", "count")


def database_commands(stack: Stack) -> dict[str, int]:
    """The server's own count of each data command so far (``serverStatus.metrics.commands``,
    kept by FerretDB and MongoDB alike): every service's commands, background jobs included."""
    client = pymongo.MongoClient(stack.settings.mongo_uri)
    try:
        metrics = client.admin.command("serverStatus").get("metrics", {}).get("commands", {})
    finally:
        client.close()
    return {name: int(metrics.get(name, {}).get("total", 0)) for name in DATA_COMMANDS}
