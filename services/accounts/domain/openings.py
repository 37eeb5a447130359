"""Budget openings: a limited extra budget shared out fairly, never first come, first served.

The Dutch STAP budget opened on fixed days and granted in order of arrival; it collapsed under the
queue. A *budget opening* here works the other way round:

1. The regisseur **announces** an opening before its window opens: the budget (cents), the grant
   per person (cents), the application window ``[opens_at, closes_at)`` and the allocation rule.
   For the seeded lottery it also publishes the *commitment* to the draw's seed,
   ``sha256(seed)`` in hex, and keeps the seed itself secret until the draw.
2. During the window a person (through a citizen's counter, or the regisseur) **applies**, once.
   Nothing about the application depends on when in the window it came.
3. After the window (and a short settling time for applications still being written), the
   regisseur **draws**: they reveal the seed, which must match the commitment, and every applicant
   gets the ticket ``HMAC-SHA256(seed, "<opening id>/<person id>")``. Applicants are ranked by
   ticket; the first ``budget // grant`` are granted. The ranking depends only on the seed, the
   opening and the set of applicants: arrival order cannot change anyone's chance, nobody could
   know or steer the seed while applying (it was fixed, and committed to, before the window
   opened), and anyone who is given the seed and the applicants can recompute the draw exactly.
   The draw publishes the number of applicants and grants and a digest of the ranking, so the
   regisseur can show afterwards that the published draw is the one that was applied.

Pure: no I/O, time is passed in.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Iterable

from .common import InvalidArgument, RuleViolation, derived_id, ensure_aware_utc, require_positive

# An application accepted just before the close is written within its RPC deadline; the draw
# waits this long after the close so that every accepted application is in it (a setting of the
# service, fixed in each opening's terms when it is announced).
DRAW_SETTLE = timedelta(seconds=30)
# Far enough ahead to plan, not so far that an announcement is a typo.
MAX_WINDOW = timedelta(days=366)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class AllocationRule(StrEnum):
    SEEDED_LOTTERY = "SEEDED_LOTTERY"


class OpeningStatus(StrEnum):
    ANNOUNCED = "ANNOUNCED"   # the window is ahead, open or closed, not drawn yet
    DRAWN = "DRAWN"           # the ranking is fixed; grants are being credited
    GRANTED = "GRANTED"       # every grant is credited


class WindowState(StrEnum):
    NOT_OPEN_YET = "NOT_OPEN_YET"
    OPEN = "OPEN"
    CLOSED = "CLOSED"


def commitment(seed: str) -> str:
    """The public commitment to a seed: its SHA-256 in lower-case hex."""
    return hashlib.sha256(seed.encode()).hexdigest()


def ticket(seed: str, opening_id: str, person_id: str) -> str:
    """An applicant's lottery ticket: lower wins. Depends on nothing but its three inputs."""
    return hmac.new(seed.encode(), f"{opening_id}/{person_id}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, kw_only=True)
class OpeningEvent:
    """An event of a budget opening (aggregate ``budget_opening``, key = opening id)."""

    event_id: str
    occurred_at: datetime
    opening_id: str

    @classmethod
    def of(cls, opening_id: str, now: datetime, **fields) -> "OpeningEvent":
        return cls(event_id=derived_id(opening_id, cls.__name__), occurred_at=now, opening_id=opening_id, **fields)


@dataclass(frozen=True, kw_only=True)
class BudgetOpeningAnnounced(OpeningEvent):
    title: str
    opens_at: datetime
    closes_at: datetime
    budget_cents: int
    grant_cents: int
    grants: int
    rule: AllocationRule
    seed_commitment: str
    announced_by: str


@dataclass(frozen=True, kw_only=True)
class BudgetOpeningDrawn(OpeningEvent):
    seed: str
    applicants: int
    granted: int
    ranking_digest: str


@dataclass(frozen=True, kw_only=True)
class BudgetOpeningGranted(OpeningEvent):
    credited: int
    not_credited: int
    credited_cents: int


@dataclass(frozen=True)
class Draw:
    """The outcome of an opening's lottery."""

    seed: str
    applicants: int                 # distinct persons who applied
    winners: tuple[str, ...]        # in ranking order
    ranking_digest: str             # sha256 over the whole ranking, one person id per line
    drawn_at: datetime


@dataclass(frozen=True)
class BudgetOpening:
    opening_id: str
    title: str
    opens_at: datetime
    closes_at: datetime
    budget_cents: int
    grant_cents: int
    rule: AllocationRule
    seed_commitment: str
    announced_by: str
    announced_at: datetime
    draw_settle_s: float = DRAW_SETTLE.total_seconds()
    status: OpeningStatus = OpeningStatus.ANNOUNCED
    draw: Draw | None = None
    credited: int = 0               # grants credited so far (after the draw)
    not_credited: tuple[str, ...] = ()  # winners whose account could not take it

    @property
    def grants(self) -> int:
        """How many persons the budget funds."""
        return self.budget_cents // self.grant_cents

    @property
    def draw_from(self) -> datetime:
        return self.closes_at + timedelta(seconds=self.draw_settle_s)

    def window(self, now: datetime) -> WindowState:
        now = ensure_aware_utc(now)
        if now < self.opens_at:
            return WindowState.NOT_OPEN_YET
        return WindowState.OPEN if now < self.closes_at else WindowState.CLOSED

    def same_terms(self, other: "BudgetOpening") -> bool:
        keys = ("title", "opens_at", "closes_at", "budget_cents", "grant_cents", "rule", "seed_commitment")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


def announce(*, opening_id: str, title: str, opens_at: datetime, closes_at: datetime, budget_cents: int,
             grant_cents: int, rule: str, seed_commitment: str, announced_by: str, now: datetime,
             draw_settle: timedelta = DRAW_SETTLE) -> tuple[BudgetOpening, list[OpeningEvent]]:
    """A new opening, checked: the window lies ahead, the budget funds at least one grant."""
    now, opens_at, closes_at = ensure_aware_utc(now), ensure_aware_utc(opens_at, "opens_at"), \
        ensure_aware_utc(closes_at, "closes_at")
    if not opening_id.strip():
        raise InvalidArgument("opening_id is required")
    if not title.strip():
        raise InvalidArgument("title is required")
    require_positive(grant_cents, "grant_cents")
    require_positive(budget_cents, "budget_cents")
    if budget_cents < grant_cents:
        raise InvalidArgument(f"budget_cents {budget_cents} does not fund one grant of {grant_cents} cents")
    try:
        allocation = AllocationRule(rule or AllocationRule.SEEDED_LOTTERY)
    except ValueError:
        raise InvalidArgument(f"unknown allocation rule {rule!r} (known: "
                              f"{', '.join(r.value for r in AllocationRule)})") from None
    if not _HEX64.match(seed_commitment):
        raise InvalidArgument("seed_commitment must be the SHA-256 of the seed in 64 lower-case hex digits")
    if opens_at < now:
        raise RuleViolation(f"the window must open after the announcement ({now.isoformat()}), "
                            f"so that everyone can know of it in advance; opens_at is {opens_at.isoformat()}")
    if closes_at <= opens_at:
        raise InvalidArgument(f"closes_at {closes_at.isoformat()} must be after opens_at {opens_at.isoformat()}")
    if closes_at - now > MAX_WINDOW:
        raise InvalidArgument(f"closes_at must be within {MAX_WINDOW.days} days of the announcement")
    opening = BudgetOpening(opening_id=opening_id, title=title.strip(), opens_at=opens_at, closes_at=closes_at,
                            budget_cents=budget_cents, grant_cents=grant_cents, rule=allocation,
                            seed_commitment=seed_commitment, announced_by=announced_by, announced_at=now,
                            draw_settle_s=draw_settle.total_seconds())
    return opening, [BudgetOpeningAnnounced.of(
        opening_id, now, title=opening.title, opens_at=opens_at, closes_at=closes_at, budget_cents=budget_cents,
        grant_cents=grant_cents, grants=opening.grants, rule=allocation, seed_commitment=seed_commitment,
        announced_by=announced_by)]


def check_application(opening: BudgetOpening, now: datetime) -> None:
    """Applications are taken only while the window is open."""
    state = opening.window(now)
    if state is WindowState.NOT_OPEN_YET:
        raise RuleViolation(f"opening {opening.opening_id} takes applications from {opening.opens_at.isoformat()}")
    if state is WindowState.CLOSED:
        raise RuleViolation(f"opening {opening.opening_id} closed for applications at {opening.closes_at.isoformat()}")


def ranking(seed: str, opening_id: str, applicants: Iterable[str]) -> list[str]:
    """Every distinct applicant, best ticket first (ties, which SHA-256 makes practically
    impossible, broken by the person id so the order is total)."""
    return sorted(set(applicants), key=lambda person_id: (ticket(seed, opening_id, person_id), person_id))


def ranking_digest(ranked: list[str]) -> str:
    return hashlib.sha256("".join(f"{p}\n" for p in ranked).encode()).hexdigest()


def draw(opening: BudgetOpening, *, seed: str, applicants: Iterable[str], now: datetime
         ) -> tuple[BudgetOpening, list[str], list[OpeningEvent]]:
    """Fix the ranking: the opening as DRAWN, the whole ranking (best first) and the event."""
    now = ensure_aware_utc(now)
    check_drawable(opening, seed, now)
    ranked = ranking(seed, opening.opening_id, applicants)
    result = Draw(seed=seed, applicants=len(ranked), winners=tuple(ranked[:opening.grants]),
                  ranking_digest=ranking_digest(ranked), drawn_at=now)
    event = BudgetOpeningDrawn.of(opening.opening_id, now, seed=seed, applicants=result.applicants,
                                  granted=len(result.winners), ranking_digest=result.ranking_digest)
    return replace(opening, status=OpeningStatus.DRAWN, draw=result), ranked, [event]


def check_drawable(opening: BudgetOpening, seed: str, now: datetime) -> None:
    """The draw comes once, after the window and its settling time, with the committed seed."""
    if opening.status is not OpeningStatus.ANNOUNCED:
        raise RuleViolation(f"opening {opening.opening_id} was drawn already")
    if ensure_aware_utc(now) < opening.draw_from:
        raise RuleViolation(f"opening {opening.opening_id} can be drawn from {opening.draw_from.isoformat()} "
                            f"(its window closes at {opening.closes_at.isoformat()}, then "
                            f"{opening.draw_settle_s:g} s for applications still being written)")
    check_seed(opening, seed)


def check_seed(opening: BudgetOpening, seed: str) -> None:
    if not seed:
        raise InvalidArgument("seed is required")
    if commitment(seed) != opening.seed_commitment:
        raise InvalidArgument(f"the seed does not match the commitment {opening.seed_commitment} published "
                              f"when opening {opening.opening_id} was announced")


def granted(opening: BudgetOpening, not_credited: Iterable[str], now: datetime
            ) -> tuple[BudgetOpening, list[OpeningEvent]]:
    """Every winner's grant is handled: credited, or (``not_credited``) refused by the account
    (closed, or at the budget cap). A refused grant stays unspent and is reported, never handed
    to someone further down the ranking: the draw's published outcome is final."""
    if opening.draw is None:
        raise RuleViolation(f"opening {opening.opening_id} is not drawn yet")
    missed = tuple(sorted(not_credited))
    credited = len(opening.draw.winners) - len(missed)
    done = replace(opening, status=OpeningStatus.GRANTED, credited=credited, not_credited=missed)
    return done, [BudgetOpeningGranted.of(opening.opening_id, ensure_aware_utc(now), credited=credited,
                                          not_credited=len(missed), credited_cents=credited * opening.grant_cents)]
