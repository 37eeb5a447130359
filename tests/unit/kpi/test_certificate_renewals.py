"""Certified counts follow the certificate's real life: renewals (seamless and in the grace period),
suspensions ended by reinstatement, final revocation.

The events come from the certification service's own aggregate (``Certificate``) and its envelope
adapter, through the KPI envelope mapping into the KPI fold, so the KPI is checked against what the
certification service publishes. The oracle is the aggregate's own ``is_valid_on(day)``.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from services.certification.adapters.events import to_envelope as certification_envelope
from services.certification.domain.certificate import Certificate
from services.certification.domain.errors import IllegalTransition
from services.kpi.adapters.envelopes import to_domain
from services.kpi.domain import definitions as d
from services.kpi.domain import events as ev
from services.kpi.domain.definitions import FoldConfig
from services.kpi.domain.projection import fold_all
from services.kpi.domain.readout import tally
from services.kpi.domain.recount import recount
from tests.unit.certification.builders import T0, issued_leercoach, policy, training

UNBOUNDED = FoldConfig(max_lateness=timedelta(days=100_000))
KEY = (d.CERTIFIED_LEERCOACHES, d.FLANDERS)


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, datetime.min.time(), timezone.utc).replace(hour=hour)


def kpi_events(cert: Certificate) -> list[ev.Event]:
    """What the KPI service receives for the certificate's pending events."""
    out = []
    for event in cert.pull_events():
        out += to_domain(certification_envelope(event, aggregate_version=cert.version))
    return out


def counted(events: list[ev.Event], day: date) -> tuple[int, int, int]:
    """The certified-leercoach count on ``day``: streaming fold, the fold of the reversed stream,
    and the independent batch recount."""
    def of(tallies) -> int:
        return tallies[KEY].numerator if KEY in tallies else 0
    return (of(tally(fold_all(events, UNBOUNDED), day)), of(tally(fold_all(events[::-1], UNBOUNDED), day)),
            of(recount(events, day, UNBOUNDED).tallies))


def assert_counts_follow(cert: Certificate, events: list[ev.Event], days: list[date]) -> None:
    for day in days:
        expected = int(cert.is_valid_on(day))
        assert counted(events, day) == (expected,) * 3, day


def test_a_renewal_before_the_old_end_keeps_the_holder_counted_past_the_original_expiry():
    org, cand, recs, cert = issued_leercoach(T0)
    events = kpi_events(cert)
    ce = training(org, cand, "CE-COACHING", hours=21, on=date(2027, 6, 1))
    cert.renew(trainings=recs + [ce], policy=policy(), now=at(date(2027, 12, 1)))
    events += kpi_events(cert)
    assert [type(e) for e in events] == [ev.CertificateIssued, ev.CertificateRenewed]
    original_end = date(2028, 3, 2)
    assert counted(events, original_end + timedelta(days=1)) == (1, 1, 1)  # was 0 before renewals counted
    assert_counts_follow(cert, events, [date(2027, 11, 30), original_end, original_end + timedelta(days=1),
                                        date(2031, 3, 2), date(2031, 3, 3)])


def test_a_renewal_in_the_grace_period_leaves_the_lapsed_days_uncounted():
    org, cand, recs, cert = issued_leercoach(T0)
    events = kpi_events(cert)
    assert cert.expire_if_due(at(date(2028, 3, 10)))  # the expiry job ran
    ce = training(org, cand, "CE", hours=21, on=date(2027, 1, 10))
    cert.renew(trainings=[ce], policy=policy(), now=at(date(2028, 4, 1)))
    events += kpi_events(cert)
    assert [type(e) for e in events] == [ev.CertificateIssued, ev.CertificateExpired, ev.CertificateRenewed]
    assert counted(events, date(2028, 3, 15)) == (0, 0, 0)
    assert counted(events, date(2028, 4, 1)) == (1, 1, 1)  # was 0: expired stayed expired
    assert_counts_follow(cert, events, [date(2028, 3, 2), date(2028, 3, 3), date(2028, 3, 31), date(2028, 4, 1),
                                        date(2031, 3, 31), date(2031, 4, 1)])


def test_a_reinstated_certificate_counts_again_from_the_reinstatement_day():
    *_, cert = issued_leercoach(T0)
    events = kpi_events(cert)
    cert.suspend(reason="complaint", now=at(date(2025, 5, 1)))
    cert.reinstate(now=at(date(2025, 6, 1)))
    cert.suspend(reason="second complaint", now=at(date(2025, 6, 1), hour=15))  # the same day, later
    cert.reinstate(now=at(date(2025, 7, 1)))
    events += kpi_events(cert)
    assert counted(events, date(2025, 7, 1)) == (1, 1, 1)  # was 0: an open suspension never ended
    assert_counts_follow(cert, events, [date(2025, 4, 30), date(2025, 5, 1), date(2025, 5, 31), date(2025, 6, 1),
                                        date(2025, 6, 30), date(2025, 7, 1), date(2026, 1, 1)])


def test_revocation_is_final_even_after_a_suspension():
    *_, cert = issued_leercoach(T0)
    events = kpi_events(cert)
    cert.suspend(reason="complaint", now=at(date(2025, 5, 1)))
    cert.revoke(reason="fraud", now=at(date(2025, 5, 20)))
    with pytest.raises(IllegalTransition):
        cert.reinstate(now=at(date(2025, 6, 1)))
    events += kpi_events(cert)
    assert_counts_follow(cert, events, [date(2025, 4, 30), date(2025, 5, 1), date(2025, 5, 20), date(2025, 6, 2)])
    # a reinstatement the certification service would refuse still cannot bring it back
    stray = ev.CertificateReinstated(event_id="stray", occurred_at=at(date(2025, 6, 1)),
                                     certificate_id=cert.certificate_id, reinstated_on=date(2025, 6, 1))
    assert counted(events + [stray], date(2025, 6, 2)) == (0, 0, 0)


def test_a_suspension_with_an_end_date_ends_by_itself_or_earlier_by_reinstatement():
    issued = ev.CertificateIssued(event_id="i", occurred_at=at(date(2025, 1, 1)), certificate_id="c",
                                  holder_id="h", organisation_id="o", role=ev.CertificateRole.LEERCOACH,
                                  valid_from=date(2025, 1, 1), valid_until=date(2027, 12, 31))
    suspended = ev.CertificateSuspended(event_id="s", occurred_at=at(date(2025, 2, 1)), certificate_id="c",
                                        suspended_from=date(2025, 2, 1), suspended_until=date(2025, 2, 28))
    reinstated = ev.CertificateReinstated(event_id="r", occurred_at=at(date(2025, 2, 10)), certificate_id="c",
                                          reinstated_on=date(2025, 2, 10))
    assert counted([issued, suspended], date(2025, 2, 28)) == (0, 0, 0)
    assert counted([issued, suspended], date(2025, 3, 1)) == (1, 1, 1)
    assert counted([issued, suspended, reinstated], date(2025, 2, 9)) == (0, 0, 0)
    assert counted([issued, suspended, reinstated], date(2025, 2, 10)) == (1, 1, 1)

