"""The dashboard's page data: assembled from published cells only, suppressed cells without numbers."""
from __future__ import annotations

import json
import re
from datetime import date

from services.kpi.domain import definitions as d
from services.kpi.domain.disclosure import Cell
from services.kpi.domain.synthetic import SyntheticConfig, generate
from services.kpi.service.policy_page import Snapshot, build_page, figure, participation_data
from services.kpi.service.projection import Projection

REF = date(2025, 12, 20)


def published(kpi: str, label: str, n: int, den: int | None = None, on: date = REF) -> Cell:
    return Cell(kpi, label, on, n, den, False)


def suppressed(kpi: str, label: str, on: date = REF) -> Cell:
    return Cell(kpi, label, on, None, None, True)


def page_of(cells, history=(), since=date(2025, 1, 1)) -> dict:
    return build_page(Snapshot(list(cells), list(history), REF, since))


def test_a_figure_is_published_suppressed_or_missing_and_a_suppressed_one_has_no_numbers():
    assert figure("k", "c", published("k", "c", 12, 300)) == {
        "kpi": "k", "cell": "c", "state": "published", "numerator": 12, "denominator": 300}
    assert figure("k", "c", published("k", "c", 12)) == {"kpi": "k", "cell": "c", "state": "published",
                                                         "numerator": 12}
    assert figure("k", "c", suppressed("k", "c")) == {"kpi": "k", "cell": "c", "state": "suppressed"}
    assert figure("k", "c", None) == {"kpi": "k", "cell": "c", "state": "missing"}


def test_headline_figures_and_the_budget_used_share_from_two_published_figures():
    cells = [published(d.PARTICIPATION_4W, d.FLANDERS, 86, 1000), published(d.PARTICIPATION_12M, d.FLANDERS, 224, 1000),
             published(d.BUDGET_CREDITED, d.FLANDERS, 500_000_00), published(d.BUDGET_CAPTURED, d.FLANDERS, 125_000_00),
             suppressed(d.CAREER_CHEQUE_UPTAKE, d.FLANDERS)]
    h = page_of(cells)["headline"]
    four_weeks, twelve_months = h["participation"]
    assert four_weeks["figure"]["numerator"] == 86 and [t["value"] for t in four_weeks["targets"]] == [0.15, 0.30]
    assert [t["value"] for t in twelve_months["targets"]] == [0.60]
    assert h["budget_used_share"] == {"numerator": 125_000_00, "denominator": 500_000_00}
    assert h["cheque_uptake"] == {"kpi": d.CAREER_CHEQUE_UPTAKE, "cell": d.FLANDERS, "state": "suppressed"}
    assert h["leercoach_guided"]["state"] == "missing"
    # a derived figure needs both figures published
    cells[2] = suppressed(d.BUDGET_CREDITED, d.FLANDERS)
    assert page_of(cells)["headline"]["budget_used_share"] is None


def test_breakdowns_list_the_known_groups_in_order_and_any_other_value_after_them():
    cells = [published(d.PARTICIPATION_12M, "age_band=35-44", 30, 200),
             suppressed(d.PARTICIPATION_4W, "age_band=35-44"),
             published(d.PARTICIPATION_12M, "sex=F", 40, 210), published(d.PARTICIPATION_12M, "sex=Q", 11, 100)]
    tables = {t["dimension"]: t for t in page_of(cells)["breakdowns"]}
    assert list(tables) == ["province", "age_band", "sex", "education", "birth_country", "labour_status",
                            "work_disability"]
    ages = tables["age_band"]["rows"]
    assert [r["label"] for r in ages] == ["25-34", "35-44", "45-54", "55-64"]
    assert ages[1]["figures"] == {
        d.PARTICIPATION_4W: {"kpi": d.PARTICIPATION_4W, "cell": "age_band=35-44", "state": "suppressed"},
        d.PARTICIPATION_12M: {"kpi": d.PARTICIPATION_12M, "cell": "age_band=35-44", "state": "published",
                              "numerator": 30, "denominator": 200}}
    assert ages[0]["figures"][d.PARTICIPATION_12M]["state"] == "missing"
    assert [r["label"] for r in tables["sex"]["rows"]] == ["Women", "Men", "X", "Q"]
    assert [r["label"] for r in tables["province"]["rows"]] == [
        "Antwerpen", "Vlaams-Brabant", "West-Vlaanderen", "Oost-Vlaanderen", "Limburg"]


def test_municipalities_by_name_with_the_count_of_published_ones():
    cells = [published(d.PARTICIPATION_12M, "municipality=44021", 30, 200),  # Gent
             suppressed(d.PARTICIPATION_12M, "municipality=11002"),
             suppressed(d.PARTICIPATION_4W, "municipality=11002")]
    towns = page_of(cells)["municipalities"]
    assert [r["label"] for r in towns["rows"]] == ["Antwerpen", "Gent"]
    assert towns["published"] == 1


def test_trends_join_the_history_and_the_current_cell_and_mark_windows_before_the_start():
    history = [published(d.PARTICIPATION_12M, d.FLANDERS, 20, 1000, date(2025, 10, 31)),
               suppressed(d.PARTICIPATION_12M, "province=70000", date(2025, 10, 31)),
               published(d.PARTICIPATION_4W, d.FLANDERS, 20, 1000, date(2025, 10, 31))]
    current = [published(d.PARTICIPATION_12M, d.FLANDERS, 30, 1000), published(d.PARTICIPATION_12M, "region=x", 1, 100)]
    trends = page_of(current, history, since=date(2025, 1, 1))["trends"]
    flanders = trends[d.PARTICIPATION_12M]["series"][0]
    assert flanders["cell"] == d.FLANDERS and flanders["name"] == "Vlaanderen"
    assert [(p["date"], p["rate"], p["partial"]) for p in flanders["points"]] == [
        ("2025-10-31", 0.02, True), ("2025-12-20", 0.03, True)]  # both 12-month windows begin in 2024
    limburg = trends[d.PARTICIPATION_12M]["series"][-1]
    assert limburg["points"] == [{"date": "2025-10-31", "suppressed": True, "partial": True}]
    assert trends[d.PARTICIPATION_4W]["series"][0]["points"][0]["partial"] is False
    assert [s["cell"] for s in trends[d.PARTICIPATION_4W]["series"]] == [
        d.FLANDERS, "province=10000", "province=20001", "province=30000", "province=40000", "province=70000"]
    assert participation_data(Snapshot(current, history, REF, date(2025, 1, 1)))["kpis"] == trends


def test_providers_all_first_then_by_id_and_organisations_with_both_roles():
    cells = [published(d.PROVIDER_COMPLETION_RATE, "provider=B", 50, 100),
             published(d.PROVIDER_CANCELLATION_RATE, "provider=A", 10, 120),
             published(d.PROVIDER_CANCELLATION_RATE, d.FLANDERS, 10, 220),
             published(d.CERTIFIED_MENTORS, "organisation=O2", 12),
             suppressed(d.CERTIFIED_LEERCOACHES, "organisation=O1")]
    page = page_of(cells)
    assert [r["label"] for r in page["providers"]] == ["All providers", "A", "B"]
    assert page["providers"][1]["completion"]["state"] == "missing"
    orgs = page["leercoach"]["organisations"]
    assert [(o["label"], o["leercoaches"]["state"], o["mentors"]["state"]) for o in orgs] == [
        ("O1", "suppressed", "missing"), ("O2", "missing", "published")]


def test_empty_start_dates():
    page = page_of([], since=date(2025, 1, 1))
    assert (page["recording_since"], page["full_year_from"]) == ("2025-01-01", "2026-01-01")
    assert page_of([], since=None)["full_year_from"] is None


def _figures(node):
    """Every figure dict in the page data."""
    if isinstance(node, dict):
        if "state" in node and "kpi" in node:
            yield node
        for value in node.values():
            yield from _figures(value)
    elif isinstance(node, list):
        for value in node:
            yield from _figures(value)


def test_on_a_folded_stream_every_figure_is_its_published_cell_and_no_person_id_appears():
    p = Projection()
    events = generate(SyntheticConfig(persons=1500, seed=5))
    for event in events:
        p.ingest("x/0", event)
    p.refresh_history()
    cells = {c.key: c for c in p.read_out()}
    page = build_page(Snapshot(list(cells.values()), p.history(), p.reference_date, p.recording_since()))
    figures = list(_figures(page))
    assert {f["state"] for f in figures} >= {"published", "suppressed"}
    for f in figures:
        cell = cells.get((f["kpi"], f["cell"]))
        assert f == figure(f["kpi"], f["cell"], cell)
        if f["state"] != "published":
            assert "numerator" not in f and "denominator" not in f
    text = json.dumps(page)
    assert not re.search(r"P\d{7}|acc-|ev-\d{9}|E\d{8}|R\d{8}|LC\d{7}", text)
    births = {e.birth_date.isoformat() for e in events if hasattr(e, "birth_date") and e.birth_date}
    assert not any(b in text for b in births)
    assert page["recording_since"] is not None and page["recording_since"].endswith("-01")
