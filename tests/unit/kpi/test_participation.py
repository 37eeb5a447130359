from datetime import date, timedelta

import pytest

from services.kpi.domain import definitions as d
from services.kpi.domain import events as ev
from services.kpi.domain.disclosure import Tally
from services.kpi.domain.projection import fold_all
from services.kpi.domain.readout import tally
from services.kpi.domain.recount import recount

from .builders import REF, at, cancelled, completed, days_before, dropped, guidance, marker, next_id, person, requested, started, UNBOUNDED

P4, P12 = (d.PARTICIPATION_4W, d.FLANDERS), (d.PARTICIPATION_12M, d.FLANDERS)


def counts(events, ref=REF):
    """Fold tallies, checked against the independent recount on the way."""
    result = tally(fold_all(events, UNBOUNDED), ref)
    assert result == recount(events, ref, UNBOUNDED).tallies
    return result


def rate(t: Tally) -> tuple[int, int]:
    return t.numerator, t.denominator


@pytest.mark.parametrize(
    ("first", "last", "in_4w", "in_12m"),
    [
        (days_before(0), days_before(0), True, True),  # on the reference date
        (days_before(27), days_before(27), True, True),  # first day of the 4 weeks
        (days_before(28), days_before(28), False, True),  # the day before
        (days_before(60), days_before(10), True, True),  # a long course spanning into the window
        (date(2024, 4, 1), date(2024, 4, 1), False, True),  # first day of the 12 months
        (date(2024, 3, 31), date(2024, 3, 31), False, False),  # one year before: outside
        (REF + timedelta(days=1), REF + timedelta(days=5), False, False),  # after the reference date
    ],
)
def test_started_enrolment_covers_its_days(first, last, in_4w, in_12m):
    events = [
        person("p1"),
        requested("e1", "p1", start=first, end=last),
        started("e1", first),
        marker(),
    ]
    result = counts(events)
    assert rate(result[P4]) == (int(in_4w), 1)
    assert rate(result[P12]) == (int(in_12m), 1)


def test_activity_end_is_completion_else_dropout_else_planned_end():
    planned_start, planned_end = days_before(90), days_before(5)
    events = [
        person("completed-early"), requested("e1", "completed-early", start=planned_start, end=planned_end),
        started("e1", planned_start), completed("e1", days_before(40)),
        person("dropped-out"), requested("e2", "dropped-out", start=planned_start, end=planned_end),
        started("e2", planned_start), dropped("e2", days_before(50)),
        person("running"), requested("e3", "running", start=planned_start, end=planned_end),
        started("e3", planned_start),
        person("completed-late"), requested("e4", "completed-late", start=planned_start, end=days_before(60)),
        started("e4", planned_start), completed("e4", days_before(3)),
        marker(),
    ]
    result = counts(events)
    assert rate(result[P4]) == (2, 4)  # running (planned end) and completed-late
    assert rate(result[P12]) == (4, 4)


def test_completion_without_start_event_counts_from_planned_start():
    events = [person("p1"), requested("e1", "p1", start=days_before(40), end=days_before(20)),
              completed("e1", days_before(20)), marker()]
    assert rate(counts(events)[P4]) == (1, 1)


def test_enrolments_that_never_started_are_no_activity():
    events = [
        person("p1"),
        requested("e1", "p1", start=days_before(10)),
        cancelled("e1", days_before(12)),
        requested("e2", "p1", start=days_before(5)),
        marker(),
    ]
    result = counts(events)
    assert rate(result[P4]) == (0, 1)
    assert rate(result[P12]) == (0, 1)


def test_career_guidance_session_is_activity():
    events = [
        person("p1"), guidance("c1", "p1", days_before(3)),
        person("p2"), guidance("c2", "p2", days_before(100)),
        marker(),
    ]
    result = counts(events)
    assert rate(result[P4]) == (1, 2)
    assert rate(result[P12]) == (2, 2)


@pytest.mark.parametrize(
    ("birth_date", "member"),
    [
        (date(2000, 3, 31), True),  # 25 on the reference date
        (date(2000, 4, 1), False),  # 24
        (date(1960, 4, 1), True),  # 64
        (date(1960, 3, 31), False),  # 65 on the reference date
    ],
)
def test_population_age_bounds(birth_date, member):
    result = counts([person("p1", birth_date=birth_date), marker()])
    assert result.get(P4, Tally(0, 0, 0)).denominator == int(member)


def test_population_excludes_non_flemish_residents_dead_and_unregistered():
    events = [
        person("flemish"),
        person("brussels", nis_code="21004"),
        person("walloon-brabant", nis_code="25072"),
        person("moved-away"),
        ev.PersonUpdated(event_id=next_id(), occurred_at=at(date(2025, 1, 1)), person_id="moved-away", nis_code="21004"),
        person("died", birth_date=date(1970, 1, 1)),
        ev.PersonDeceased(event_id=next_id(), occurred_at=at(REF), person_id="died", date_of_death=REF),
        person("dies-later"),
        ev.PersonDeceased(event_id=next_id(), occurred_at=at(REF), person_id="dies-later", date_of_death=REF + timedelta(days=1)),
        ev.PersonUpdated(event_id=next_id(), occurred_at=at(date(2025, 1, 1)), person_id="never-registered", labour_status=ev.LabourStatus.JOBSEEKER),
        marker(),
    ]
    assert counts(events)[P12].denominator == 2  # flemish, dies-later


def test_breakdown_cells_of_a_member():
    events = [
        person(
            "p1", birth_date=date(1975, 1, 1), sex=ev.Sex.MALE, nis_code="44021",
            education_level=ev.EducationLevel.HIGH, birth_country_group=ev.BirthCountryGroup.NON_EU,
            labour_status=ev.LabourStatus.JOBSEEKER, work_disability=True,
        ),
        requested("e1", "p1", start=days_before(2)), started("e1", days_before(2)),
        marker(),
    ]
    result = counts(events)
    expected = {
        "region=flanders", "province=40000", "municipality=44021", "age_band=45-54", "sex=M",
        "education=high", "birth_country=NON_EU", "labour_status=jobseeker", "work_disability=yes",
    }
    for kpi in (d.PARTICIPATION_4W, d.PARTICIPATION_12M):
        assert {c for k, c in result if k == kpi} == expected
        assert all(result[(kpi, c)] == Tally(1, 1, 1) for c in expected)


def test_partial_update_changes_only_its_fields_latest_wins():
    events = [
        person("p1", nis_code="11002", labour_status=ev.LabourStatus.EMPLOYED),
        ev.PersonUpdated(event_id="u2", occurred_at=at(date(2025, 2, 1)), person_id="p1", nis_code="71022"),
        ev.PersonUpdated(event_id="u1", occurred_at=at(date(2025, 1, 1)), person_id="p1", nis_code="31005",
                         labour_status=ev.LabourStatus.JOBSEEKER),
        marker(),
    ]
    cells = {c for _, c in counts(events)}
    assert {"province=70000", "municipality=71022", "labour_status=jobseeker"} <= cells
    assert "municipality=31005" not in cells and "labour_status=employed" not in cells


def test_reference_date_defaults_to_the_watermark_date():
    events = [person("p1"), requested("e1", "p1", start=days_before(40)), started("e1", days_before(40)),
              marker(days_before(30))]
    state = fold_all(events, UNBOUNDED)
    assert tally(state)[P4].numerator == 1  # watermark date is REF-30: the course is 10 days old
    assert tally(state, REF)[P4].numerator == 0
    assert recount(events).reference_date == days_before(30)


def test_empty_state_has_no_cells():
    assert tally(fold_all([])) == {}
