from datetime import date, datetime, timezone

import pytest

from services.enrolments.domain import (
    EnrolmentRequested,
    EnrolmentStatus,
    FundingInstrument,
    NotOwner,
    Provider,
    ProviderNotAllowed,
    ValidationError,
)

from .builders import PLANNED_END, PLANNED_START, PRICE, REQUESTED_AT, offer, policy, provider, requested


def test_request_creates_a_requested_enrolment_with_one_event():
    e = requested(leercoach_id="LC-7")
    assert e.status is EnrolmentStatus.REQUESTED and e.version == 1
    assert e.policy_version == "2025.1"
    [event] = e.pending_events
    assert event == EnrolmentRequested(
        event_id="ENR-1:1:0", enrolment_id="ENR-1", aggregate_version=1, occurred_at=REQUESTED_AT,
        person_id="P-1", provider_id="PRV-1", offer_id="OFF-1", provider_reference="REF-1",
        instrument="TRAINING_BUDGET", planned_start=PLANNED_START, planned_end=PLANNED_END,
        price_cents=PRICE, hours=40, policy_version="2025.1", leercoach_id="LC-7",
    )


def test_pull_events_hands_over_the_outbox_once():
    e = requested()
    assert len(e.pull_events()) == 1
    assert e.pull_events() == [] and e.version == 1


def test_events_are_stamped_in_utc():
    now = datetime(2026, 7, 6, 11, 0, tzinfo=timezone.utc).astimezone()
    assert requested(now=now).pending_events[0].occurred_at.tzinfo is timezone.utc


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        requested(now=datetime(2026, 7, 6, 9, 0))


def test_request_validation_names_every_bad_field():
    with pytest.raises(ValidationError) as err:
        requested(enrolment_id="", person_id="", provider_reference="", leercoach_id=" ",
                  instrument="GIFT_VOUCHER", planned_start=date(2026, 7, 17), planned_end=date(2026, 7, 16))
    assert err.value.fields == ("enrolment_id", "person_id", "provider_reference", "leercoach_id",
                                "instrument", "planned_end")
    assert "planned_end: must be on or after planned_start" in str(err.value)


def test_instrument_must_be_accepted_by_the_offer():
    with pytest.raises(ValidationError) as err:
        requested(instrument=FundingInstrument.TRAINING_LEAVE)
    assert err.value.field == "instrument"
    assert err.value.message == "offer OFF-1 does not accept TRAINING_LEAVE"


def test_instrument_must_exist_under_the_policy():
    pol = policy(funding_instruments=frozenset({FundingInstrument.TRAINING_CHEQUE}))
    with pytest.raises(ValidationError, match="TRAINING_BUDGET is not available under policy"):
        requested(pol)


@pytest.mark.parametrize("start", [date(2026, 6, 30), date(2026, 10, 1)])
def test_planned_start_must_be_in_the_offer_start_window(start):
    with pytest.raises(ValidationError) as err:
        requested(planned_start=start, planned_end=date(2026, 10, 31))
    assert err.value.field == "planned_start" and "start window 2026-07-01..2026-09-30" in err.value.message


def test_planned_start_not_in_the_past():
    with pytest.raises(ValidationError, match="planned_start: must not be in the past"):
        requested(now=datetime(2026, 7, 20, 9, 0, tzinfo=timezone.utc))


def test_one_day_course_and_start_today_are_fine():
    e = requested(planned_start=date(2026, 7, 6), planned_end=date(2026, 7, 6))
    assert e.planned_start == e.planned_end == date(2026, 7, 6)


def test_suspended_provider_cannot_post_enrolments():
    prov = provider()
    o = offer(prov)
    with pytest.raises(ProviderNotAllowed, match="PRV-1 is suspended"):
        requested(provider=prov.suspend("unpaid audits"), offer=o)


def test_provider_can_only_enrol_on_its_own_offers():
    other = Provider.accredit("PRV-2", "Other academy")
    with pytest.raises(NotOwner):
        requested(provider=other, offer=offer())


def test_enrolment_is_scoped_to_its_provider():
    e = requested()
    e.ensure_owned_by("PRV-1")
    with pytest.raises(NotOwner):
        e.ensure_owned_by("PRV-2")


def test_planned_dates_must_be_dates_not_datetimes():
    with pytest.raises(ValidationError) as err:
        requested(planned_start=datetime(2026, 7, 17, tzinfo=timezone.utc), planned_end="2026-07-31")
    assert err.value.fields == ("planned_start", "planned_end")
    assert err.value.message == "must be a date"
