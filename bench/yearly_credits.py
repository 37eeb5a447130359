"""``python -m bench.yearly_credits [--accounts 5000] [--workers 4]``: how fast the accounts
service's yearly-credit job credits accounts on the local FerretDB, and what that means for all
4.7 million adults of Flanders. Never part of ``make test``.

It opens ``--accounts`` accounts in a throwaway database (as the population feed would, without
the broker), moves the service clock to the next 2 January and runs the job's ticks until its
pass is complete: each account gets its training budget of the new year in its own commit (one
``_id`` read of the roster entry, one load, one commit insert, one head write, one outbox
pointer). The relay that publishes the events runs beside the job in the service and is not
timed here. Then it runs the job again (nothing due: one lookup) and drops the database.
"""
from __future__ import annotations

import argparse
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from infra.stack import Stack
from services.accounts.adapters.repository import AccountRepository
from services.accounts.domain import PersonProfile, default_catalog, open_account
from services.accounts.service.yearly_credits import YearlyCredits
from services.common.clock import FakeClock
from services.common.mongo import make_client
from services.common.persistence import MongoStores

FLANDERS_ADULTS = 4_700_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2_000)
    args = parser.parse_args()

    stack = Stack()
    started = stack.start()
    client = make_client(stack.settings.mongo_uri)
    db_name = f"bench_yearly_{uuid.uuid4().hex[:8]}"
    try:
        repo = AccountRepository(MongoStores(client[db_name]), "bench.llr.accounts.v1.events")
        clock = FakeClock(datetime(2026, 3, 2, 9, tzinfo=timezone.utc))
        t0 = time.monotonic()

        def open_one(i: int) -> None:
            person_id = f"pp-bench-{i:07d}"
            repo.open(open_account(person_id=person_id, idempotency_key=f"reg-{person_id}", now=clock.now()),
                      PersonProfile(person_id=person_id, education_level="medium", labour_status="employed"))
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(open_one, range(args.accounts)))
        opened_s = time.monotonic() - t0

        clock.set(datetime(2027, 1, 2, 6, tzinfo=timezone.utc))
        job = YearlyCredits(repo, clock, default_catalog(), batch=args.batch, workers=args.workers)
        t0, ticks, credited = time.monotonic(), 0, 0
        while True:
            credited += job.run()
            ticks += 1
            if repo.yearly_progress()["pass"] is None:
                break
        pass_s = time.monotonic() - t0
        t0 = time.monotonic()
        again = job.run()
        idle_ms = (time.monotonic() - t0) * 1000
        rate = credited / pass_s
        print(f"opened {args.accounts} accounts in {opened_s:.1f} s (setup, not the job)")
        print(f"pass: {credited} accounts credited in {pass_s:.1f} s over {ticks} ticks "
              f"({rate:.0f} accounts/s with {args.workers} workers)")
        print(f"a tick with nothing due: {again} credited, {idle_ms:.1f} ms")
        print(f"all {FLANDERS_ADULTS:,} adults of Flanders at this rate: {FLANDERS_ADULTS / rate / 3600:.1f} h "
              f"per pass, on this machine's FerretDB")
    finally:
        client.drop_database(db_name)
        client.close()
        if started:
            stack.stop(started)


if __name__ == "__main__":
    main()
