"""The demo's payment system: which payables it pays, and when, is drawn from the seed."""
from __future__ import annotations

from collections import Counter
from datetime import date

from services.demo.payments import pay_day

DONE = date(2026, 3, 2)


def test_most_are_paid_within_the_term_some_late_some_never_and_a_rerun_agrees():
    days = {f"pay-{i}": pay_day(f"pay-{i}", DONE, 30, seed=7) for i in range(2000)}
    kinds = Counter("never" if d is None else "late" if (d - DONE).days > 30 else "on time" for d in days.values())
    assert 0.65 < kinds["on time"] / 2000 < 0.75 and 0.15 < kinds["late"] / 2000 < 0.25
    assert 0.05 < kinds["never"] / 2000 < 0.15
    assert all(d is None or 7 <= (d - DONE).days <= 61 for d in days.values())
    assert days == {f"pay-{i}": pay_day(f"pay-{i}", DONE, 30, seed=7) for i in range(2000)}
    assert days != {f"pay-{i}": pay_day(f"pay-{i}", DONE, 30, seed=8) for i in range(2000)}
