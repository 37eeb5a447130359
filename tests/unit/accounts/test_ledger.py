"""Ledger primitives: holds, guards, idempotency, explanations, and property tests."""
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.accounts.domain import (
    DomainError,
    EntryKind,
    HoldStatus,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidArgument,
    RuleViolation,
    WalletKind,
    WalletRef,
    ensure_available,
)
from tests.unit.accounts.builders import account, at

BUDGET = WalletRef(WalletKind.TRAINING_BUDGET)
NOW = at(date(2025, 1, 6))


def funded(amount=10000):
    acc = account()
    acc.credit(BUDGET, amount, idempotency_key="credit-1", now=NOW, explanation="yearly credit")
    return acc


def test_holds_reduce_available_but_not_balance():
    acc = funded()
    acc.reserve(BUDGET, 3000, hold_id="h1", idempotency_key="r1", now=NOW, explanation="course")
    assert (acc.balance(BUDGET), acc.held(BUDGET), acc.available(BUDGET)) == (10000, 3000, 7000)
    acc.capture("h1", idempotency_key="c1", now=NOW, explanation="started")
    assert (acc.balance(BUDGET), acc.held(BUDGET), acc.available(BUDGET)) == (7000, 0, 7000)
    assert acc.hold("h1").status is HoldStatus.CAPTURED


def test_release_gives_the_hold_back():
    acc = funded()
    acc.reserve(BUDGET, 3000, hold_id="h1", idempotency_key="r1", now=NOW, explanation="course")
    acc.release("h1", idempotency_key="x1", now=NOW, explanation="cancelled")
    assert (acc.balance(BUDGET), acc.available(BUDGET)) == (10000, 10000)
    assert acc.hold("h1").status is HoldStatus.RELEASED
    with pytest.raises(RuleViolation, match="already RELEASED"):
        acc.capture("h1", idempotency_key="c1", now=NOW, explanation="too late")


def test_partial_capture_with_close_releases_the_rest():
    acc = funded()
    acc.reserve(BUDGET, 3000, hold_id="h1", idempotency_key="r1", now=NOW, explanation="course")
    result = acc.capture("h1", idempotency_key="c1", now=NOW, amount=1000, explanation="partly")
    assert [(e.kind, e.amount) for e in result.entries] == [(EntryKind.CAPTURE, 1000), (EntryKind.RELEASE, 2000)]
    assert (acc.balance(BUDGET), acc.available(BUDGET)) == (9000, 9000)


def test_reserving_more_than_available_raises_insufficient_funds():
    acc = funded(5000)
    acc.reserve(BUDGET, 4000, hold_id="h1", idempotency_key="r1", now=NOW, explanation="a")
    with pytest.raises(InsufficientFunds) as err:
        acc.reserve(BUDGET, 1001, hold_id="h2", idempotency_key="r2", now=NOW, explanation="b")
    assert (err.value.requested, err.value.available) == (1001, 1000)
    with pytest.raises(InsufficientFunds):
        acc.expire(BUDGET, 1001, idempotency_key="e1", now=NOW, explanation="c")
    assert len(acc.entries) == 2  # nothing written by the refused mutations


def test_pure_guard():
    ensure_available(BUDGET, 10, 10)
    with pytest.raises(InsufficientFunds):
        ensure_available(BUDGET, 10, 11)


def test_every_mutation_is_idempotent_by_its_key():
    acc = funded()
    first = acc.reserve(BUDGET, 3000, hold_id="h1", idempotency_key="r1", now=NOW, explanation="a")
    again = acc.reserve(BUDGET, 3000, hold_id="h1", idempotency_key="r1", now=NOW + timedelta(hours=1),
                        explanation="a")
    assert again.replayed and not first.replayed and again.entries == first.entries
    again_credit = acc.credit(BUDGET, 10000, idempotency_key="credit-1", now=NOW, explanation="yearly credit")
    assert again_credit.replayed
    assert len(acc.entries) == 2 and acc.balance(BUDGET) == 10000
    with pytest.raises(IdempotencyConflict):
        acc.reserve(BUDGET, 2000, hold_id="h1", idempotency_key="r1", now=NOW, explanation="a")


def test_explain_lists_the_entries_with_running_totals():
    acc = funded()
    acc.reserve(BUDGET, 3000, hold_id="h1", idempotency_key="r1", now=NOW, explanation="course A")
    acc.reserve(BUDGET, 2000, hold_id="h2", idempotency_key="r2", now=NOW, explanation="course B")
    acc.capture("h1", idempotency_key="c1", now=NOW, explanation="A started")
    acc.release("h2", idempotency_key="x2", now=NOW, explanation="B cancelled")
    explanation = acc.explain(BUDGET)
    assert [(l.entry.kind, l.balance_after, l.available_after) for l in explanation.lines] == [
        (EntryKind.CREDIT, 10000, 10000),
        (EntryKind.RESERVE, 10000, 7000),
        (EntryKind.RESERVE, 10000, 5000),
        (EntryKind.CAPTURE, 7000, 5000),
        (EntryKind.RELEASE, 7000, 7000),
    ]
    assert (explanation.balance, explanation.available) == (acc.balance(BUDGET), acc.available(BUDGET))
    assert "B cancelled" in explanation.as_text()
    assert all(l.entry.idempotency_key and l.entry.entry_id for l in explanation.lines)


def test_bad_input_is_rejected_before_anything_is_written():
    acc = account()
    with pytest.raises(InvalidArgument):
        acc.credit(BUDGET, 0, idempotency_key="k", now=NOW, explanation="zero")
    with pytest.raises(InvalidArgument):
        acc.credit(BUDGET, 5, idempotency_key="", now=NOW, explanation="no key")
    with pytest.raises(InvalidArgument):
        acc.credit(BUDGET, 5, idempotency_key="k", now=NOW.replace(tzinfo=None), explanation="naive")
    with pytest.raises(InvalidArgument):
        WalletRef(WalletKind.TRAINING_LEAVE)  # per-school-year wallet without a school year
    assert acc.entries == () and acc.version == 0


def test_per_school_year_wallets_are_separate():
    acc = account()
    w1, w2 = WalletRef(WalletKind.TRAINING_LEAVE, "2024-2025"), WalletRef(WalletKind.TRAINING_LEAVE, "2025-2026")
    acc.credit(w1, 125, idempotency_key="a", now=NOW, explanation="leave 24-25")
    assert acc.available(w2) == 0 and WalletRef.parse(w1.key) == w1 and w1.key == "TRAINING_LEAVE@2024-2025"


# --- property tests -----------------------------------------------------------------------

KEYS = [f"k{i}" for i in range(8)]  # a small pool: duplicates are frequent
HOLDS = [f"h{i}" for i in range(5)]

operations = st.lists(
    st.one_of(
        st.tuples(st.just("credit"), st.sampled_from(KEYS), st.integers(1, 5000)),
        st.tuples(st.just("reserve"), st.sampled_from(KEYS), st.sampled_from(HOLDS), st.integers(1, 5000)),
        st.tuples(st.just("capture"), st.sampled_from(KEYS), st.sampled_from(HOLDS),
                  st.one_of(st.none(), st.integers(1, 5000)), st.booleans()),
        st.tuples(st.just("release"), st.sampled_from(KEYS), st.sampled_from(HOLDS)),
    ),
    max_size=60,
)


def _apply(acc, op):
    kind, key = op[0], op[1]
    if kind == "credit":
        return acc.credit(BUDGET, op[2], idempotency_key=key, now=NOW, explanation="credit")
    if kind == "reserve":
        return acc.reserve(BUDGET, op[3], hold_id=op[2], idempotency_key=key, now=NOW, explanation="reserve")
    if kind == "capture":
        return acc.capture(op[2], idempotency_key=key, now=NOW, amount=op[3], close=op[4], explanation="capture")
    return acc.release(op[2], idempotency_key=key, now=NOW, explanation="release")


@settings(max_examples=300, deadline=None)
@given(operations)
def test_random_interleavings_never_overspend_and_balance_is_the_sum_of_entries(ops):
    acc = account()
    for op in ops:
        before = (acc.entries, acc.holds, acc.wallet(BUDGET), acc.version)
        try:
            result = _apply(acc, op)
        except DomainError:
            # a refused mutation writes nothing at all
            assert (acc.entries, acc.holds, acc.wallet(BUDGET), acc.version) == before
            continue
        if result.replayed:
            assert (acc.entries, acc.holds, acc.wallet(BUDGET)) == before[:3]
        state = acc.wallet(BUDGET)
        assert state.available >= 0 and state.held >= 0
        assert state.balance == sum(e.balance_delta for e in acc.entries)
        assert state.held == sum(e.held_delta for e in acc.entries)
        credited = sum(e.amount for e in acc.entries if e.kind is EntryKind.CREDIT)
        captured = sum(e.amount for e in acc.entries if e.kind is EntryKind.CAPTURE)
        assert captured <= credited  # never spend more than was ever credited
        assert state.balance == credited - captured
    acc.check_invariants()
    explanation = acc.explain(BUDGET)
    assert (explanation.balance, explanation.held) == (acc.balance(BUDGET), acc.held(BUDGET))
    assert all(line.available_after >= 0 for line in explanation.lines)


@settings(max_examples=100, deadline=None)
@given(operations)
def test_replaying_the_whole_command_stream_changes_nothing(ops):
    acc = account()
    results = {}
    for op in ops:
        try:
            results[op] = _apply(acc, op)
        except DomainError:
            pass
    snapshot = (acc.entries, acc.holds, acc.wallets())
    for op, result in results.items():
        again = _apply(acc, op)
        assert again.replayed and again.entries == result.entries
    assert (acc.entries, acc.holds, acc.wallets()) == snapshot


def test_state_round_trip_restores_an_equal_aggregate():
    from services.accounts.domain import Account, buy_career_cheque, policy_in_force, PolicyKind
    from tests.unit.accounts.builders import profile

    acc = funded()
    acc.reserve(BUDGET, 3000, hold_id="h1", idempotency_key="r1", now=NOW, explanation="course")
    buy_career_cheque(acc, cheque_id="c1", idempotency_key="b1", profile=profile(),
                      policy=policy_in_force(PolicyKind.CAREER_CHEQUE, date(2024, 3, 1)),
                      purchase_date=date(2024, 3, 1), now=NOW)
    restored = Account.from_state(acc.state())
    assert restored.state() == acc.state()
    assert restored.wallets() == acc.wallets()
    # the restored aggregate still answers a retried command with the first answer
    assert restored.reserve(BUDGET, 3000, hold_id="h1", idempotency_key="r1", now=NOW, explanation="course").replayed


def test_restore_refuses_inconsistent_state():
    from dataclasses import replace as dc_replace

    from services.accounts.domain import Account
    from services.accounts.domain.ledger import LedgerCorrupted

    acc = funded()
    acc.reserve(BUDGET, 3000, hold_id="h1", idempotency_key="r1", now=NOW, explanation="course")
    state = acc.state()
    broken = dc_replace(state, holds=())  # held 3000 but no open hold
    with pytest.raises(LedgerCorrupted, match="held differs from the open holds"):
        Account.from_state(broken)
