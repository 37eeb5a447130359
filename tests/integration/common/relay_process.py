"""A stand-alone outbox relay process for the crash test (run with ``python -m``).

With ``--pause-after-publish MARKER`` it stops right after Kafka acknowledged its first batch and
before the batch is removed from the documents, writes MARKER and waits to be killed: the widest
window in which a crash makes the relay publish events twice.
"""
from __future__ import annotations

import argparse
import signal
import threading
import time
from pathlib import Path

import pymongo

from services.common.kafka import KafkaAccess, make_producer
from services.common.outbox import OutboxRelay
from services.common.persistence import CommitOutbox


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mongo-uri", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--kafka-user", required=True)
    parser.add_argument("--kafka-password", required=True)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--pause-after-publish", type=Path)
    args = parser.parse_args()

    def pause(_docs) -> None:
        if args.pause_after_publish is not None:
            args.pause_after_publish.write_text("published, not yet removed")
            while True:
                time.sleep(1)

    db = pymongo.MongoClient(args.mongo_uri)[args.db]
    producer = make_producer(KafkaAccess(args.bootstrap, args.kafka_user, args.kafka_password), "relay-process")
    # The events were committed by another process (the test), so nothing reaches this relay in
    # memory: it finds their pointers by sweeping, on every pass, at once (grace_s=0).
    relay = OutboxRelay(producer, [CommitOutbox(db, grace_s=0.0)], poll_interval_s=0.1, batch_size=args.batch_size,
                        sweep_interval_s=0.0, on_published=pause)
    signal.signal(signal.SIGTERM, lambda *_: relay.stop())
    thread = threading.Thread(target=relay.run)
    thread.start()
    thread.join()
    producer.close()


if __name__ == "__main__":
    main()
