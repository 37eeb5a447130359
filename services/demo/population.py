"""A synthetic, scaled population of Flanders for the population feed.

Geography: the province totals are the real ones (Statbel, 1 January 2024, rounded); within a
province, residents are spread over the municipalities of ``services/kpi/domain/data`` (a curated
subset of the 300 municipalities) in proportion to their approximate populations. Person
attributes follow rounded Flemish distributions for adults (Statbel / Steunpunt Werk, 2023):
they are plausible, not official. The same seed and scale always give the same population.
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from services.kpi.domain.geography import municipalities

# Inhabitants per province on 1 January 2024 (rounded to thousands).
PROVINCE_POPULATION = {
    "10000": 1_926_000,  # Antwerpen
    "40000": 1_560_000,  # Oost-Vlaanderen
    "30000": 1_219_000,  # West-Vlaanderen
    "20001": 1_173_000,  # Vlaams-Brabant
    "70000": 888_000,    # Limburg
}

# Adults 18-84 by age band (share of the adult population).
AGE_BANDS = [((18, 24), 0.10), ((25, 34), 0.15), ((35, 44), 0.15), ((45, 54), 0.15), ((55, 64), 0.16),
             ((65, 74), 0.15), ((75, 84), 0.14)]
SEX = [("SEX_FEMALE", 0.505), ("SEX_MALE", 0.495)]
EDUCATION = [("EDUCATION_LEVEL_LOW", 0.20), ("EDUCATION_LEVEL_MEDIUM", 0.40), ("EDUCATION_LEVEL_HIGH", 0.40)]
BIRTH_COUNTRY = [("BIRTH_COUNTRY_GROUP_BELGIUM", 0.80), ("BIRTH_COUNTRY_GROUP_OTHER_EU", 0.08),
                 ("BIRTH_COUNTRY_GROUP_NON_EU", 0.12)]
# Labour status of people of working age (25-64); under 25 more students, over 64 inactive.
LABOUR_WORKING_AGE = [("LABOUR_STATUS_EMPLOYED", 0.78), ("LABOUR_STATUS_JOBSEEKER", 0.04),
                      ("LABOUR_STATUS_INACTIVE", 0.18)]
WORK_DISABILITY_SHARE = 0.06


@dataclass(frozen=True)
class Person:
    person_id: str
    birth_date: date
    sex: str
    nis_code: str
    education_level: str
    birth_country_group: str
    labour_status: str
    work_disability: bool
    work_experience_days: int
    temp_work_months: int
    longest_temp_spell_days: int
    ibo_wep_months: int


def _pick(rng: random.Random, table):
    return rng.choices([v for v, _ in table], [w for _, w in table])[0]


def municipality_weights() -> dict[str, float]:
    """Residence weights per municipality: real province totals, split by approximate size."""
    by_province: dict[str, list] = defaultdict(list)
    for m in municipalities():
        by_province[m.province_code].append(m)
    weights = {}
    for province, towns in by_province.items():
        total = sum(t.approx_population for t in towns)
        for t in towns:
            weights[t.nis_code] = PROVINCE_POPULATION[province] * t.approx_population / total
    return weights


def generate(persons: int, seed: int, reference: date) -> list[Person]:
    """``persons`` adults living in Flanders on ``reference``."""
    if persons <= 0:
        raise ValueError("persons must be positive")
    rng = random.Random(seed)
    weights = municipality_weights()
    codes, cum = list(weights), []
    running = 0.0
    for code in codes:
        running += weights[code]
        cum.append(running)
    people = []
    for i in range(persons):
        (low, high) = _pick(rng, AGE_BANDS)
        age = rng.randint(low, high)
        birth = reference - timedelta(days=age * 365 + rng.randrange(365))
        if age < 25:
            labour = rng.choices(["LABOUR_STATUS_EMPLOYED", "LABOUR_STATUS_JOBSEEKER", "LABOUR_STATUS_INACTIVE"],
                                 [0.45, 0.07, 0.48])[0]
        elif age >= 65:
            labour = rng.choices(["LABOUR_STATUS_EMPLOYED", "LABOUR_STATUS_INACTIVE"], [0.05, 0.95])[0]
        else:
            labour = _pick(rng, LABOUR_WORKING_AGE)
        years_working = max(0, age - 21 - rng.randint(0, 4))
        employed_share = 0.9 if labour == "LABOUR_STATUS_EMPLOYED" else 0.5
        temp_months = rng.choice([0, 0, 0, 2, 6, 14])
        people.append(Person(
            person_id=f"pp-{seed}-{i:07d}",
            birth_date=birth,
            sex=_pick(rng, SEX),
            nis_code=rng.choices(codes, cum_weights=cum)[0],
            education_level=_pick(rng, EDUCATION),
            birth_country_group=_pick(rng, BIRTH_COUNTRY),
            labour_status=labour,
            work_disability=rng.random() < WORK_DISABILITY_SHARE,
            work_experience_days=int(years_working * 365 * employed_share),
            temp_work_months=temp_months,
            longest_temp_spell_days=min(temp_months * 30, rng.choice([10, 30, 60, 120])),
            ibo_wep_months=rng.choice([0] * 9 + [6]),
        ))
    return people


def to_event(person: Person):
    from llr.population.v1 import events_pb2 as pop

    return pop.PersonRegistered(
        person_id=person.person_id,
        attributes=pop.PersonAttributes(
            birth_date=person.birth_date.isoformat(),
            sex=pop.Sex.Value(person.sex),
            municipality_nis_code=person.nis_code,
            education_level=pop.EducationLevel.Value(person.education_level),
            birth_country_group=pop.BirthCountryGroup.Value(person.birth_country_group),
            labour_status=pop.LabourStatus.Value(person.labour_status),
            work_disability=person.work_disability,
            work_history=pop.WorkHistory(
                work_experience_months=person.work_experience_days * 12 // 365,
                work_experience_days=person.work_experience_days,
                temp_work_months=person.temp_work_months,
                longest_temp_spell_days=person.longest_temp_spell_days,
                ibo_wep_months=person.ibo_wep_months,
            ),
        ),
    )


def publish(people: list[Person], clock, progress=None, kafka=None, topic: str | None = None) -> None:
    """Send PersonRegistered for everyone on the population feed (the platform's input), as the
    feed's principal (``kafka``: a ``KafkaAccess``; by default ``DemoSettings().kafka``), the only
    one that may write it."""
    from services.accounts.settings import AccountsSettings
    from services.common.envelope import wrap
    from services.common.kafka import TopicSpec, ensure_topics, make_producer
    from services.demo.settings import DemoSettings

    settings = AccountsSettings()
    kafka = kafka or DemoSettings().kafka
    topic = topic or settings.topic("population")
    ensure_topics(kafka, [TopicSpec(topic, partitions=settings.topic_partitions)])
    producer = make_producer(kafka, "population-feed", linger_ms=20)
    for n, person in enumerate(people, 1):
        envelope = wrap(to_event(person), aggregate_type="person", aggregate_id=person.person_id,
                        aggregate_version=1, producer="population-feed", clock=clock,
                        event_id=f"population:{person.person_id}:registered")
        producer.send(topic, key=person.person_id.encode(), value=envelope.SerializeToString())
        if progress and n % 100 == 0:
            progress(100)
    producer.flush()
    producer.close()
    if progress:
        progress(len(people) % 100)
