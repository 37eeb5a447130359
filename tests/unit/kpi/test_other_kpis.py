from datetime import date, timedelta

from services.kpi.domain import definitions as d
from services.kpi.domain import events as ev
from services.kpi.domain.disclosure import Tally
from services.kpi.domain.projection import fold_all
from services.kpi.domain.readout import recording_since, tally
from services.kpi.domain.recount import recount

from .builders import (
    REF, UNBOUNDED, at, cancelled, certificate, cheque, completed, days_before, dropped, guidance, marker,
    next_id, no_show, person, rejected, requested, started,
)


def counts(events, ref=REF):
    result = tally(fold_all(events, UNBOUNDED), ref)
    assert result == recount(events, ref, UNBOUNDED).tallies
    return result


def test_leercoach_guided_share_of_learners():
    events = [
        person("guided", nis_code="71022"),
        requested("e1", "guided", start=days_before(100), leercoach="coach-1"), started("e1", days_before(100)),
        person("unguided", nis_code="11002"),
        requested("e2", "unguided", start=days_before(10)), started("e2", days_before(10)),
        person("guided-long-ago"),
        requested("e3", "guided-long-ago", start=date(2023, 1, 1), leercoach="coach-1"), started("e3", date(2023, 1, 1)),
        person("guidance-only"), guidance("c1", "guidance-only", days_before(5)),
        marker(),
    ]
    result = counts(events)
    assert result[(d.LEERCOACH_GUIDED_SHARE, d.FLANDERS)] == Tally(1, 2, 1)
    assert result[(d.LEERCOACH_GUIDED_SHARE, "province=70000")] == Tally(1, 1, 1)
    assert result[(d.LEERCOACH_GUIDED_SHARE, "province=10000")] == Tally(0, 1, 0)


def test_provider_completion_cancellation_and_no_show_rates():
    s = days_before(60)
    events = [
        requested("a1", "x", provider="A", start=s), started("a1", s), completed("a1", days_before(50)),
        requested("a2", "x", provider="A", start=s), started("a2", s), completed("a2", days_before(50)),
        requested("a3", "x", provider="A", start=s), started("a3", s), dropped("a3", days_before(55)),
        requested("a4", "x", provider="A", start=s), cancelled("a4", days_before(70)),
        requested("a5", "x", provider="A", start=s), no_show("a5", days_before(58)),
        requested("a6", "x", provider="A", start=s), started("a6", s),  # still running
        requested("b1", "x", provider="B", start=s), rejected("b1", days_before(73)),
        requested("b2", "x", provider="B", start=s), started("b2", s),
        completed("b2", REF + timedelta(days=3)),  # completed after the reference date: still open on REF
        marker(),
    ]
    result = counts(events)
    assert result[(d.PROVIDER_COMPLETION_RATE, "provider=A")] == Tally(2, 3, 2)
    assert result[(d.PROVIDER_CANCELLATION_RATE, "provider=A")] == Tally(1, 6, 1)
    assert result[(d.PROVIDER_NO_SHOW_RATE, "provider=A")] == Tally(1, 6, 1)
    assert (d.PROVIDER_COMPLETION_RATE, "provider=B") not in result
    assert result[(d.PROVIDER_CANCELLATION_RATE, "provider=B")] == Tally(0, 2, 0)
    assert result[(d.PROVIDER_CANCELLATION_RATE, d.FLANDERS)] == Tally(1, 8, 1)
    later = counts(events, REF + timedelta(days=3))
    assert later[(d.PROVIDER_COMPLETION_RATE, "provider=B")] == Tally(1, 1, 1)


def test_contradictory_terminal_facts_resolve_by_priority():
    s = days_before(60)
    events = [requested("a1", "x", provider="A", start=s), cancelled("a1", days_before(61)),
              started("a1", s), completed("a1", days_before(40)), marker()]
    result = counts(events)
    assert result[(d.PROVIDER_COMPLETION_RATE, "provider=A")] == Tally(1, 1, 1)
    assert result[(d.PROVIDER_CANCELLATION_RATE, "provider=A")] == Tally(0, 1, 0)


def test_career_cheque_uptake_hours_and_outcomes():
    events = [
        cheque("c1", "p1", days_before(90)),
        guidance("c1", "p1", days_before(80), hours=4),
        guidance("c1", "p1", days_before(60), hours=3, outcome="REORIENTED"),
        guidance("c1", "p1", days_before(50), hours=3, outcome="POP_DELIVERED"),  # latest outcome wins
        cheque("c2", "p2", days_before(40)),
        guidance("c2", "p2", days_before(30), hours=4, outcome="POP_DELIVERED"),
        cheque("c3", "p3", days_before(20)),  # not (yet) used
        cheque("c4", "p4", days_before(10)),
        guidance("c4", "p4", days_before(5), hours=4),  # used, no outcome yet
        cheque("c5", "p5", REF + timedelta(days=2)),  # bought after the reference date
        marker(),
    ]
    result = counts(events)
    assert result[(d.CAREER_CHEQUES_BOUGHT, d.FLANDERS)] == Tally(4, None, 4)
    assert result[(d.CAREER_CHEQUE_UPTAKE, d.FLANDERS)] == Tally(3, 4, 3)
    assert result[(d.CAREER_GUIDANCE_HOURS, d.FLANDERS)] == Tally(18, None, 3)
    assert result[(d.CAREER_CHEQUE_OUTCOME, "outcome=POP_DELIVERED")] == Tally(2, 2, 2)
    assert (d.CAREER_CHEQUE_OUTCOME, "outcome=REORIENTED") not in result


def test_budget_use_in_cents():
    def reserve(rid, cents, day):
        return ev.BudgetReserved(event_id=next_id(), occurred_at=at(day), reservation_id=rid,
                                 person_id="p1", enrolment_id="e-" + rid, amount_cents=cents)

    events = [
        reserve("r1", 100_00, days_before(30)),
        ev.BudgetCaptured(event_id=next_id(), occurred_at=at(days_before(10)), reservation_id="r1", amount_cents=60_00),
        ev.BudgetReleased(event_id=next_id(), occurred_at=at(days_before(10)), reservation_id="r1", amount_cents=40_00),
        reserve("r2", 250_50, days_before(20)),
        ev.BudgetReleased(event_id=next_id(), occurred_at=at(REF + timedelta(days=1)), reservation_id="r2", amount_cents=250_50),
        reserve("r3", 99_99, REF + timedelta(days=1)),
        marker(),
    ]
    result = counts(events)
    assert result[(d.BUDGET_RESERVED, d.FLANDERS)] == Tally(350_50, None, 2)
    assert result[(d.BUDGET_CAPTURED, d.FLANDERS)] == Tally(60_00, None, 2)
    assert result[(d.BUDGET_RELEASED, d.FLANDERS)] == Tally(40_00, None, 2)
    assert result[(d.BUDGET_OUTSTANDING, d.FLANDERS)] == Tally(250_50, None, 2)


def test_budget_credited_is_what_the_accounts_made_available_by_the_reference_date():
    def credit(account, cents, day):
        return ev.BudgetCredited(event_id=next_id(), occurred_at=at(day), account_id=account, amount_cents=cents)

    events = [
        credit("a1", 500_00, days_before(200)),
        credit("a1", 500_00, days_before(20)),  # the next year's credit: one account, two credits
        credit("a2", 250_00, days_before(5)),
        credit("a3", 500_00, REF + timedelta(days=1)),  # after the reference date
        marker(),
    ]
    result = counts(events)
    assert result[(d.BUDGET_CREDITED, d.FLANDERS)] == Tally(1250_00, None, 2)  # support: accounts credited
    assert (d.BUDGET_RESERVED, d.FLANDERS) not in result
    redelivered = counts(events + events[:2])
    assert redelivered[(d.BUDGET_CREDITED, d.FLANDERS)] == Tally(1250_00, None, 2)
    assert (d.BUDGET_CREDITED, d.FLANDERS) not in counts(events, days_before(201))


def test_certified_mentors_and_leercoaches_per_organisation_currently_valid():
    mentor, coach = ev.CertificateRole.MENTOR, ev.CertificateRole.LEERCOACH
    start, end = date(2024, 1, 1), date(2026, 12, 31)
    events = [
        certificate("m1", "h1", "ORG1", mentor, start, end),
        certificate("m2", "h1", "ORG1", mentor, start, end),  # same holder twice: counted once
        certificate("m3", "h2", "ORG1", mentor, start, end),
        certificate("m4", "h3", "ORG2", mentor, start, days_before(1)),  # lapsed before REF
        certificate("m5", "h4", "ORG2", mentor, REF + timedelta(days=1), end),  # not yet valid
        certificate("l1", "h5", "ORG2", coach, start, end),
        certificate("l2", "h6", "ORG2", coach, start, end),
        ev.CertificateRevoked(event_id=next_id(), occurred_at=at(days_before(3)), certificate_id="l2", revoked_on=days_before(3)),
        certificate("l3", "h7", "ORG2", coach, start, end),
        ev.CertificateSuspended(event_id=next_id(), occurred_at=at(days_before(9)), certificate_id="l3",
                                suspended_from=days_before(9), suspended_until=days_before(1)),  # lifted
        certificate("l4", "h8", "ORG3", coach, start, end),
        ev.CertificateSuspended(event_id=next_id(), occurred_at=at(days_before(9)), certificate_id="l4",
                                suspended_from=days_before(9)),  # open-ended
        certificate("l5", "h9", "ORG3", coach, start, end),
        ev.CertificateExpired(event_id=next_id(), occurred_at=at(REF), certificate_id="l5", expired_on=REF),
        marker(),
    ]
    result = counts(events)
    assert result[(d.CERTIFIED_MENTORS, "organisation=ORG1")] == Tally(2, None, 2)
    assert (d.CERTIFIED_MENTORS, "organisation=ORG2") not in result
    assert result[(d.CERTIFIED_MENTORS, d.FLANDERS)] == Tally(2, None, 2)
    assert result[(d.CERTIFIED_LEERCOACHES, "organisation=ORG2")] == Tally(2, None, 2)
    assert (d.CERTIFIED_LEERCOACHES, "organisation=ORG3") not in result
    assert result[(d.CERTIFIED_LEERCOACHES, d.FLANDERS)] == Tally(2, None, 2)
    earlier = counts(events, days_before(10))
    assert earlier[(d.CERTIFIED_LEERCOACHES, d.FLANDERS)] == Tally(5, None, 5)


def test_recording_since_is_the_month_of_the_first_enrolment_request_or_cheque_purchase():
    assert recording_since(fold_all([person("p1"), marker()], UNBOUNDED)) is None
    events = [person("p1"), requested("e1", "p1", start=date(2025, 3, 20), on=date(2025, 3, 5)),
              cheque("c1", "p1", date(2025, 2, 17)), marker()]
    assert recording_since(fold_all(events, UNBOUNDED)) == date(2025, 2, 1)
