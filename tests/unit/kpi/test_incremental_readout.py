"""Incremental read-outs: whatever was folded since the previous read-out and however the reference
date moved (a day, across the 4-week and 12-month window edges, a year, backwards), the tallies
equal the independent batch recount of the events folded so far, and the projection serves the
disclosure-controlled cells of that recount."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest

from services.kpi.domain.definitions import DisclosureConfig, FoldConfig
from services.kpi.domain.disclosure import disclose
from services.kpi.domain.projection import apply, new_state, watermark_date
from services.kpi.domain.readout import Readout
from services.kpi.domain.recount import recount
from services.kpi.domain.synthetic import SyntheticConfig, generate
from services.kpi.service.projection import PARTICIPATION, Projection

# No event is late: the recount then sees exactly the events the fold applied, in any chunking.
UNBOUNDED = FoldConfig(max_lateness=timedelta(days=10_000))
STEPS = [1, 2, 27, 28, 29, 364, 365, 366, 367]


@pytest.fixture(scope="module")
def stream():
    return generate(SyntheticConfig(persons=1500, seed=11))


def chunks(events, rng):
    i = 0
    while i < len(events):
        step = rng.choice([1, 20, 300, 900])
        yield i + step, events[i:i + step]
        i += step


def test_tallies_equal_the_recount_after_every_chunk_and_move_of_the_reference_date(stream):
    rng = random.Random(3)
    state, readout, checks = new_state(), Readout(), 0
    for end, chunk in chunks(stream, rng):
        for event in chunk:
            apply(state, event, UNBOUNDED)
        if rng.random() < 0.4:
            continue
        ref = watermark_date(state) + timedelta(days=rng.choice([-400, -30, 0, 0]))
        for _ in range(rng.choice([1, 2, 3])):
            assert readout.tallies(state, ref) == recount(stream[:end], ref, UNBOUNDED).tallies, (end, ref)
            checks += 1
            ref += timedelta(days=rng.choice(STEPS))
    assert checks > 15


def test_the_projection_serves_the_recount_between_and_after_chunks(stream):
    rng = random.Random(5)
    disclosure = DisclosureConfig(5, 20)
    projection = Projection(UNBOUNDED, disclosure, history_months=3)
    served = 0
    for end, chunk in chunks(stream, rng):
        for event in chunk:
            projection.ingest(f"{type(event).__name__}/0", event)
        if end < len(stream) and rng.random() < 0.5:
            continue
        ref = projection.reference_date
        assert projection.read_out() == disclose(recount(stream[:end], ref, UNBOUNDED).tallies, ref, disclosure)
        served += 1
    projection.refresh_history()
    for cell in projection.history():
        expected = recount(stream, cell.reference_date, UNBOUNDED).tallies[cell.key]
        assert cell == disclose({cell.key: expected}, cell.reference_date, disclosure)[0]
        assert cell.kpi in PARTICIPATION
    assert served > 5 and len(projection.history()) == 3 * 2 * 6  # 3 month ends, 2 KPIs, Flanders + 5


def test_a_reloaded_projection_reads_out_the_same_cells(stream):
    first = Projection(UNBOUNDED)
    for event in stream:
        first.ingest("all/0", event)
    cells = first.read_out()
    second = Projection(UNBOUNDED)
    second.load(((t, k, r) for t in ("persons", "enrolments", "cheques", "reservations", "credits", "certificates")
                 for k, r in first.state[t].items()), dict(first.watermarks))
    assert second.read_out() == cells
    assert [c for c in cells if not c.suppressed]
