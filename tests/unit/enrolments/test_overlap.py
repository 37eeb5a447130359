from datetime import date

import pytest

from services.enrolments.domain import (
    BLOCKING_STATUSES,
    DuplicateEnrolment,
    EnrolmentPeriod,
    EnrolmentStatus,
    ensure_no_conflict,
    find_conflict,
    periods_overlap,
)

from .builders import in_status

S = EnrolmentStatus


def existing(status=S.FUNDED, start=date(2026, 7, 1), end=date(2026, 7, 10), person="P-1", offer="OFF-1", eid="ENR-OLD"):
    return EnrolmentPeriod(eid, person, offer, start, end, status)


def conflict(start, end, others, **kw):
    return find_conflict(person_id="P-1", offer_id="OFF-1", planned_start=start, planned_end=end, existing=others, **kw)


@pytest.mark.parametrize(
    "start, end, overlaps",
    [
        (date(2026, 7, 11), date(2026, 7, 20), False),  # touching: starts the day after
        (date(2026, 6, 20), date(2026, 6, 30), False),  # touching: ends the day before
        (date(2026, 7, 10), date(2026, 7, 20), True),   # shares the last day
        (date(2026, 6, 20), date(2026, 7, 1), True),    # shares the first day
        (date(2026, 7, 3), date(2026, 7, 4), True),     # inside
        (date(2026, 6, 1), date(2026, 8, 1), True),     # around
    ],
)
def test_period_edges(start, end, overlaps):
    assert periods_overlap(start, end, date(2026, 7, 1), date(2026, 7, 10)) is overlaps
    assert (conflict(start, end, [existing()]) is not None) is overlaps


@pytest.mark.parametrize("status", list(S))
def test_which_statuses_block(status):
    found = conflict(date(2026, 7, 5), date(2026, 7, 6), [existing(status)])
    assert (found is not None) is (status in {S.REQUESTED, S.FUNDED, S.STARTED, S.COMPLETED})
    assert BLOCKING_STATUSES == {S.REQUESTED, S.FUNDED, S.STARTED, S.COMPLETED}


def test_cancelled_ones_do_not_count_but_a_live_one_beside_them_does():
    others = [existing(S.CANCELLED, eid="A"), existing(S.NO_SHOW, eid="B"), existing(S.STARTED, eid="C")]
    assert conflict(date(2026, 7, 5), date(2026, 7, 6), others).enrolment_id == "C"
    assert conflict(date(2026, 7, 5), date(2026, 7, 6), others[:2]) is None


def test_other_person_or_other_offer_never_conflicts():
    others = [existing(person="P-2"), existing(offer="OFF-2")]
    assert conflict(date(2026, 7, 5), date(2026, 7, 6), others) is None


def test_an_enrolment_does_not_conflict_with_itself():
    assert conflict(date(2026, 7, 5), date(2026, 7, 6), [existing()], exclude_enrolment_id="ENR-OLD") is None


def test_period_of_an_aggregate_and_the_already_exists_error():
    e = in_status(S.FUNDED)
    period = EnrolmentPeriod.of(e)
    assert (period.person_id, period.offer_id, period.status) == ("P-1", "OFF-1", S.FUNDED)
    with pytest.raises(DuplicateEnrolment) as err:
        ensure_no_conflict(person_id="P-1", offer_id="OFF-1", planned_start=date(2026, 7, 31),
                           planned_end=date(2026, 8, 5), existing=[period])
    assert err.value.existing_enrolment_id == "ENR-1"
    assert "overlaps the requested period" in err.value.reason
    ensure_no_conflict(person_id="P-1", offer_id="OFF-1", planned_start=date(2026, 8, 1),
                       planned_end=date(2026, 8, 5), existing=[period])
