"""The demo's budget opening round: who applies and what it announces derive from the demo's seed
(a rerun announces the same opening), the budget funds about half of the applicants, and the
summary says what happened."""
from __future__ import annotations

from datetime import date

from services.accounts.domain.openings import commitment
from services.demo.openings import GRANT_CENTS, OPENS_AFTER, WINDOW, BudgetOpeningRound


class NoApi:
    def stub(self, *args):
        return None

    @staticmethod
    def auth(*args):
        return ()


def round_for(persons, seed=7):
    return BudgetOpeningRound(NoApi(), persons, date(2025, 1, 1), seed)


def test_the_same_seed_gives_the_same_opening_applicants_and_secret_seed():
    persons = [f"p{i:04d}" for i in range(500)]
    a, b, other = round_for(persons), round_for(persons), round_for(persons, seed=8)
    assert (a.opening_id, a.seed, a.applicants) == (b.opening_id, b.seed, b.applicants)
    assert a.seed != other.seed and a.applicants != other.applicants
    assert len(a.applicants) == 150 and len(set(a.applicants)) == 150 and set(a.applicants) <= set(persons)
    assert a.tally.grants == 75
    assert a.closes_at - a.opens_at == WINDOW and a.opens_at.date() == date(2025, 1, 1) + OPENS_AFTER
    assert commitment(a.seed) != a.seed   # only the commitment is announced


def test_the_summary_says_what_happened():
    r = round_for([f"p{i}" for i in range(14)])
    assert r.tally.summary() == "none (the window would have opened in the past)"
    r.tally.announced, r.tally.applications = True, 4
    assert r.tally.summary() == f"4 applications for 2 grants of EUR {GRANT_CENTS // 100}; not drawn yet"
    r.tally.drawn, r.tally.granted = True, 2
    assert r.tally.summary().endswith("; 2 granted by lottery")


def test_without_learners_there_is_no_opening():
    r = round_for([])
    r.run(None)   # nothing to do: no call is made
    assert not r.tally.announced
