"""The budget opening of the demo: a limited budget allocated by lottery, never first come, first
served (the accounts service's ``AnnounceBudgetOpening``, ``ApplyToBudgetOpening``,
``DrawBudgetOpening``).

At the start of the simulated year the regisseur announces an opening whose window opens
``OPENS_AFTER`` into the year and lasts ``WINDOW``, with a budget for about half of the applicants
and a commitment to its seed (or, when the set-up ran past that day, ``LEAD`` after the
announcement). When the window has opened, citizens' counters apply for a share of
the learners (in a shuffled order: arrival order changes nobody's chance). Once the window has
closed and the service allows the draw, the regisseur reveals the seed and the lottery credits the
grants. Ids and the seed derive from the demo's seed, so a rerun of the same demo announces
nothing twice and applies and draws once; a rerun that starts after the window opened finds the
opening already announced (or, on a fresh platform, announces none: a window never opens in the
past)."""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import grpc

from services.accounts.domain.openings import commitment
from services.common.auth import Role

OPENS_AFTER = timedelta(days=45)   # the window opens 45 days into the simulated year
WINDOW = timedelta(days=14)
LEAD = timedelta(days=3)            # at least this long between the announcement and the window
GRANT_CENTS = 25_000               # EUR 250 per grant
APPLICANT_SHARE = 0.3              # of the learners given (those whose accounts the first 45 days need)
GRANTED_SHARE = 0.5                # the budget funds about half of the applicants


@dataclass
class OpeningTally:
    announced: bool = False
    applications: int = 0
    grants: int = 0
    granted: int = 0
    drawn: bool = False

    def summary(self) -> str:
        if not self.announced:
            return "none (the window would have opened in the past)"
        drawn = f"{self.granted} granted by lottery" if self.drawn else "not drawn yet"
        return f"{self.applications} applications for {self.grants} grants of EUR {GRANT_CENTS // 100}; {drawn}"


class BudgetOpeningRound:
    def __init__(self, api, persons: list[str], first_day: date, seed: int, open_accounts=None) -> None:
        """``open_accounts`` (``funding.Accounts``): an applicant's account must be open before
        the counter applies for them."""
        from llr.accounts.v1 import accounts_service_pb2 as pb

        self.pb = pb
        self.stub = api.stub("accounts", "accounts_service", "AccountService")
        self.api, self.open_accounts = api, open_accounts
        self.regisseur = api.auth("vdab", Role.REGISSEUR)
        self.opening_id = f"demo-opening-{seed}-{first_day.isoformat()}"
        self.seed = hashlib.sha256(f"demo-opening/{seed}/{first_day.isoformat()}".encode()).hexdigest()
        self.opens_at = datetime.combine(first_day, time(), timezone.utc) + OPENS_AFTER
        self.closes_at = self.opens_at + WINDOW
        rng = random.Random(f"{seed}/opening")
        self.applicants = rng.sample(persons, max(2, int(len(persons) * APPLICANT_SHARE))) if persons else []
        self.tally = OpeningTally(grants=max(1, int(len(self.applicants) * GRANTED_SHARE)))
        self._stage = "announce" if self.applicants else "done"

    def run(self, now: datetime) -> None:
        """Carry out what is due at ``now`` (the simulated time); cheap when nothing is."""
        if self._stage == "announce":
            self._announce(now)
        if self._stage == "apply" and now >= self.opens_at:
            self._apply()
        if self._stage == "draw" and now >= self.closes_at:
            self._draw()

    def _announce(self, now: datetime) -> None:
        # The window opens OPENS_AFTER into the year, or a few days from now when the set-up ran
        # late (a window never opens in the past); a rerun finds the opening of the first run.
        opens_at = max(self.opens_at, now + LEAD)
        request = self.pb.AnnounceBudgetOpeningRequest(
            opening_id=self.opening_id, title="Demo: digitale vaardigheden", opens_at=opens_at.isoformat(),
            closes_at=(opens_at + WINDOW).isoformat(), budget_cents=self.tally.grants * GRANT_CENTS,
            grant_cents=GRANT_CENTS, seed_commitment=commitment(self.seed))
        try:
            self.stub.AnnounceBudgetOpening(request, metadata=self.regisseur)
        except grpc.RpcError as err:
            if err.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS):
                raise
        try:
            stored = self.stub.GetBudgetOpening(self.pb.GetBudgetOpeningRequest(opening_id=self.opening_id),
                                                metadata=self.regisseur).opening
        except grpc.RpcError as missing:
            if missing.code() != grpc.StatusCode.NOT_FOUND:
                raise
            self._stage = "done"
            return
        self.opens_at = datetime.fromisoformat(stored.opens_at)
        self.closes_at = datetime.fromisoformat(stored.closes_at)
        self.tally.announced = True
        self._stage = "apply"

    def _apply(self) -> None:
        if self.open_accounts is not None:
            self.open_accounts.wait(self.applicants)
        for person_id in self.applicants:
            counter = self.api.auth("loket-demo", Role.CITIZEN_COUNTER, person_id)
            try:
                self.stub.ApplyToBudgetOpening(self.pb.ApplyToBudgetOpeningRequest(
                    request_id=f"{self.opening_id}-{person_id}", opening_id=self.opening_id, person_id=person_id),
                    metadata=counter)
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.FAILED_PRECONDITION:   # closed already (a late rerun)
                    raise
                continue
            self.tally.applications += 1
        self._stage = "draw"

    def _draw(self) -> None:
        try:
            opening = self.stub.DrawBudgetOpening(self.pb.DrawBudgetOpeningRequest(
                opening_id=self.opening_id, seed=self.seed), metadata=self.regisseur).opening
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            opening = self.stub.GetBudgetOpening(self.pb.GetBudgetOpeningRequest(opening_id=self.opening_id),
                                                 metadata=self.regisseur).opening
            if opening.status == "ANNOUNCED":
                return   # not drawable yet (the settling time after the window): the next pass draws
        self.tally.drawn = True
        self.tally.granted = opening.granted
        self._stage = "done"
