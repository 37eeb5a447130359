"""Career-guidance outcome KPIs end to end on the real broker: the accounts events of trajectories
at career centres (as the accounts service publishes them) in, the outcome KPIs out over gRPC and
on the dashboard, equal to what this test computes from the events it produced, small cells
suppressed."""
from __future__ import annotations

import json
import random
import urllib.request
import uuid
from datetime import date, datetime, time, timedelta, timezone

import pytest

from llr.accounts.v1 import events_pb2 as acc
from llr.population.v1 import events_pb2 as pop
from services.common.auth import Role
from services.common.envelope import wrap
from services.common.kafka import make_producer
from services.kpi.domain import definitions as d

from .conftest import wait_for

DIMS = d.WORK_HAPPINESS_DIMENSIONS
GENT, ANTWERPEN, HASSELT = "44021", "11002", "71022"  # Oost-Vlaanderen (40000), Antwerpen (10000), Limburg (70000)
PROVINCE = {GENT: "40000", ANTWERPEN: "10000", HASSELT: "70000"}
MIN_NUMERATOR, MIN_DENOMINATOR = 3, 5


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), timezone.utc)


def trajectories(seed: int, persons: int) -> tuple[list[tuple[str, str, object, datetime]], list[dict]]:
    """(context, key, payload, occurred_at) of every event, and each completed trajectory as the
    test sees it (person's province, intake and evaluation scores, reorientation, job match)."""
    rng = random.Random(seed)
    out, completed = [], []
    for i in range(persons):
        pid, cheque = f"P{i:07d}", f"C{i:07d}"
        town = GENT if i < 40 else ANTWERPEN if i < persons - 4 else HASSELT  # Limburg: too few to publish
        start = date(2025, 3, 1) + timedelta(days=i % 20)
        out.append(("population", pid, pop.PersonRegistered(person_id=pid, attributes=pop.PersonAttributes(
            birth_date=f"{1970 + i % 25}-05-01", sex=pop.SEX_FEMALE if i % 2 else pop.SEX_MALE,
            municipality_nis_code=town, education_level=pop.EDUCATION_LEVEL_MEDIUM,
            birth_country_group=pop.BIRTH_COUNTRY_GROUP_BELGIUM, labour_status=pop.LABOUR_STATUS_EMPLOYED)),
            at(date(2025, 1, 2), 8)))
        account = dict(account_id=f"acc-{pid}", person_id=pid, cheque_id=cheque)
        out.append(("accounts", pid, acc.CareerChequeBought(**account, purchase_date=start.isoformat(), hours=4,
                                                            own_contribution_cents=6000), at(start, 9)))
        intake = [rng.randint(1, 4) for _ in DIMS]
        evaluation = [min(5, max(1, s + rng.randint(-1, 2))) for s in intake]
        reoriented, match = rng.random() < 0.3, rng.random() < 0.5
        evaluated = i % 7 != 0  # every seventh stops after the intake: not completed
        phases = ["INTAKE", "ANALYSIS", "ACTION_PLAN", "EVALUATION", "POP"] if evaluated else ["INTAKE"]
        for n, phase in enumerate(phases):
            day = start + timedelta(days=10 + 7 * n)
            out.append(("accounts", pid, acc.CareerTrajectoryStepRecorded(
                **account, centre_id="lc-1", phase=phase, step_date=day.isoformat(), hours=2 if n in (0, 3) else 0,
                hours_used_total=2 if n < 3 else 4), at(day, 10)))
            if phase in ("INTAKE", "EVALUATION"):
                scores = intake if phase == "INTAKE" else evaluation
                out.append(("accounts", pid, acc.CareerOutcomesRecorded(
                    **account, centre_id="lc-1", moment=phase, measured_on=day.isoformat(),
                    policy_version_id="work-happiness-1",
                    scores=[acc.DimensionScore(dimension=k, score=v) for k, v in zip(DIMS, scores)],
                    reorientation=phase == "EVALUATION" and reoriented,
                    sustainable_job_match=phase == "EVALUATION" and match), at(day, 10)))
        if evaluated:
            completed.append({"province": PROVINCE[town], "sex": "F" if i % 2 else "M",
                              "intake": intake,
                              "evaluation": evaluation, "reoriented": reoriented, "match": match})
    out.sort(key=lambda item: item[3])  # in time order, as the sources publish (none is late)
    return out, completed


@pytest.fixture(scope="module")
def outcomes_world(start_kpi, kafka, token_issuer):
    namespace = f"t{uuid.uuid4().hex[:10]}."
    kpi = start_kpi(namespace, f"kpi-{namespace}", disclosure_min_numerator=MIN_NUMERATOR,
                    disclosure_min_denominator=MIN_DENOMINATOR)
    events, completed = trajectories(seed=17, persons=60)
    producer = make_producer(kafka, "kpi-outcome-feed")
    try:
        for n, (context, key, payload, occurred_at) in enumerate(events):
            envelope = wrap(payload, aggregate_type="person" if context == "population" else "account",
                            aggregate_id=key, aggregate_version=n + 1, producer=context, occurred_at=occurred_at)
            producer.send(f"{namespace}llr.{context}.v1.events", key=key.encode(), value=envelope.SerializeToString())
        producer.flush(timeout=60)
    finally:
        producer.close()
    token = token_issuer.issue("statbel", Role.KPI_CONSUMER, ttl=timedelta(hours=1))
    return kpi, completed, token


def expected(completed: list[dict]) -> dict[tuple[str, str], tuple[int, int]]:
    """(numerator, denominator) per outcome KPI and cell, computed here from the produced events."""
    out: dict[tuple[str, str], tuple[int, int]] = {}
    groups = [(d.FLANDERS, completed),
              *((f"province={p}", [r for r in completed if r["province"] == p]) for p in PROVINCE.values()),
              *((f"sex={s}", [r for r in completed if r["sex"] == s]) for s in ("F", "M"))]
    for label, rows in groups:
        n = len(rows)
        if not n:
            continue
        out[(d.CAREER_OUTCOME_IMPROVED, label)] = (sum(sum(r["evaluation"]) > sum(r["intake"]) for r in rows), n)
        out[(d.CAREER_OUTCOME_REORIENTATION, label)] = (sum(r["reoriented"] for r in rows), n)
        out[(d.CAREER_OUTCOME_JOB_MATCH, label)] = (sum(r["match"] for r in rows), n)
        for i, dim in enumerate(DIMS):
            out[(d.CAREER_OUTCOME_CHANGE[dim], label)] = (sum(r["evaluation"][i] - r["intake"][i] for r in rows), n)
    return out


def test_the_service_publishes_the_outcome_kpis_the_events_imply(outcomes_world):
    kpi, completed, token = outcomes_world
    want = expected(completed)
    published_keys = [k for k in want if k[1] in (d.FLANDERS, "province=40000", "sex=F", "sex=M")]

    def published():
        cells = {(c.kpi, c.cell): c for c in kpi.list_all(token) if c.kpi in d.CAREER_OUTCOME_KPIS}
        return cells if all(k in cells for k in want) else None
    cells = wait_for(published, 120, lambda: f"the outcome KPIs to be served; missing e.g. "
                     f"{sorted(set(want) - {(c.kpi, c.cell) for c in kpi.list_all(token)})[:4]}\n{kpi.log()}")
    assert len(completed) == 51 and 0 < want[(d.CAREER_OUTCOME_IMPROVED, d.FLANDERS)][0] < 51
    for key in published_keys:
        cell = cells[key]
        assert not cell.suppressed and (cell.numerator, cell.denominator) == want[key], key
    # Limburg has 3 completed trajectories (< 5): suppressed, numbers and all; and so is the smallest
    # other province (Antwerpen, 14), else Flanders minus the published provinces would give it away
    for kpi_name in d.CAREER_OUTCOME_KPIS:
        for small in (cells[(kpi_name, "province=70000")], cells[(kpi_name, "province=10000")]):
            assert small.suppressed and not small.HasField("numerator") and not small.HasField("denominator")
    assert {label.split("=")[0] for k, label in cells} >= {"region", "province", "municipality", "age_band", "sex",
                                                           "education", "labour_status"}

    with urllib.request.urlopen(kpi.url + "/api/dashboard.json", timeout=10) as reply:
        page = json.load(reply)
    row = next(r for r in page["outcomes"]["rows"] if r["cell"] == d.FLANDERS)
    improved = want[(d.CAREER_OUTCOME_IMPROVED, d.FLANDERS)]
    assert (row["improved"]["numerator"], row["improved"]["denominator"]) == improved
    meaning = next(c for c in page["outcomes"]["change"] if c["dimension"] == "MEANING")["figure"]
    assert (meaning["numerator"], meaning["denominator"]) == want[(d.CAREER_OUTCOME_CHANGE["MEANING"], d.FLANDERS)]
