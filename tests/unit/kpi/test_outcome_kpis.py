"""Career-guidance outcome KPIs: share improved, mean change per dimension, reorientation and
job-match rates, per breakdown cell; projection and recount agree; small cells are suppressed."""
from datetime import date, timedelta
from fractions import Fraction

from llr.accounts.v1 import events_pb2 as acc
from services.common.envelope import wrap
from services.kpi.adapters.envelopes import MappingError, to_domain
from services.kpi.domain import definitions as d
from services.kpi.domain import events as ev
from services.kpi.domain.disclosure import Tally, disclose
from services.kpi.domain.projection import fold_all
from services.kpi.domain.readout import Readout, tally
from services.kpi.domain.recount import recount

from .builders import REF, UNBOUNDED, at, days_before, marker, next_id, person

import pytest

DIMS = d.WORK_HAPPINESS_DIMENSIONS


def measured(cid: str, pid: str, moment: str, day: date, scores: tuple[int, ...], *, reoriented=False,
             job_match=False) -> ev.CareerOutcomesMeasured:
    return ev.CareerOutcomesMeasured(
        event_id=next_id(), occurred_at=at(day, 16), cheque_id=cid, person_id=pid, moment=moment,
        measured_on=day, scores=tuple(zip(DIMS, scores)), reorientation=reoriented, sustainable_job_match=job_match)


def counts(events, ref=REF):
    result = tally(fold_all(events, UNBOUNDED), ref)
    assert result == recount(events, ref, UNBOUNDED).tallies
    return {k: v for k, v in result.items() if k[0] in d.CAREER_OUTCOME_KPIS}


def trajectory(cid, pid, intake, evaluation, evaluated_on=days_before(10), **kw):
    return [measured(cid, pid, "INTAKE", evaluated_on - timedelta(days=30), intake),
            measured(cid, pid, "EVALUATION", evaluated_on, evaluation, **kw)]


def test_share_improved_mean_change_and_rates_per_cell():
    events = [
        person("gent", nis_code="44021"), person("brugge", nis_code="31005"),
        person("brussels", nis_code="21004"),
        *trajectory("c1", "gent", (2, 3, 3, 2, 4, 1), (4, 3, 4, 3, 4, 3), reoriented=True),    # +6: improved
        *trajectory("c2", "brugge", (3, 3, 3, 3, 3, 3), (3, 2, 3, 3, 4, 3), job_match=True),   # +0: not improved
        *trajectory("c3", "brussels", (1, 1, 1, 1, 1, 1), (5, 5, 5, 5, 5, 5)),                 # not Flemish
        measured("c4", "gent", "INTAKE", days_before(20), (1, 1, 1, 1, 1, 1)),                  # not evaluated
        *trajectory("c5", "gent", (1, 1, 1, 1, 1, 1), (2, 2, 2, 2, 2, 2), evaluated_on=REF + timedelta(days=2)),
        marker(),
    ]
    result = counts(events)
    assert result[(d.CAREER_OUTCOME_IMPROVED, d.FLANDERS)] == Tally(1, 2, 1)
    assert result[(d.CAREER_OUTCOME_IMPROVED, "province=40000")] == Tally(1, 1, 1)
    assert result[(d.CAREER_OUTCOME_IMPROVED, "province=30000")] == Tally(0, 1, 0)
    assert result[(d.CAREER_OUTCOME_REORIENTATION, d.FLANDERS)] == Tally(1, 2, 1)
    assert result[(d.CAREER_OUTCOME_JOB_MATCH, "municipality=31005")] == Tally(1, 1, 1)
    assert result[(d.CAREER_OUTCOME_CHANGE["MEANING"], d.FLANDERS)] == Tally(2, 2, 2)       # +2 and 0
    assert result[(d.CAREER_OUTCOME_CHANGE["AUTONOMY"], d.FLANDERS)] == Tally(-1, 2, 2)     # 0 and -1
    assert result[(d.CAREER_OUTCOME_CHANGE["BALANCE"], "age_band=35-44")] == Tally(2, 2, 2)  # born 1985
    # the evaluation after the reference date counts from its day on
    later = counts(events, REF + timedelta(days=2))
    assert later[(d.CAREER_OUTCOME_IMPROVED, d.FLANDERS)] == Tally(2, 3, 2)


def test_the_age_band_is_the_age_on_the_evaluation_day_and_late_attributes_recount_the_cell():
    born = date(1990, REF.month, REF.day) - timedelta(days=5)  # 35 five days before REF
    events = [*trajectory("c1", "p", (1,) * 6, (2,) * 6, evaluated_on=days_before(10)), marker()]
    assert counts(events) == {}  # the person is not known yet
    events = [person("p", birth_date=born), *events]
    result = counts(events)
    assert (d.CAREER_OUTCOME_IMPROVED, "age_band=25-34") in result
    assert (d.CAREER_OUTCOME_IMPROVED, "age_band=35-44") not in result


def test_the_incremental_readout_follows_a_person_who_arrives_after_the_outcome():
    events = [*trajectory("c1", "p", (1,) * 6, (3,) * 6), marker()]
    state = fold_all(events, UNBOUNDED)
    readout = Readout()
    assert not [k for k in readout.tallies(state, REF) if k[0] in d.CAREER_OUTCOME_KPIS]
    fold_all([person("p")], UNBOUNDED, state)
    assert readout.tallies(state, REF)[(d.CAREER_OUTCOME_IMPROVED, d.FLANDERS)] == Tally(1, 1, 1)


def test_outcome_cells_are_disclosure_controlled():
    events = [person(f"p{i}", nis_code="44021" if i < 150 else "31005") for i in range(160)]
    for i in range(160):
        events += trajectory(f"c{i}", f"p{i}", (2,) * 6, (3 if i % 2 else 2,) * 6, reoriented=i % 3 == 0)
    events.append(marker())
    cells = {c.key: c for c in disclose(tally(fold_all(events, UNBOUNDED), REF), REF)}
    flanders = cells[(d.CAREER_OUTCOME_IMPROVED, d.FLANDERS)]
    assert not flanders.suppressed and flanders.fraction() == Fraction(80, 160)
    assert cells[(d.CAREER_OUTCOME_CHANGE["MEANING"], d.FLANDERS)].fraction() == Fraction(80, 160)
    assert cells[(d.CAREER_OUTCOME_IMPROVED, "province=30000")].suppressed  # 10 trajectories
    # its complement too: Flanders minus the other province would give it away
    assert cells[(d.CAREER_OUTCOME_IMPROVED, "province=40000")].suppressed
    assert cells[(d.CAREER_OUTCOME_CHANGE["MEANING"], "province=30000")].numerator is None


def test_accounts_events_of_a_trajectory_map_to_sessions_and_measurements():
    def envelope(payload):
        return wrap(payload, aggregate_type="account", aggregate_id="a", aggregate_version=1, producer="accounts",
                    occurred_at=at(REF), event_id="e-1")
    (step,) = to_domain(envelope(acc.CareerTrajectoryStepRecorded(
        account_id="a", person_id="p", cheque_id="c", centre_id="lc", phase="POP", step_date="2025-03-30", hours=0)))
    assert step == ev.CareerGuidanceRecorded(event_id="e-1", occurred_at=at(REF), cheque_id="c", person_id="p",
                                             guidance_date=date(2025, 3, 30), hours=0, outcome="POP_DELIVERED")
    (m,) = to_domain(envelope(acc.CareerOutcomesRecorded(
        account_id="a", person_id="p", cheque_id="c", centre_id="lc", moment="EVALUATION", measured_on="2025-03-30",
        scores=[acc.DimensionScore(dimension="MEANING", score=4)], reorientation=True)))
    assert (m.moment, m.scores, m.reorientation, m.sustainable_job_match) == ("EVALUATION", (("MEANING", 4),), True,
                                                                              False)
    with pytest.raises(MappingError, match="moment"):
        to_domain(envelope(acc.CareerOutcomesRecorded(person_id="p", cheque_id="c", moment="LATER",
                                                      measured_on="2025-03-30")))
    assert to_domain(envelope(acc.CareerChequeCashed(person_id="p", cheque_id="c"))) == []


def test_the_dashboard_and_the_cli_show_outcomes_as_shares_and_signed_means():
    from services.cli.show import kpi_value
    from services.kpi.entrypoints.dashboard_html import render
    from services.kpi.service.policy_page import Snapshot, build_page

    events = [person(f"p{i}", nis_code="44021") for i in range(4)]
    for i in range(4):
        events += trajectory(f"c{i}", f"p{i}", (3,) * 6, (2 if i == 0 else 4,) * 6, reoriented=i == 1)
    events.append(marker())
    cells = disclose(tally(fold_all(events, UNBOUNDED), REF), REF, d.DisclosureConfig(min_numerator=1,
                                                                                       min_denominator=1))
    page = build_page(Snapshot(cells=cells, reference_date=REF))
    flanders = page["outcomes"]["rows"][0]
    assert (flanders["label"], flanders["improved"]["numerator"], flanders["improved"]["denominator"]) == \
        ("Vlaanderen", 3, 4)
    meaning = page["outcomes"]["change"][0]
    assert (meaning["label"], meaning["figure"]["numerator"]) == ("Meaning (zingeving)", 2)  # -1 +1 +1 +1
    html = render(page)
    assert 'data-kpi="career_outcome_change_meaning" data-cell="region=flanders">+0.50 points</span>' in html
    assert 'data-kpi="career_outcome_improved_share" data-cell="region=flanders">75.0%</span>' in html
    assert kpi_value(d.CAREER_OUTCOME_CHANGE["SAFETY"], -3, 4) == "-0.75 points"
    assert kpi_value(d.CAREER_OUTCOME_REORIENTATION, 1, 4) == "25.0%"
