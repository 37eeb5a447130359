"""The synthetic population of the demo: deterministic, Flemish, with the real province shares."""
from __future__ import annotations

from collections import Counter
from datetime import date

from services.demo.population import PROVINCE_POPULATION, generate, to_event
from services.kpi.domain.geography import province_of

REFERENCE = date(2025, 1, 6)


def test_same_seed_same_population_and_other_seed_differs():
    assert generate(500, 11, REFERENCE) == generate(500, 11, REFERENCE)
    assert generate(500, 11, REFERENCE) != generate(500, 12, REFERENCE)


def test_province_shares_follow_the_real_population():
    people = generate(20_000, 3, REFERENCE)
    counts = Counter(province_of(p.nis_code) for p in people)
    total = sum(PROVINCE_POPULATION.values())
    assert set(counts) == set(PROVINCE_POPULATION), "everyone lives in a Flemish province"
    for province, inhabitants in PROVINCE_POPULATION.items():
        assert abs(counts[province] / len(people) - inhabitants / total) < 0.015, province


def test_adults_with_plausible_attributes():
    people = generate(5_000, 5, REFERENCE)
    ages = [(REFERENCE - p.birth_date).days // 365 for p in people]
    assert min(ages) >= 18 and max(ages) <= 85
    working_age = [p for p, a in zip(people, ages) if 25 <= a <= 64]
    employed = sum(p.labour_status == "LABOUR_STATUS_EMPLOYED" for p in working_age) / len(working_age)
    assert 0.72 < employed < 0.84
    assert all(p.work_experience_days >= 0 for p in people)
    assert len({p.person_id for p in people}) == len(people)


def test_population_event_carries_no_name_only_the_pseudonymous_id():
    person = generate(1, 1, REFERENCE)[0]
    event = to_event(person)
    assert event.person_id == person.person_id
    assert event.attributes.municipality_nis_code == person.nis_code
    assert event.attributes.work_history.work_experience_days == person.work_experience_days
