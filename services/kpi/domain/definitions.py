"""What the KPIs mean: names, cell keys, windows, age bands, targets and configuration.

This module holds *definitions* only. The streaming projection (``projection`` + ``readout``) and
the independent batch recount (``recount``) each implement the counting rules below on their own,
so that comparing them checks the arithmetic, not just one code path against itself.

Counting rules (both implementations)
-------------------------------------
*Reference date* R: an explicit date, or by default the UTC date of the projection's watermark
(the greatest ``occurred_at`` accepted). Never the wall clock.

*Population* on R: persons with a ``PersonRegistered`` event, not deceased on or before R
(``date_of_death <= R``), resident in a Flemish municipality (``geography.province_of``) and aged
25-64 (full years) on R. Attributes are the latest known values: per attribute, the value of the
event with the greatest ``(occurred_at, event_id)`` (so a partial ``PersonUpdated`` only changes
the fields it sets, and the result does not depend on arrival order).

*Learning activity* and the days it covers:
- an enrolment that STARTED or COMPLETED covers the days from its start (the ``start_date`` of
  ``EnrolmentStarted``; without one, ``min(planned_start, completion_date)``) to its end (the
  ``completion_date`` if completed, else the ``dropout_date`` if dropped out, else the planned
  end; never before the start). Requested, funded, rejected, cancelled and no-show enrolments
  that never started are no activity;
- a career-guidance session (``CareerGuidanceRecorded``) covers its ``guidance_date``.
A person participates in a window when any activity covers at least one day of it. Windows end on
R inclusive: 4 weeks = the 28 days R-27..R; 12 months = the day after R's date one year earlier
(29 February -> 28 February) through R.

*Leercoach-guided share*: among population members with enrolment activity in the 12-month
window, those with at least one such enrolment naming a ``leercoach_id``.

*As-of rule for cumulative KPIs*: a fact counts from its effective date, the business date in its
payload where it has one (start, completion, drop-out, purchase, guidance, certificate dates),
otherwise the UTC date of ``occurred_at``; only facts effective on or before R count.
- Provider rates: enrolments requested by R, grouped by provider. Status on R is the
  highest-priority terminal fact effective by R, priority COMPLETED > DROPPED_OUT > NO_SHOW >
  CANCELLED > REJECTED (contradictory facts resolve the same way in any order).
  completion rate = COMPLETED / (COMPLETED + DROPPED_OUT); cancellation rate and no-show rate =
  CANCELLED resp. NO_SHOW / all requested.
- Career cheques: bought = purchase by R; used = bought and at least one guidance session by R;
  uptake = used / bought; guidance hours = hours of sessions by R on bought cheques; outcome of a
  cheque = the non-empty outcome of its latest session by R (greatest
  ``(guidance_date, occurred_at, event_id)``); outcome share = cheques with that outcome / cheques
  with any outcome.
- Career-guidance outcomes (trajectories at career centres): a cheque's trajectory is *completed*
  when it has an INTAKE and an EVALUATION measurement (per moment, the latest by ``(occurred_at,
  event_id)``) and the evaluation's ``measured_on`` is on or before R. It counts when its person is
  registered and resident in a Flemish municipality (latest attributes, as for the population; a
  person who died since still counts), in the cells Flanders, province, municipality, sex,
  education, country of birth, labour status, work disability and the age band of the person's age
  on the evaluation day (25-64 only; other ages count in the other cells). Per cell, over completed
  trajectories: improved share = those whose mean score over the dimensions measured at both moments
  rose; mean change per dimension = sum of (evaluation - intake) / trajectories with that dimension
  at both moments (support: those trajectories); reorientation and job-match rates = those with
  reorientation resp. a sustainable job match at evaluation / completed trajectories.
- Budget: sums of reserved, captured and released cents by R; outstanding = reserved - captured -
  released. Support (for disclosure) = reservations with a reserve by R. Credited = the sum of the
  euro credits to accounts by R (the yearly training budget, training-cheque allowances): what was
  made available, against which the captured cents are the budget used; its support = accounts
  with a credit by R.
- Certificates valid on R: issued; R inside a validity period, that is the issued
  ``valid_from..valid_until`` or a renewal's ``renewal day..valid_until`` (the renewal day is the
  UTC date of ``occurred_at``: renewed before the old end the validity continues without a break,
  renewed in the grace period after it the days in between stay invalid); not revoked on or before
  R (revocation is final); not expired: no ``expired_on <= R`` unless the certificate was renewed
  on a day from that ``expired_on`` through R; not inside a suspension: ``suspended_from <= R``,
  ``R <= suspended_until`` (open-ended if none) and R before the ``reinstated_on`` of the first
  reinstatement after the suspension (by ``(occurred_at, event_id)``), if any. Counted as distinct
  holders per organisation and role, and for Flanders.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction

# --- KPI names ---------------------------------------------------------------------------------
PARTICIPATION_4W = "participation_4w"
PARTICIPATION_12M = "participation_12m"
LEERCOACH_GUIDED_SHARE = "leercoach_guided_share_12m"
CAREER_CHEQUES_BOUGHT = "career_cheques_bought"
CAREER_CHEQUE_UPTAKE = "career_cheque_uptake"
CAREER_GUIDANCE_HOURS = "career_guidance_hours"
CAREER_CHEQUE_OUTCOME = "career_cheque_outcome"
BUDGET_CREDITED = "budget_credited_cents"
BUDGET_RESERVED = "budget_reserved_cents"
BUDGET_CAPTURED = "budget_captured_cents"
BUDGET_RELEASED = "budget_released_cents"
BUDGET_OUTSTANDING = "budget_outstanding_cents"
CERTIFIED_MENTORS = "certified_mentors"
CERTIFIED_LEERCOACHES = "certified_leercoaches"
PROVIDER_COMPLETION_RATE = "provider_completion_rate"
PROVIDER_CANCELLATION_RATE = "provider_cancellation_rate"
PROVIDER_NO_SHOW_RATE = "provider_no_show_rate"
CAREER_OUTCOME_IMPROVED = "career_outcome_improved_share"
CAREER_OUTCOME_REORIENTATION = "career_outcome_reorientation_rate"
CAREER_OUTCOME_JOB_MATCH = "career_outcome_job_match_rate"
# The work-happiness dimensions of the outcome policy (services/accounts/policies/guidance), in its
# order; one mean-change KPI each, e.g. career_outcome_change_meaning.
WORK_HAPPINESS_DIMENSIONS = ("MEANING", "AUTONOMY", "COMPETENCE", "CONNECTION", "SAFETY", "BALANCE")
CAREER_OUTCOME_CHANGE_MEANING = "career_outcome_change_meaning"
CAREER_OUTCOME_CHANGE_AUTONOMY = "career_outcome_change_autonomy"
CAREER_OUTCOME_CHANGE_COMPETENCE = "career_outcome_change_competence"
CAREER_OUTCOME_CHANGE_CONNECTION = "career_outcome_change_connection"
CAREER_OUTCOME_CHANGE_SAFETY = "career_outcome_change_safety"
CAREER_OUTCOME_CHANGE_BALANCE = "career_outcome_change_balance"
CAREER_OUTCOME_CHANGE = dict(zip(WORK_HAPPINESS_DIMENSIONS, (
    CAREER_OUTCOME_CHANGE_MEANING, CAREER_OUTCOME_CHANGE_AUTONOMY, CAREER_OUTCOME_CHANGE_COMPETENCE,
    CAREER_OUTCOME_CHANGE_CONNECTION, CAREER_OUTCOME_CHANGE_SAFETY, CAREER_OUTCOME_CHANGE_BALANCE)))
CAREER_OUTCOME_KPIS = (CAREER_OUTCOME_IMPROVED, *CAREER_OUTCOME_CHANGE.values(), CAREER_OUTCOME_REORIENTATION,
                       CAREER_OUTCOME_JOB_MATCH)

# Every KPI the service publishes, in the order a reader meets them.
KPI_NAMES = (
    PARTICIPATION_4W, PARTICIPATION_12M, LEERCOACH_GUIDED_SHARE, CAREER_CHEQUES_BOUGHT, CAREER_CHEQUE_UPTAKE,
    CAREER_GUIDANCE_HOURS, CAREER_CHEQUE_OUTCOME, *CAREER_OUTCOME_KPIS, BUDGET_CREDITED, BUDGET_RESERVED, BUDGET_CAPTURED,
    BUDGET_RELEASED, BUDGET_OUTSTANDING, CERTIFIED_MENTORS, CERTIFIED_LEERCOACHES, PROVIDER_COMPLETION_RATE,
    PROVIDER_CANCELLATION_RATE, PROVIDER_NO_SHOW_RATE,
)

RATE_KPIS = frozenset(
    {
        PARTICIPATION_4W,
        PARTICIPATION_12M,
        LEERCOACH_GUIDED_SHARE,
        CAREER_CHEQUE_UPTAKE,
        CAREER_CHEQUE_OUTCOME,
        PROVIDER_COMPLETION_RATE,
        PROVIDER_CANCELLATION_RATE,
        PROVIDER_NO_SHOW_RATE,
        CAREER_OUTCOME_IMPROVED,
        CAREER_OUTCOME_REORIENTATION,
        CAREER_OUTCOME_JOB_MATCH,
    }
)
# Means: numerator / denominator is an average (here: points on the outcome scale), not a share.
MEAN_KPIS = frozenset(CAREER_OUTCOME_CHANGE.values())

# Targets shown beside the participation rates (DOMAIN.md section 4).
TARGETS: dict[str, dict[str, Fraction]] = {
    PARTICIPATION_4W: {"2020 pact": Fraction(15, 100), "2030 ambition": Fraction(30, 100)},
    PARTICIPATION_12M: {"EU 2030 target": Fraction(60, 100)},
}

# --- cells -------------------------------------------------------------------------------------
CellKey = tuple[str, str]  # (kpi, cell), e.g. ("participation_4w", "province=10000")

FLANDERS = "region=flanders"


# The dimensions of cell labels.
DIMENSIONS = ("region", "province", "municipality", "age_band", "sex", "education", "birth_country",
              "labour_status", "work_disability", "provider", "organisation", "outcome")


def cell(dimension: str, value: object) -> str:
    """A cell label ``dimension=value`` of one of the ``DIMENSIONS``."""
    return f"{dimension}={value}"


# --- age and windows ---------------------------------------------------------------------------
MIN_AGE = 25
MAX_AGE = 64


def age_on(birth_date: date, on: date) -> int:
    """Age in full years on a date (a 29 February birthday falls on 1 March in common years)."""
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def age_band(age: int) -> str | None:
    """``25-34``, ``35-44``, ``45-54``, ``55-64``, or ``None`` outside 25-64."""
    if not MIN_AGE <= age <= MAX_AGE:
        return None
    low = MIN_AGE + 10 * ((age - MIN_AGE) // 10)
    return f"{low}-{low + 9}"


def one_year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def window_4w(reference_date: date) -> tuple[date, date]:
    """First and last day (inclusive) of the 4-week window ending on the reference date."""
    return reference_date - timedelta(days=27), reference_date


def window_12m(reference_date: date) -> tuple[date, date]:
    """First and last day (inclusive) of the 12-month window ending on the reference date."""
    return one_year_before(reference_date) + timedelta(days=1), reference_date


# --- configuration -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FoldConfig:
    """How far behind the watermark (max accepted ``occurred_at``) an event may still be applied.
    Anything older goes to the state's ``late`` list with a reason instead."""

    max_lateness: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class DisclosureConfig:
    """Statistical disclosure control: a cell is suppressed when its support (the number of units
    behind it: the numerator of a rate, the count itself, the number of reservations behind an
    amount) is below ``min_numerator`` or its denominator is below ``min_denominator``."""

    min_numerator: int = 10
    min_denominator: int = 100
