from datetime import date

import pytest

from services.enrolments.domain import FundingInstrument, NotOwner, Offer, Provider, ProviderNotAllowed, ValidationError

from .builders import offer, provider


def test_regisseur_accredits_validates_every_field():
    with pytest.raises(ValidationError) as err:
        Provider.accredit("", " ")
    assert err.value.fields == ("provider_id", "name")


def test_suspended_provider_cannot_post_offers_until_reinstated():
    suspended = provider().suspend("fraud investigation")
    assert not suspended.can_post
    with pytest.raises(ProviderNotAllowed, match="suspended by the regisseur.*fraud investigation"):
        offer(suspended)
    assert offer(suspended.reinstate()).provider_id == "PRV-1"


def test_suspension_needs_a_reason():
    with pytest.raises(ValidationError) as err:
        provider().suspend("  ")
    assert err.value.field == "reason"


def test_valid_offer():
    o = offer()
    assert o.price_cents == 120_000 and o.hours == 40
    assert o.accepts(FundingInstrument.TRAINING_BUDGET)
    assert not o.accepts(FundingInstrument.TRAINING_LEAVE)
    assert o.start_window_contains(date(2026, 7, 1)) and o.start_window_contains(date(2026, 9, 30))
    assert not o.start_window_contains(date(2026, 10, 1))


def test_offer_validation_reports_all_fields_at_once():
    with pytest.raises(ValidationError) as err:
        offer(offer_id="", title="", price_cents=0, hours=-2,
              earliest_start=date(2026, 9, 1), latest_start=date(2026, 8, 1), instruments=[])
    messages = {e.field: e.message for e in err.value.errors}
    assert set(messages) == {"offer_id", "title", "price_cents", "hours", "latest_start", "instruments"}
    assert messages["price_cents"] == "must be greater than 0"
    assert messages["latest_start"] == "must be on or after earliest_start"
    assert messages["instruments"] == "at least one funding instrument is required"
    assert "price_cents: must be greater than 0" in str(err.value)


@pytest.mark.parametrize("price", [1.5, "100", True, None])
def test_price_must_be_integer_cents(price):
    with pytest.raises(ValidationError) as err:
        offer(price_cents=price)
    assert err.value.errors[0].field == "price_cents"
    assert err.value.message == "must be an integer"


def test_unknown_instrument_is_named():
    with pytest.raises(ValidationError) as err:
        offer(instruments=["TRAINING_BUDGET", "BITCOIN"])
    assert err.value.field == "instruments" and "BITCOIN" in err.value.message


def test_instruments_not_in_the_policy_are_refused():
    with pytest.raises(ValidationError, match="not offered under the current policy"):
        offer(instruments=[FundingInstrument.TRAINING_LEAVE], known_instruments=[FundingInstrument.TRAINING_BUDGET])


def test_career_cheques_only_for_mandated_career_centres():
    with pytest.raises(ValidationError) as err:
        offer(instruments=[FundingInstrument.CAREER_CHEQUE])
    assert err.value.field == "instruments" and "mandated career centres" in err.value.message
    centre = Provider.accredit("PRV-LC", "Loopbaancentrum", mandated_career_centre=True)
    assert offer(centre, instruments=["CAREER_CHEQUE"]).accepts(FundingInstrument.CAREER_CHEQUE)


def test_offer_belongs_to_its_provider():
    o = offer()
    o.ensure_owned_by("PRV-1")
    with pytest.raises(NotOwner):
        o.ensure_owned_by("PRV-2")


def test_offer_is_immutable():
    with pytest.raises(AttributeError):
        offer().price_cents = 1  # type: ignore[misc]


def test_offer_create_is_keyword_only():
    with pytest.raises(TypeError):
        Offer.create("OFF-1")  # type: ignore[misc]
