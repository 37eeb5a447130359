"""The scheduled yearly-credit job: grants each policy's credit of every period that began (the
training budget on 1 January, training leave on 1 September; ``domain/yearly.py`` says what and
to whom) to every account, once.

How it stays correct and cheap at the scale of Flanders (4.7 million adults):

* It walks the account roster (``AccountRepository.roster_page``) by ``_id`` from a cursor per
  roster list, never with a filter that would scan the accounts; a tick handles at most ``batch``
  accounts and records how far it got, so a stopped process, a restart or a second process
  resumes where the walk stands.
* Every credit is keyed per account and period (``yearly.credit_key``) and written as the
  account's next commit: an account credited by another process, by an earlier, interrupted pass
  or at its opening is not credited again (the loser of a race decides again and finds the key).
* Catching up: the periods due are those after the last one granted, up to the one that contains
  today on the service clock, so a job that was down on 1 January (or for a whole year) grants
  what it missed when it runs again. Accounts opened during or after a pass get the credits of
  their opening's periods at opening.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from services.common.clock import Clock
from services.common.persistence import AggregateNotFound

from .. import domain as d
from ..adapters.repository import ROSTER_SHARDS, AccountRepository, LoadedAccount

log = logging.getLogger(__name__)


class YearlyCredits:
    CHUNK = 20   # accounts between two pauses

    def __init__(self, repo: AccountRepository, clock: Clock, catalog: d.PolicyCatalog, *, batch: int = 2_000,
                 workers: int = 1, duty: float = 1.0, pause: Callable[[float], None] = time.sleep) -> None:
        """``duty``: the share of the time the job may be busy; after every ``CHUNK`` accounts it
        pauses (``pause``, real seconds) so that the online work gets the rest."""
        self.repo, self.clock, self.catalog = repo, clock, catalog
        self.batch, self.workers, self.duty, self.pause = batch, workers, duty, pause

    def run(self) -> int:
        """One tick: continue (or start) the pass, for at most ``batch`` accounts. Returns the
        number of accounts credited now (0 when nothing is due)."""
        progress = self.repo.yearly_progress()
        current = progress["pass"]
        if current is None:
            due = d.grants_due(self.catalog, self.clock.now().date(), progress["granted"])
            if not due:
                return 0
            current = self.repo.start_yearly_pass([g.key for g in due])
            log.info("yearly credits: a pass over every account starts for %s", ", ".join(current["grants"]))
        keys = current["grants"]
        grants = [d.Grant.parse(key, self.catalog) for key in keys]
        cursors = {int(k): v for k, v in current["cursors"].items()}
        room, credited, exhausted = self.batch, 0, 0
        for shard in range(ROSTER_SHARDS):
            page = self.repo.roster_page(shard, cursors.get(shard, 0), room) if room else []
            if len(page) < room:
                exhausted += 1
            if page:
                credited += self._grant([account_id for _, account_id in page], grants)
                cursors[shard] = page[-1][0]
                room -= len(page)
        self.repo.advance_yearly_pass(keys, {str(k): v for k, v in cursors.items()})
        if exhausted == ROSTER_SHARDS:
            granted = {}
            for g in grants:
                granted[g.kind.value] = max(granted.get(g.kind.value, g.period.label), g.period.label)
            self.repo.finish_yearly_pass(keys, granted)
            log.info("yearly credits: the pass for %s is complete", ", ".join(keys))
        return credited

    def _grant(self, account_ids: list[str], grants: list[d.Grant]) -> int:
        def one(account_id: str) -> bool:
            def change(loaded: LoadedAccount) -> bool:
                account = loaded.account
                for grant in grants:
                    d.apply_grant(account, loaded.profile, self.catalog, grant, self.clock.now())
                return bool(account.pending_events)
            try:
                return self.repo.change(account_id, change)
            except AggregateNotFound:
                return False  # on the roster, but its opening did not get through (see the repository)
        credited = 0
        with ThreadPoolExecutor(self.workers) as pool:
            for start in range(0, len(account_ids), self.CHUNK):
                began = time.monotonic()
                credited += sum(pool.map(one, account_ids[start:start + self.CHUNK]))
                if self.duty < 1:
                    self.pause((time.monotonic() - began) * (1 - self.duty) / self.duty)
        return credited
