"""The faust-streaming app factory used by the projections (``services/kpi``).

Tables live in RocksDB through ``rocksdict`` (the default in-memory store would replay the whole
changelog on every start). Processing is at-least-once with idempotent folds; faust's
exactly-once mode is deliberately not used (open upstream bugs).
"""
from __future__ import annotations

from pathlib import Path

import faust

from .settings import ServiceSettings


def make_faust_app(settings: ServiceSettings, app_id: str, data_dir: Path, *, web_port: int | None = None,
                   **overrides) -> faust.App:
    """``overrides``: further faust settings (e.g. ``producer_linger``), applied last."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = dict(
        broker=[f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap.split(",")],
        broker_credentials=settings.kafka.faust_credentials(),
        # faust registers RocksDB stores as "rocksdb://"; with the rocksdict wheel installed (and no
        # python-rocksdb) that store runs on rocksdict. "rocksdict://" is not a registered store.
        store="rocksdb://",
        datadir=str(data_dir),
        value_serializer="raw",
        key_serializer="raw",
        topic_replication_factor=settings.topic_replication_factor,
        topic_partitions=settings.topic_partitions,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        processing_guarantee="at_least_once",
        web_enabled=web_port is not None,
        web_port=web_port or 6066,
        web_host="127.0.0.1",
        broker_commit_interval=1.0,
        table_standby_replicas=0,
    )
    config.update(overrides)
    return faust.App(app_id, **config)
