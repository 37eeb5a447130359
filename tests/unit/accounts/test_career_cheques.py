"""Dated examples for every career-cheque policy version and the cheque lifecycle."""
from datetime import date

import pytest

from services.accounts.domain import (
    CareerChequeDecision,
    ChequeStatus,
    EntryKind,
    NotEligible,
    PolicyKind,
    ReasonCode,
    RuleViolation,
    WalletKind,
    WalletRef,
    assess_career_cheque,
    assess_career_cheque_for,
    buy_career_cheque,
    close_career_cheque,
    expire_career_cheques,
    policy_in_force,
    record_career_guidance,
    record_complexity_assessment,
)
from services.accounts.domain.career_cheques import current_period_start
from services.accounts.domain.events import (
    CareerChequeBought,
    CareerChequeCompleted,
    CareerChequeExpired,
    CareerChequeHoursForfeited,
    CareerGuidanceRecorded,
    CareerGuidanceStarted,
    ComplexityAssessed,
)
from tests.unit.accounts.builders import account, at, profile

HOURS = WalletRef(WalletKind.CAREER_CHEQUE)
CONTRIBUTION = WalletRef(WalletKind.CAREER_CHEQUE_CONTRIBUTION)


def policy(on: date):
    return policy_in_force(PolicyKind.CAREER_CHEQUE, on)


def buy(acc, cheque_id, on: date, person=None, key=None):
    return buy_career_cheque(
        acc, cheque_id=cheque_id, idempotency_key=key or f"buy-{cheque_id}",
        profile=person or profile(acc.person_id), policy=policy(on), purchase_date=on, now=at(on),
    )


def use_fully(acc, cheque, on: date):
    return record_career_guidance(acc, cheque_id=cheque.cheque_id, idempotency_key=f"s-{cheque.cheque_id}",
                                  guidance_date=on, hours=cheque.hours, now=at(on))


def decide(person, on: date, cheques=(), assessments=()) -> CareerChequeDecision:
    return assess_career_cheque(person, list(cheques), list(assessments), policy(on), on)


# --- 2013 -----------------------------------------------------------------------------------

class TestRules2013:
    ON = date(2014, 3, 10)

    def test_twelve_months_experience_buys_package_1_for_40_euro(self):
        d = decide(profile(work_experience_months=12), self.ON)
        assert d.eligible and d.policy_version_id == "career-cheque-2013"
        assert d.next_step.number == 1 and d.next_step.hours == 4
        assert d.next_step.own_contribution_cents == 4000
        assert ReasonCode.WORK_EXPERIENCE_MET in d.reason_codes
        assert ReasonCode.NEW_PERIOD in d.reason_codes

    def test_eleven_months_is_not_enough(self):
        d = decide(profile(work_experience_months=11), self.ON)
        assert not d.eligible
        assert d.reason_codes[0] is ReasonCode.INSUFFICIENT_WORK_EXPERIENCE
        assert "11 months of work experience" in d.blocking_reasons[0].text

    def test_nine_months_with_28_consecutive_temp_days_is_enough(self):
        d = decide(profile(work_experience_months=9, temp_work_months=3, longest_temp_spell_days=28), self.ON)
        assert d.eligible and ReasonCode.TEMP_WORK_ALTERNATIVE_MET in d.reason_codes

    def test_nine_months_with_only_27_consecutive_temp_days_is_not(self):
        d = decide(profile(work_experience_months=9, temp_work_months=3, longest_temp_spell_days=27), self.ON)
        assert not d.eligible

    def test_ibo_wep_months_count_as_experience(self):
        assert decide(profile(work_experience_months=8, ibo_wep_months=4), self.ON).eligible
        assert not decide(profile(work_experience_months=8, ibo_wep_months=3), self.ON).eligible

    def test_packages_3_and_4_need_a_complexity_assessment_and_are_free(self):
        acc = account()
        p1 = buy(acc, "c1", date(2014, 3, 10))
        p2 = buy(acc, "c2", date(2014, 3, 10))
        assert (p1.step_number, p2.step_number) == (1, 2)
        assert acc.balance(CONTRIBUTION) == 8000  # max EUR 80 for packages 1-2
        use_fully(acc, p1, date(2014, 4, 1))
        use_fully(acc, p2, date(2014, 5, 1))

        d = assess_career_cheque_for(acc, profile(), policy(date(2014, 6, 1)), date(2014, 6, 1))
        assert not d.eligible and d.next_step.number == 3
        assert ReasonCode.COMPLEXITY_ASSESSMENT_REQUIRED in d.reason_codes
        with pytest.raises(NotEligible) as err:
            buy(acc, "c3", date(2014, 6, 1))
        assert "complex" in str(err.value)

        record_complexity_assessment(acc, assessment_id="a1", idempotency_key="a1", assessed_on=date(2014, 6, 2),
                                     complex=False, assessor_id="vdab-7", now=at(date(2014, 6, 2)))
        assert not assess_career_cheque_for(acc, profile(), policy(date(2014, 6, 3)), date(2014, 6, 3)).eligible
        record_complexity_assessment(acc, assessment_id="a2", idempotency_key="a2", assessed_on=date(2014, 6, 5),
                                     complex=True, assessor_id="vdab-7", now=at(date(2014, 6, 5)))
        assert any(isinstance(e, ComplexityAssessed) and e.complex for e in acc.take_events())

        p3 = buy(acc, "c3", date(2014, 6, 6))
        p4 = buy(acc, "c4", date(2014, 6, 6))
        assert (p3.step_number, p3.own_contribution_cents, p4.step_number, p4.own_contribution_cents) == (3, 0, 4, 0)
        assert acc.balance(CONTRIBUTION) == 0  # 1-2 were spent when guidance started; 3-4 are free
        assert sum(e.amount for e in acc.entries
                   if e.wallet == CONTRIBUTION and e.kind is EntryKind.CREDIT) == 8000
        use_fully(acc, p3, date(2014, 7, 1))
        use_fully(acc, p4, date(2014, 8, 1))
        d = assess_career_cheque_for(acc, profile(), policy(date(2015, 1, 1)), date(2015, 1, 1))
        assert not d.eligible and d.hours_used_in_period == 16
        assert ReasonCode.PERIOD_EXHAUSTED in d.reason_codes
        assert "a new period starts on 2020-03-10" in d.blocking_reasons[0].text

    def test_assessment_from_an_earlier_period_does_not_count(self):
        acc = account()
        record_complexity_assessment(acc, assessment_id="old", idempotency_key="old", assessed_on=date(2013, 2, 1),
                                     complex=True, assessor_id="vdab-7", now=at(date(2013, 2, 1)))
        for i, on in enumerate([date(2014, 3, 10), date(2014, 3, 11)], start=1):
            use_fully(acc, buy(acc, f"c{i}", on), on)
        d = assess_career_cheque_for(acc, profile(), policy(date(2014, 4, 1)), date(2014, 4, 1))
        assert ReasonCode.COMPLEXITY_ASSESSMENT_REQUIRED in d.reason_codes


# --- 2020 and 2024 --------------------------------------------------------------------------

class TestRules2020And2024:
    def test_2555_days_is_enough_2554_is_not(self):
        on = date(2021, 5, 1)
        assert decide(profile(work_experience_days=2555), on).eligible
        d = decide(profile(work_experience_days=2554), on)
        assert not d.eligible and "2554 days of work experience, 2555 required" in d.blocking_reasons[0].text

    def test_months_convert_to_days_when_days_are_unknown(self):
        assert decide(profile(work_experience_months=84), date(2021, 5, 1)).eligible
        assert not decide(profile(work_experience_months=83), date(2021, 5, 1)).eligible

    def test_ibo_wep_does_not_count_from_2020(self):
        assert not decide(profile(work_experience_months=60, ibo_wep_months=30), date(2021, 5, 1)).eligible

    def test_2020_two_cheques_4h_then_3h_at_40_euro_then_period_exhausted(self):
        acc = account()
        c1 = use_fully(acc, buy(acc, "c1", date(2020, 2, 1)), date(2020, 2, 15))
        c2 = use_fully(acc, buy(acc, "c2", date(2020, 6, 1)), date(2020, 6, 15))
        assert [(c.step_number, c.hours, c.own_contribution_cents, c.policy_version_id) for c in (c1, c2)] == [
            (1, 4, 4000, "career-cheque-2020"), (2, 3, 4000, "career-cheque-2020")]
        assert c2.period_start == date(2020, 2, 1)
        with pytest.raises(NotEligible) as err:
            buy(acc, "c3", date(2023, 6, 1))
        assert ReasonCode.PERIOD_EXHAUSTED in err.value.decision.reason_codes
        assert "a new period starts on 2026-02-01" in str(err.value)

    def test_2024_cheque_costs_45_euro(self):
        acc = account()
        c1 = use_fully(acc, buy(acc, "c1", date(2024, 3, 1)), date(2024, 3, 15))
        c2 = buy(acc, "c2", date(2024, 9, 1))
        assert (c1.hours, c1.own_contribution_cents, c2.hours, c2.own_contribution_cents) == (4, 4500, 3, 4500)
        assert c1.policy_version_id == c2.policy_version_id == "career-cheque-2024"
        event = [e for e in acc.take_events() if isinstance(e, CareerChequeBought)][0]
        assert (event.cheque_id, event.own_contribution_cents, event.start_deadline) == ("c1", 4500, date(2024, 6, 1))

    def test_a_new_period_only_six_years_after_the_previous_one_began(self):
        bought = [date(2014, 3, 10), date(2015, 1, 1), date(2020, 3, 10), date(2021, 1, 1)]
        assert current_period_start(bought[:2], date(2020, 3, 9), 6) == date(2014, 3, 10)
        assert current_period_start(bought[:2], date(2020, 3, 10), 6) is None
        assert current_period_start(bought, date(2021, 6, 1), 6) == date(2020, 3, 10)
        # a cheque bought late in a period does not start a new one
        assert current_period_start([date(2014, 3, 10), date(2019, 12, 1)], date(2020, 1, 1), 6) == date(2014, 3, 10)

    def test_2013_packages_still_fill_the_period_in_progress_in_2020(self):
        acc = account()
        for i, on in enumerate([date(2019, 6, 1), date(2019, 6, 2)], start=1):
            use_fully(acc, buy(acc, f"c{i}", on), on)
        d = assess_career_cheque_for(acc, profile(), policy(date(2020, 3, 1)), date(2020, 3, 1))
        assert not d.eligible and d.period_start == date(2019, 6, 1)
        assert ReasonCode.PERIOD_EXHAUSTED in d.reason_codes


def test_one_person_buys_under_the_2013_rules_and_again_under_the_2024_rules():
    acc = account("p-42")
    person = profile("p-42", work_experience_months=14)  # 14 months: enough in 2013
    p1 = buy(acc, "c-2014-1", date(2014, 3, 10), person)
    p2 = buy(acc, "c-2014-2", date(2014, 4, 1), person)
    use_fully(acc, p1, date(2014, 3, 20))
    use_fully(acc, p2, date(2014, 4, 15))
    assert (p1.policy_version_id, p1.own_contribution_cents) == ("career-cheque-2013", 4000)

    # in 2024 14 months is no longer enough ...
    d = assess_career_cheque_for(acc, person, policy(date(2024, 5, 1)), date(2024, 5, 1))
    assert not d.eligible and ReasonCode.INSUFFICIENT_WORK_EXPERIENCE in d.reason_codes
    # ... but ten years later the person has 2,800 days and the 2014 period ended on 2020-03-10
    person = profile("p-42", work_experience_months=134, work_experience_days=2800)
    d = assess_career_cheque_for(acc, person, policy(date(2024, 5, 1)), date(2024, 5, 1))
    assert d.eligible and ReasonCode.NEW_PERIOD in d.reason_codes
    c1 = use_fully(acc, buy(acc, "c-2024-1", date(2024, 5, 1), person), date(2024, 6, 1))
    c2 = buy(acc, "c-2024-2", date(2024, 10, 1), person)
    summary = [(c.policy_version_id, c.step_number, c.hours, c.own_contribution_cents, c.period_start)
               for c in (c1, c2)]
    assert summary == [
        ("career-cheque-2024", 1, 4, 4500, date(2024, 5, 1)),
        ("career-cheque-2024", 2, 3, 4500, date(2024, 5, 1)),
    ]
    paid = [e.amount for e in acc.entries if e.wallet == CONTRIBUTION and e.kind is EntryKind.CREDIT]
    assert paid == [4000, 4000, 4500, 4500]
    assert (acc.balance(CONTRIBUTION), acc.held(CONTRIBUTION)) == (4500, 4500)  # c2 not started yet
    acc.check_invariants()


# --- 2025 reform ----------------------------------------------------------------------------

class TestRules2025:
    ON = date(2025, 3, 1)

    def test_someone_who_never_used_a_cheque_gets_one_and_the_amount_is_flagged_unconfirmed(self):
        acc = account()
        d = assess_career_cheque_for(acc, profile(), policy(self.ON), self.ON)
        assert d.eligible and d.policy_version_id == "career-cheque-2025"
        assert ReasonCode.NEVER_USED_A_CHEQUE in d.reason_codes
        assert ReasonCode.AMOUNT_UNCONFIRMED in d.reason_codes
        cheque = buy(acc, "c1", self.ON)
        assert cheque.own_contribution_cents == policy(self.ON).steps[0].own_contribution_cents
        use_fully(acc, cheque, date(2025, 4, 1))
        with pytest.raises(NotEligible) as err:
            buy(acc, "c2", date(2025, 9, 1))
        assert ReasonCode.PREVIOUSLY_USED_A_CHEQUE in err.value.decision.reason_codes

    def test_someone_who_used_a_cheque_in_2020_is_excluded(self):
        acc = account()
        use_fully(acc, buy(acc, "c1", date(2020, 2, 1)), date(2020, 3, 1))
        d = assess_career_cheque_for(acc, profile(), policy(self.ON), self.ON)
        assert not d.eligible
        assert "first bought 2020-02-01" in d.blocking_reasons[0].text

    def test_an_expired_cheque_was_never_used(self):
        acc = account()
        buy(acc, "c1", date(2024, 6, 1))  # never started: expired after 2024-09-01
        expire_career_cheques(acc, on_date=date(2024, 9, 2), now=at(date(2024, 9, 2)))
        assert assess_career_cheque_for(acc, profile(), policy(self.ON), self.ON).eligible


# --- lifecycle ------------------------------------------------------------------------------

class TestLifecycle:
    def test_guidance_recorded_in_sessions_completes_the_cheque(self):
        acc = account()
        c = buy(acc, "c1", date(2024, 3, 1))
        acc.take_events()
        record_career_guidance(acc, cheque_id="c1", idempotency_key="s1", guidance_date=date(2024, 3, 15),
                               hours=2, now=at(date(2024, 3, 15)))
        c = record_career_guidance(acc, cheque_id="c1", idempotency_key="s2", guidance_date=date(2024, 4, 15),
                                   hours=2, now=at(date(2024, 4, 15)), outcome="POP_DELIVERED")
        assert c.status is ChequeStatus.COMPLETED and c.started_on == date(2024, 3, 15) and c.hours_used == 4
        types = [type(e) for e in acc.take_events()]
        assert types == [CareerGuidanceStarted, CareerGuidanceRecorded, CareerGuidanceRecorded, CareerChequeCompleted]
        assert acc.balance(HOURS) == 0 and acc.held(HOURS) == 0
        assert acc.balance(CONTRIBUTION) == 0  # contribution captured when guidance started
        acc.check_invariants()

    def test_a_repeated_session_is_recorded_once(self):
        acc = account()
        buy(acc, "c1", date(2024, 3, 1))
        args = dict(cheque_id="c1", idempotency_key="s1", guidance_date=date(2024, 3, 15), hours=2,
                    now=at(date(2024, 3, 15)))
        first = record_career_guidance(acc, **args)
        entries = len(acc.entries)
        assert record_career_guidance(acc, **args) == first and len(acc.entries) == entries

    def test_guidance_must_start_within_three_months(self):
        acc = account()
        c = buy(acc, "c1", date(2024, 1, 31))
        assert c.start_deadline == date(2024, 4, 30)
        with pytest.raises(RuleViolation, match="had to start by 2024-04-30"):
            record_career_guidance(acc, cheque_id="c1", idempotency_key="s1", guidance_date=date(2024, 5, 1),
                                   hours=4, now=at(date(2024, 5, 1)))
        started = record_career_guidance(acc, cheque_id="c1", idempotency_key="s2", guidance_date=date(2024, 4, 30),
                                         hours=1, now=at(date(2024, 4, 30)))
        assert started.status is ChequeStatus.STARTED
        # once started, later sessions are fine
        later = record_career_guidance(acc, cheque_id="c1", idempotency_key="s3", guidance_date=date(2024, 6, 30),
                                       hours=1, now=at(date(2024, 6, 30)))
        assert later.hours_used == 2

    def test_expiry_refunds_the_contribution_and_keeps_the_right(self):
        acc = account()
        buy(acc, "c1", date(2024, 1, 31))
        acc.take_events()
        assert expire_career_cheques(acc, on_date=date(2024, 4, 30), now=at(date(2024, 4, 30))) == []
        [expired] = expire_career_cheques(acc, on_date=date(2024, 5, 1), now=at(date(2024, 5, 1)))
        assert expired.status is ChequeStatus.EXPIRED and expired.refunded_cents == 4500
        [event] = acc.take_events()
        assert isinstance(event, CareerChequeExpired)
        assert (event.expired_on, event.refunded_cents) == (date(2024, 5, 1), 4500)
        kinds = [(e.kind, e.wallet.kind, e.amount) for e in acc.entries[-4:]]
        assert kinds == [
            (EntryKind.RELEASE, WalletKind.CAREER_CHEQUE, 4),
            (EntryKind.EXPIRE, WalletKind.CAREER_CHEQUE, 4),
            (EntryKind.RELEASE, WalletKind.CAREER_CHEQUE_CONTRIBUTION, 4500),
            (EntryKind.REFUND, WalletKind.CAREER_CHEQUE_CONTRIBUTION, 4500),
        ]
        assert acc.balance(HOURS) == acc.balance(CONTRIBUTION) == 0
        # idempotent: a second run changes nothing
        assert expire_career_cheques(acc, on_date=date(2024, 6, 1), now=at(date(2024, 6, 1))) == []
        # the right is not lost: the next cheque is again cheque 1 of a fresh period
        again = buy(acc, "c2", date(2024, 6, 1))
        assert (again.step_number, again.period_start) == (1, date(2024, 6, 1))
        acc.check_invariants()

    def test_partial_use_forfeits_the_rest_without_refund(self):
        acc = account()
        buy(acc, "c1", date(2024, 3, 1))
        acc.take_events()
        c = record_career_guidance(acc, cheque_id="c1", idempotency_key="s1", guidance_date=date(2024, 3, 15),
                                   hours=1, now=at(date(2024, 3, 15)), final=True)
        assert c.status is ChequeStatus.PARTIALLY_USED and (c.hours_used, c.hours_forfeited) == (1, 3)
        forfeited = [e for e in acc.take_events() if isinstance(e, CareerChequeHoursForfeited)]
        assert forfeited[0].hours_forfeited == 3
        assert [e.kind for e in acc.entries if e.kind in (EntryKind.FORFEIT, EntryKind.REFUND)] == [EntryKind.FORFEIT]
        assert acc.balance(HOURS) == 0 and acc.balance(CONTRIBUTION) == 0
        with pytest.raises(RuleViolation, match="PARTIALLY_USED"):
            record_career_guidance(acc, cheque_id="c1", idempotency_key="s2", guidance_date=date(2024, 3, 20),
                                   hours=1, now=at(date(2024, 3, 20)))
        # a partly used cheque counts as used: the next one is cheque 2
        assert buy(acc, "c2", date(2024, 4, 1)).step_number == 2
        acc.check_invariants()

    def test_closing_a_started_cheque_early_forfeits_the_rest(self):
        acc = account()
        buy(acc, "c1", date(2024, 3, 1))
        record_career_guidance(acc, cheque_id="c1", idempotency_key="s1", guidance_date=date(2024, 3, 15),
                               hours=3, now=at(date(2024, 3, 15)))
        c = close_career_cheque(acc, cheque_id="c1", idempotency_key="close", closed_on=date(2024, 5, 1),
                                now=at(date(2024, 5, 1)))
        assert (c.status, c.hours_forfeited) == (ChequeStatus.PARTIALLY_USED, 1)

    def test_more_hours_than_the_cheque_has_are_refused(self):
        acc = account()
        buy(acc, "c1", date(2024, 3, 1))
        with pytest.raises(RuleViolation, match="only 4 h remain"):
            record_career_guidance(acc, cheque_id="c1", idempotency_key="s1", guidance_date=date(2024, 3, 15),
                                   hours=5, now=at(date(2024, 3, 15)))

    def test_buying_is_idempotent_by_key(self):
        acc = account()
        first = buy(acc, "c1", date(2024, 3, 1))
        events, entries = len(acc.pending_events), len(acc.entries)
        assert buy(acc, "c1", date(2024, 3, 1)) == first
        assert (len(acc.pending_events), len(acc.entries)) == (events, entries)

    def test_a_closed_account_cannot_buy(self):
        from services.accounts.domain import close_account

        acc = account()
        close_account(acc, on_date=date(2024, 1, 1), reason="deceased", idempotency_key="d", now=at(date(2024, 1, 2)))
        with pytest.raises(NotEligible) as err:
            buy(acc, "c1", date(2024, 3, 1))
        assert err.value.decision.reason_codes[0] is ReasonCode.ACCOUNT_CLOSED
