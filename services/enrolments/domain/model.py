"""Value objects of the enrolments context: providers, offers and their enumerations.

Dutch terms used once and explained here:

* *regisseur* -- VDAB's back office, which accredits and suspends training providers.
* *leercoach* -- a certified learning coach who guided the learner to the course; an enrolment
  may name one (its certificate is checked by the service layer against a local projection of
  certification events, not here).
* *loopbaancheque* -- career-guidance cheque (``CAREER_CHEQUE``), spent only at a *mandated
  career centre*, so only such providers may accept it on their offers.

Provider and Offer are immutable; "changing" one returns a new instance (``dataclasses.replace``).
Constructors validate every field and raise one ``ValidationError`` listing all problems.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Iterable

from services.common.dates import add_months

from .errors import Errors, NotOwner, ProviderNotAllowed, ValidationError


class FundingInstrument(StrEnum):
    TRAINING_BUDGET = "TRAINING_BUDGET"   # leer- en loopbaanrekening training budget (cents)
    TRAINING_CHEQUE = "TRAINING_CHEQUE"   # opleidingscheque
    TRAINING_LEAVE = "TRAINING_LEAVE"     # Vlaams opleidingsverlof (hours)
    CAREER_CHEQUE = "CAREER_CHEQUE"       # loopbaancheque, mandated career centres only


class ProviderStatus(StrEnum):
    ACCREDITED = "ACCREDITED"
    SUSPENDED = "SUSPENDED"


def _is_date(value: object) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def _text(errs: Errors, field: str, value: object, max_len: int = 200) -> None:
    if errs.check(isinstance(value, str) and value.strip() != "", field, "is required"):
        errs.check(len(value) <= max_len, field, f"must be at most {max_len} characters")  # type: ignore[arg-type]


@dataclass(frozen=True)
class Provider:
    """An accredited training provider (erkende opleidingsverstrekker).

    Only the regisseur creates (``accredit``), suspends, reinstates and re-screens providers. An
    accreditation is valid for the months the enrolment policy in force says
    (``provider_accreditation_months``) from its last screening; the regisseur's re-screening
    (``rescreen``) renews it. A suspended provider, or one whose accreditation has expired,
    keeps its data but cannot post offers or enrolments (its learners already enrolled carry on).
    Providers accredited before validity periods existed have none (``accredited_until`` None)
    until their first re-screening.
    """

    provider_id: str
    name: str
    status: ProviderStatus = ProviderStatus.ACCREDITED
    mandated_career_centre: bool = False
    suspension_reason: str = ""
    screened_on: date | None = None
    accredited_until: date | None = None

    @classmethod
    def accredit(cls, provider_id: str, name: str, *, mandated_career_centre: bool = False,
                 today: date | None = None, validity_months: int | None = None) -> "Provider":
        errs = Errors()
        _text(errs, "provider_id", provider_id, 64)
        _text(errs, "name", name)
        errs.raise_if_any()
        provider = cls(provider_id, name.strip(), ProviderStatus.ACCREDITED, mandated_career_centre)
        return provider.rescreen(today, validity_months) if today and validity_months else provider

    def rescreen(self, today: date, validity_months: int) -> "Provider":
        """Screened (again) today: accredited for ``validity_months`` from today. A suspension
        stays until the regisseur reinstates."""
        return replace(self, screened_on=today, accredited_until=add_months(today, validity_months))

    @property
    def can_post(self) -> bool:
        return self.status is ProviderStatus.ACCREDITED

    def expired_on(self, today: date) -> bool:
        return self.accredited_until is not None and today > self.accredited_until

    def suspend(self, reason: str) -> "Provider":
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("reason", "a suspension needs a reason")
        return replace(self, status=ProviderStatus.SUSPENDED, suspension_reason=reason.strip())

    def reinstate(self) -> "Provider":
        return replace(self, status=ProviderStatus.ACCREDITED, suspension_reason="")

    def ensure_can_post(self, today: date | None = None) -> None:
        if not self.can_post:
            raise ProviderNotAllowed(
                f"provider {self.provider_id} is suspended by the regisseur"
                + (f" ({self.suspension_reason})" if self.suspension_reason else "")
                + " and cannot post offers or enrolments"
            )
        if today is not None and self.expired_on(today):
            raise ProviderNotAllowed(
                f"the accreditation of provider {self.provider_id} expired after "
                f"{self.accredited_until.isoformat()} and cannot post offers or enrolments until the "
                "regisseur re-screens it")


@dataclass(frozen=True)
class Offer:
    """A course published by one provider: price, hours, start window, accepted instruments, and
    the two facts the funding rules of accounts need: whether it is listed in the Flemish training
    database (training cheques) and whether it qualifies for Flemish training leave."""

    offer_id: str
    provider_id: str
    title: str
    price_cents: int
    hours: int
    earliest_start: date
    latest_start: date
    instruments: frozenset[FundingInstrument]
    in_training_database: bool = False
    eligible_for_training_leave: bool = False

    @classmethod
    def create(
        cls,
        *,
        offer_id: str,
        provider: Provider,
        title: str,
        price_cents: int,
        hours: int,
        earliest_start: date,
        latest_start: date,
        instruments: Iterable[FundingInstrument | str],
        known_instruments: Iterable[FundingInstrument] = tuple(FundingInstrument),
        today: date | None = None,
        in_training_database: bool = False,
        eligible_for_training_leave: bool = False,
    ) -> "Offer":
        """Validate every field (all errors at once), then check the provider may post.

        ``known_instruments`` comes from the policy in force (instruments that exist today).
        """
        errs = Errors()
        _text(errs, "offer_id", offer_id, 64)
        _text(errs, "title", title)
        for field, value in (("price_cents", price_cents), ("hours", hours)):
            if errs.check(isinstance(value, int) and not isinstance(value, bool), field, "must be an integer"):
                errs.check(value > 0, field, "must be greater than 0")
        dates_ok = errs.check(_is_date(earliest_start), "earliest_start", "must be a date")
        dates_ok &= errs.check(_is_date(latest_start), "latest_start", "must be a date")
        if dates_ok:
            errs.check(latest_start >= earliest_start, "latest_start", "must be on or after earliest_start")
        parsed = _parse_instruments(errs, instruments, frozenset(known_instruments))
        if FundingInstrument.CAREER_CHEQUE in parsed and not provider.mandated_career_centre:
            errs.add("instruments", "CAREER_CHEQUE is accepted only by mandated career centres")
        errs.raise_if_any()
        provider.ensure_can_post(today)
        return cls(offer_id, provider.provider_id, title.strip(), price_cents, hours,
                   earliest_start, latest_start, parsed, bool(in_training_database), bool(eligible_for_training_leave))

    def accepts(self, instrument: FundingInstrument) -> bool:
        return instrument in self.instruments

    def start_window_contains(self, day: date) -> bool:
        return self.earliest_start <= day <= self.latest_start

    def ensure_owned_by(self, provider_id: str) -> None:
        if provider_id != self.provider_id:
            raise NotOwner(f"offer {self.offer_id} belongs to another provider")


def _parse_instruments(errs: Errors, raw: Iterable[FundingInstrument | str],
                       known: frozenset[FundingInstrument]) -> frozenset[FundingInstrument]:
    parsed: set[FundingInstrument] = set()
    values = list(raw) if not isinstance(raw, str) else [raw]
    if not values:
        errs.add("instruments", "at least one funding instrument is required")
    for value in values:
        try:
            instrument = FundingInstrument(value)
        except ValueError:
            errs.add("instruments", f"unknown funding instrument {value!r}")
            continue
        if instrument not in known:
            errs.add("instruments", f"{instrument} is not offered under the current policy")
            continue
        parsed.add(instrument)
    return frozenset(parsed)
