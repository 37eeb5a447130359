"""Use cases of the accounts service: the population feed, the funding saga and the commands of
the AccountService API. Each loads the account through the ``AccountRepository``, lets the pure domain
decide, and commits the outcome (state + events) as the account's next version; a race lost to
another thread or process is decided again on the state that won (no lock anywhere).

Errors of the accounts domain are translated once, here, into the platform's error types (and
so into gRPC status codes by ``services.common.grpc_server``).
"""
from __future__ import annotations

import functools
import logging
from datetime import date, datetime
from typing import Any, Callable

from llr.enrolments.v1 import events_pb2 as _enrolment_events  # noqa: F401  (payload types for unwrap)
from llr.population.v1 import events_pb2 as _population_events  # noqa: F401
from services.common import errors as common
from services.common.auth import Principal, Role
from services.common.clock import Clock
from services.common.dates import recorded_date
from services.common.errors import quote
from services.common.envelope import EventEnvelope, from_timestamp, unwrap

from .. import domain as d
from ..domain.common import DomainError, IdempotencyConflict, InvalidArgument, NotFound, RuleViolation
from ..domain.policies import PolicyKind
from services.common.persistence import AggregateNotFound

from ..adapters.repository import AccountRepository, LoadedAccount
from ..domain.account import account_id_for

log = logging.getLogger(__name__)
BUDGET = d.BUDGET_WALLET
# A counter or the regisseur records a purchase, guidance or assessment at most a year after it
# happened (366 days: a leap year too); anything older is a data migration, not an API call.
RECORDED_WITHIN_DAYS = 366

EDUCATION = {1: "low", 2: "medium", 3: "high"}
LABOUR = {1: "employed", 2: "jobseeker", 3: "inactive"}
RELEASE_REASONS = {"CANCELLED": "CANCELLED", "NO_SHOW": "NO_SHOW", "DROPPED_OUT": "DROPPED_OUT",
                   "COMPLETION_TIMEOUT": "TIMEOUT", "NOT_NEEDED": "CANCELLED", "REMAINDER_AFTER_CAPTURE": "DROPPED_OUT"}


def translate_errors(fn: Callable) -> Callable:
    """The accounts domain's errors as the platform's error types (one mapping, here)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except common.DomainError:
            raise
        except InvalidArgument as exc:
            raise common.InvalidArgument("request", str(exc)) from exc
        except IdempotencyConflict as exc:
            raise common.InvalidArgument("request_id", str(exc)) from exc
        except NotFound as exc:
            raise common.NotFound(str(exc)) from exc
        except d.NotEligible as exc:
            reasons = "; ".join(r.text for r in exc.decision.blocking_reasons) or str(exc)
            raise common.FailedPrecondition(f"not eligible: {reasons}") from exc
        except (RuleViolation, DomainError) as exc:
            raise common.FailedPrecondition(str(exc)) from exc
    return wrapper


def profile_from_attributes(person_id: str, a) -> d.PersonProfile:
    if a.education_level not in EDUCATION or a.labour_status not in LABOUR:
        raise common.InvalidArgument("attributes", "education_level and labour_status are required")
    wh = a.work_history
    return d.PersonProfile(
        person_id=person_id, education_level=EDUCATION[a.education_level], labour_status=LABOUR[a.labour_status],
        work_experience_months=wh.work_experience_months, work_experience_days=wh.work_experience_days or None,
        temp_work_months=wh.temp_work_months, longest_temp_spell_days=wh.longest_temp_spell_days,
        ibo_wep_months=wh.ibo_wep_months,
        birth_date=date.fromisoformat(a.birth_date) if a.birth_date else None)


class AccountsService:
    def __init__(self, repo: AccountRepository, clock: Clock, catalog=None) -> None:
        self.repo = repo
        self.clock = clock
        self.catalog = catalog or d.default_catalog()

    # -- the one write path ----------------------------------------------------------------
    def _mutate(self, account_id: str, change: Callable[[LoadedAccount], Any]) -> Any:
        """Decide ``change`` on the newest state and commit it (see ``AccountRepository.change``)."""
        try:
            return self.repo.change(account_id, translate_errors(change))
        except AggregateNotFound:
            raise common.NotFound(f"no account {account_id}") from None

    def _mutate_person(self, person_id: str, change: Callable[[LoadedAccount], Any]) -> Any:
        try:
            return self.repo.change(account_id_for(person_id), translate_errors(change))
        except AggregateNotFound:
            raise common.NotFound(f"person {quote(person_id)} has no account") from None

    # -- population feed -------------------------------------------------------------------
    def on_population_event(self, envelope: EventEnvelope) -> None:
        payload = unwrap(envelope)
        kind = type(payload).__name__
        now = self.clock.now()
        if kind == "PersonRegistered":
            self.open_account(payload.person_id, profile_from_attributes(payload.person_id, payload.attributes),
                              envelope.event_id, from_timestamp(envelope.occurred_at))
        elif kind == "PersonUpdated":
            self.repo.update_profile(payload.person_id, profile_from_attributes(payload.person_id, payload.attributes))
        elif kind == "PersonDeceased":
            on = date.fromisoformat(payload.date_of_death)
            self._mutate_person(payload.person_id, lambda a: d.close_account(
                a.account, on_date=on, reason="deceased", idempotency_key=envelope.event_id, now=now))

    @translate_errors
    def open_account(self, person_id: str, profile: d.PersonProfile, key: str, occurred_at: datetime) -> bool:
        """Open the person's account (once) with the yearly credits of the periods it opens in
        (from the registration's date to today's, usually one: ``domain/yearly.py``); False when
        the person has one already (the account id derives from the person, so the create itself
        tells)."""
        now = self.clock.now()
        account = d.open_account(person_id=person_id, idempotency_key=key, now=now)
        for grant in d.grants_between(self.catalog, occurred_at.date(), now.date()):
            d.apply_grant(account, profile, self.catalog, grant, now)
        return self.repo.open(account, profile)  # False: a concurrent delivery of the same person won

    # -- funding saga ----------------------------------------------------------------------
    def on_enrolment_event(self, envelope: EventEnvelope) -> None:
        if envelope.event_type == "llr.enrolments.v1.EnrolmentRequested":
            self.reserve(envelope.event_id, unwrap(envelope), from_timestamp(envelope.occurred_at))
        elif envelope.event_type == "llr.enrolments.v1.FundingReleaseRequested":
            p = unwrap(envelope)
            reason = d.ReleaseReason(RELEASE_REASONS.get(p.reason, "CANCELLED"))
            self._by_enrolment(p.enrolment_id, p.person_id, lambda acc: d.release_reservation(
                acc, enrolment_id=p.enrolment_id, idempotency_key=envelope.event_id, reason=reason,
                now=self.clock.now()))
        elif envelope.event_type == "llr.enrolments.v1.FundingCaptureRequested":
            p = unwrap(envelope)

            def capture(acc):
                holds = [h for h in acc.holds_for_enrolment(p.enrolment_id) if h.status is d.HoldStatus.ACTIVE]
                if not holds:
                    return None
                return d.capture_reservation(acc, enrolment_id=p.enrolment_id, idempotency_key=envelope.event_id,
                                             milestone=holds[0].capture_point, now=self.clock.now(),
                                             amount=p.amount_cents or None)
            self._by_enrolment(p.enrolment_id, p.person_id, capture)

    def _by_enrolment(self, enrolment_id: str, person_id: str, change: Callable[[d.Account], Any]) -> None:
        """Apply ``change`` to the account holding the enrolment's reservation: the person's, named
        by the event (a release or capture of an enrolments service before the events carried
        the person is looked up in the enrolment -> account records of that time)."""
        account_id = account_id_for(person_id) if person_id else self.repo.account_of_enrolment(enrolment_id)

        def if_reserved(loaded: LoadedAccount):
            if not loaded.account.holds_for_enrolment(enrolment_id):
                return None  # never reserved (rejected, or a crash right after the mapping)
            return change(loaded.account)
        if account_id is None:
            log.info("no reservation for enrolment %s: nothing to release or capture", enrolment_id)
            return
        try:
            self.repo.change(account_id, translate_errors(if_reserved))
        except AggregateNotFound:
            log.info("enrolment %s maps to no account (it was rejected): nothing to do", enrolment_id)

    def reserve(self, event_id: str, p, requested_at: datetime):
        """Answer an EnrolmentRequested with BudgetReserved or ReservationRejected (once)."""
        request = d.EnrolmentRequest(
            event_id=event_id, enrolment_id=p.enrolment_id, person_id=p.person_id, provider_id=p.provider_id,
            offer_id=p.offer_id, instrument=p.instrument, price_cents=p.price_cents, hours=p.hours,
            # The enrolments service emits EnrolmentRequested only for accredited providers and
            # offers that accept the instrument (it refuses the enrolment otherwise).
            provider_accredited=True, accepted_instruments=frozenset({p.instrument}),
            planned_start=date.fromisoformat(p.planned_start), planned_end=date.fromisoformat(p.planned_end),
            requested_at=requested_at, in_training_database=p.in_training_database,
            eligible_for_training_leave=p.eligible_for_training_leave)

        def change(loaded: LoadedAccount):
            if event_id not in loaded.account.saga_decisions:
                archived = self.repo.archived_decision(loaded.account, event_id)
                if archived is not None:
                    return archived   # a redelivery of a request decided long ago
            policy = d.policy_for_request(self.catalog, request)
            return d.reserve_for_enrolment(loaded.account, request, policy, loaded.profile, self.clock.now())

        try:
            return self.repo.change(account_id_for(p.person_id), translate_errors(change))
        except AggregateNotFound:
            rejected = d.Rejected(enrolment_id=p.enrolment_id, reason=d.RejectionReason.UNKNOWN_PERSON,
                                  detail=f"person {p.person_id} has no account")
            self.repo.record_rejection(p.enrolment_id, [d.funding.rejection_event(request, rejected, self.clock.now())])
            return rejected

    # -- career cheques --------------------------------------------------------------------
    def expire_cheques(self) -> int:
        """Expire the cheques whose start deadline passed (the accounts come from the per-day
        deadline schedule, so this never scans); idempotent, safe in several processes at once."""
        today = self.clock.now().date()
        expired = 0
        for _, account_ids in self.repo.cheque_deadlines.days(today):
            for account_id in sorted(account_ids):
                result = self._mutate(account_id, lambda a: d.expire_career_cheques(
                    a.account, on_date=today, now=self.clock.now()))
                expired += len(result or [])
        self.repo.cheque_deadlines.done_through(today)
        return expired

    # -- commands and queries of the API ----------------------------------------------------
    @staticmethod
    def authorize(principal: Principal, person_id: str, *, regisseur_only: bool = False) -> None:
        if not person_id:
            raise common.InvalidArgument("person_id", "is required")
        if principal.role is Role.REGISSEUR:
            return
        if regisseur_only:
            raise common.PermissionDenied("only the regisseur may do this")
        if principal.role is Role.CITIZEN_COUNTER and principal.person_id == person_id:
            return
        if principal.role is Role.CITIZEN_COUNTER:
            raise common.PermissionDenied("a citizen's counter acts only for its own person")
        raise common.PermissionDenied(f"role {principal.role.value} has no access to accounts")

    def account(self, principal: Principal, person_id: str) -> d.Account:
        self.authorize(principal, person_id)
        loaded = self.repo.get(person_id)
        if loaded is None:
            raise common.NotFound(f"person {quote(person_id)} has no account")
        return loaded.account

    def _recorded(self, iso: str, field: str) -> date:
        """The date of a purchase, guidance or assessment (empty = today): a fact of the past,
        so not after today on the service clock (UTC), and at most ``RECORDED_WITHIN_DAYS`` before."""
        return recorded_date(field, iso, self.clock.now().date(), max_age_days=RECORDED_WITHIN_DAYS)

    @staticmethod
    def _key(request_id: str) -> str:
        if not request_id:
            raise common.InvalidArgument("request_id", "is required")
        return request_id

    def buy_career_cheque(self, principal: Principal, person_id: str, request_id: str, purchase_iso: str):
        self.authorize(principal, person_id)
        key, purchase = self._key(request_id), self._recorded(purchase_iso, "purchase_date")

        def change(loaded: LoadedAccount):
            acc = loaded.account
            policy = self.catalog.policy_in_force(PolicyKind.CAREER_CHEQUE, purchase)
            return d.buy_career_cheque(acc, cheque_id=d.common.derived_id(acc.account_id, key, "cheque"),
                                       idempotency_key=key, profile=loaded.profile, policy=policy,
                                       purchase_date=purchase, now=self.clock.now())
        return self._mutate_person(person_id, change)

    def record_guidance(self, principal: Principal, person_id: str, request_id: str, cheque_id: str, hours: int,
                        date_iso: str, final: bool, outcome: str):
        self.authorize(principal, person_id)
        key, day = self._key(request_id), self._recorded(date_iso, "guidance_date")
        if hours <= 0:
            raise common.InvalidArgument("hours", "must be > 0")
        return self._mutate_person(person_id, lambda a: d.record_career_guidance(
            a.account, cheque_id=cheque_id, idempotency_key=key, guidance_date=day, hours=hours, now=self.clock.now(),
            final=final, outcome=outcome or None))

    def assess_complexity(self, principal: Principal, person_id: str, request_id: str, complex_: bool,
                          note: str, date_iso: str):
        self.authorize(principal, person_id, regisseur_only=True)
        key, day = self._key(request_id), self._recorded(date_iso, "assessed_on")
        return self._mutate_person(person_id, lambda a: d.record_complexity_assessment(
            a.account, assessment_id=d.common.derived_id(a.account.account_id, key, "assessment"), idempotency_key=key,
            assessed_on=day, complex=complex_, assessor_id=principal.subject, now=self.clock.now(), note=note))

    def record_development_plan(self, principal: Principal, person_id: str, request_id: str, offer_ids: list[str]):
        """Record the person's POP (the counter for its own person, or the regisseur)."""
        self.authorize(principal, person_id)
        key = self._key(request_id)
        return self._mutate_person(person_id, lambda a: d.record_development_plan(
            a.account, offer_ids=offer_ids, recorded_on=self.clock.now().date(), idempotency_key=key,
            now=self.clock.now()))

    def credit_budget(self, principal: Principal, person_id: str, request_id: str, amount_cents: int,
                      explanation: str):
        self.authorize(principal, person_id, regisseur_only=True)
        key = self._key(request_id)
        if amount_cents <= 0:
            raise common.InvalidArgument("amount_cents", "must be > 0")
        today = self.clock.now().date()

        def change(loaded: LoadedAccount):
            acc = loaded.account
            policy = self.catalog.policy_in_force(PolicyKind.TRAINING_BUDGET, today)
            d.credit_budget(acc, amount_cents=amount_cents, idempotency_key=key, policy=policy, on_date=today,
                            now=self.clock.now(),
                            explanation=explanation or f"credit by the regisseur ({principal.subject})")
            return acc.wallet(BUDGET)
        return self._mutate_person(person_id, change)
