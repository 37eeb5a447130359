"""The streaming projection equals the independent batch recount on generated data."""
import json
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.kpi.domain.definitions import DisclosureConfig, FoldConfig
from services.kpi.domain.projection import fold_all, watermark_date
from services.kpi.domain.readout import read_out, tally
from services.kpi.domain.recount import recount
from services.kpi.domain.synthetic import SyntheticConfig, generate

CONFIG = SyntheticConfig(persons=4000, seed=7)


@pytest.fixture(scope="module")
def stream():
    return generate(CONFIG)


@pytest.fixture(scope="module")
def state(stream):
    return fold_all(stream)


def test_generator_is_deterministic_and_realistic(stream):
    assert generate(CONFIG) == stream
    assert generate(SyntheticConfig(persons=200, seed=8)) != generate(SyntheticConfig(persons=200, seed=9))
    ids = [e.event_id for e in stream]
    assert len(set(ids)) < len(ids)  # contains redeliveries
    assert any(b.occurred_at < a.occurred_at for a, b in zip(stream, stream[1:]))  # out of order


@pytest.mark.parametrize("reference_date", [None, date(2024, 6, 30), date(2024, 12, 31), date(2025, 2, 28)])
def test_fold_equals_recount(stream, state, reference_date):
    result = recount(stream, reference_date)
    assert result.reference_date == (reference_date or watermark_date(state))
    assert result.late_event_ids == set(state["late"])
    assert result.late_event_ids  # the generator does deliver some events too late
    assert tally(state, reference_date) == result.tallies


def test_fold_equals_recount_with_a_tight_lateness_bound(stream):
    config = FoldConfig(max_lateness=timedelta(hours=12))
    state = fold_all(stream, config)
    result = recount(stream, config=config)
    assert len(result.late_event_ids) > 20
    assert result.late_event_ids == set(state["late"])
    assert tally(state) == result.tallies


def test_participation_is_plausible(state):
    cells = {c.key: c for c in read_out(state)}
    four_weeks = cells[("participation_4w", "region=flanders")].fraction()
    twelve_months = cells[("participation_12m", "region=flanders")].fraction()
    assert 0.03 < four_weeks < 0.2 < twelve_months < 0.6
    higher = cells[("participation_12m", "education=high")].fraction()
    lower = cells[("participation_12m", "education=low")].fraction()
    assert higher > lower


def test_read_out_never_contains_a_person_id(stream, state):
    person_ids = {e.person_id for e in stream if hasattr(e, "person_id")}
    holders = {e.holder_id for e in stream if hasattr(e, "holder_id")}
    cells = read_out(state, disclosure=DisclosureConfig(min_numerator=0, min_denominator=0))
    text = json.dumps([c.as_dict() for c in cells])
    assert not any(pid in text for pid in person_ids | holders)


def test_small_cells_are_suppressed_in_the_read_out(state):
    cells = read_out(state)
    suppressed = [c for c in cells if c.suppressed]
    assert suppressed and all(c.numerator is None and c.denominator is None for c in suppressed)
    undisclosed = tally(state)
    for c in cells:
        if not c.suppressed:
            t = undisclosed[c.key]
            assert t.support >= 10 and (t.denominator is None or t.denominator >= 100)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), shuffle=st.randoms(use_true_random=False))
def test_fold_equals_recount_and_ignores_order_on_random_small_populations(seed, shuffle):
    unbounded = FoldConfig(max_lateness=timedelta(days=100_000))
    events = generate(SyntheticConfig(persons=150, seed=seed, certificates=40, cheque_share=0.1))
    reference = fold_all(events, unbounded)
    shuffled = list(events)
    shuffle.shuffle(shuffled)
    assert fold_all(shuffled, unbounded) == reference
    for day in (None, date(2024, 9, 15)):
        assert tally(reference, day) == recount(shuffled, day, unbounded).tallies
