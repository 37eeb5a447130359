"""One process of the multi-process race (run by test_aggregate_store.py): THREADS threads each
try COUNT withdrawals of 1 from one aggregate; prints how many succeeded and were refused."""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from services.common.mongo import make_client  # noqa: E402
from services.common.persistence import CommitOutbox, MongoAggregateStore  # noqa: E402
from tests.contracts.aggregate_store import withdraw  # noqa: E402


def main() -> None:
    uri, db_name, aggregate_id, threads, count = sys.argv[1:6]
    client = make_client(uri)
    store = MongoAggregateStore(client[db_name], "accounts", CommitOutbox(client[db_name]))
    store.local_queue = False  # nothing but the commit insert keeps the threads apart
    with ThreadPoolExecutor(int(threads)) as pool:
        outcomes = list(pool.map(lambda _: store.update(aggregate_id, withdraw(1), attempts=1000),
                                 range(int(threads) * int(count))))
    print(outcomes.count(True), outcomes.count(False))
    client.close()


if __name__ == "__main__":
    main()
