"""What the dashboard shows a policy maker: every figure of the page, assembled from the published
(disclosure-controlled) cells and the month-end history on the board, and nothing else.

``build_page(snapshot)`` is pure and returns plain JSON-able data (served as
``/api/dashboard.json`` and rendered as HTML by ``entrypoints.dashboard``):

============== ===============================================================================
section        figures (KPI, cells)
============== ===============================================================================
headline       participation 4 weeks and 12 months of Flanders with their targets; the share
               of learners guided by a leercoach; career cheques bought and their uptake; the
               budget captured against the budget credited; completion and cancellation rates
trends         participation 4 weeks and 12 months of Flanders and the provinces at the month
               ends and on the reference date; a point whose window begins before the platform
               recorded learning is ``partial``
breakdowns     participation 4 weeks and 12 months by province, age band, sex, education,
               country of birth, labour status, work disability, and municipality
leercoach      guided share of learners by province; certified leercoaches and mentors, by
               organisation
cheques        bought, uptake, guidance hours, outcomes
outcomes       career-guidance outcomes of completed trajectories at career centres: share
               improved, reorientation and job-match rates for Flanders, the provinces and the age
               bands; mean change per work-happiness dimension for Flanders
budget         credited, reserved, captured, released, outstanding
providers      completion, cancellation and no-show rates per provider
============== ===============================================================================

A figure is ``{"kpi", "cell", "state"}`` with ``state`` one of ``published`` (then also
``numerator`` and, for rates, ``denominator``), ``suppressed`` (no numbers, ever) or ``missing``
(no such cell: nobody in the group). Derived figures (the budget used as a share of the budget
credited, guidance hours per used cheque) are computed from two published figures only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from services.kpi.domain import definitions as d
from services.kpi.domain.disclosure import Cell
from services.kpi.domain.geography import PROVINCES, municipality_name

from .projection import HISTORY_CELLS, PARTICIPATION

# One colour per trend series (the screenshot test looks for them).
SERIES_COLOURS = {
    d.FLANDERS: "#008b8b",
    "province=10000": "#e6194b",  # Antwerpen
    "province=20001": "#3cb44b",  # Vlaams-Brabant
    "province=30000": "#4363d8",  # West-Vlaanderen
    "province=40000": "#f58231",  # Oost-Vlaanderen
    "province=70000": "#911eb4",  # Limburg
}
SERIES_NAMES = {d.FLANDERS: "Vlaanderen", **{f"province={code}": name for code, name in PROVINCES.items()}}
assert set(SERIES_COLOURS) == set(HISTORY_CELLS)

TREND_TITLES = {
    d.PARTICIPATION_4W: "Learning in the last 4 weeks",
    d.PARTICIPATION_12M: "Learning in the last 12 months",
}

# The breakdowns of DOMAIN.md section 4, in reading order, with the known values and their labels.
# A value that appears in the cells but not here is shown under its own name after these.
BREAKDOWNS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("province", "Province", dict(PROVINCES)),
    ("age_band", "Age", {b: b for b in ("25-34", "35-44", "45-54", "55-64")}),
    ("sex", "Sex", {"F": "Women", "M": "Men", "X": "X"}),
    ("education", "Education level", {"low": "Low", "medium": "Medium", "high": "High"}),
    ("birth_country", "Country of birth", {"BE": "Belgium", "EU": "Other EU country", "NON_EU": "Outside the EU"}),
    ("labour_status", "Labour status", {"employed": "Employed", "jobseeker": "Jobseeker", "inactive": "Inactive"}),
    ("work_disability", "Work disability", {"yes": "With a work disability", "no": "Without"}),
)
DIMENSION_NAMES = {"MEANING": "Meaning (zingeving)", "AUTONOMY": "Autonomy (autonomie)",
                   "COMPETENCE": "Competence (competentie)", "CONNECTION": "Connection (verbinding)",
                   "SAFETY": "Safety (veiligheid)", "BALANCE": "Balance (balans)"}
OUTCOMES = {
    "POP_DELIVERED": "Personal development plan delivered",
    "REORIENTED": "Reoriented",
    "SUSTAINABLE_JOB_MATCH": "Sustainable job match",
}


@dataclass(frozen=True)
class Snapshot:
    """What the board holds at one moment."""

    cells: list[Cell]
    history: list[Cell] = field(default_factory=list)
    reference_date: date | None = None
    recording_since: date | None = None
    disclosure: d.DisclosureConfig = d.DisclosureConfig()


def figure(kpi: str, label: str, cell: Cell | None) -> dict[str, Any]:
    if cell is None:
        return {"kpi": kpi, "cell": label, "state": "missing"}
    if cell.suppressed:
        return {"kpi": kpi, "cell": label, "state": "suppressed"}
    out = {"kpi": kpi, "cell": label, "state": "published", "numerator": cell.numerator}
    if cell.denominator is not None:
        out["denominator"] = cell.denominator
    return out


def derived(numerator: dict[str, Any], denominator: dict[str, Any]) -> dict[str, Any] | None:
    """``numerator / denominator`` of two published figures (``None`` unless both are published and
    the denominator is not zero)."""
    if numerator["state"] != "published" or denominator["state"] != "published" or not denominator["numerator"]:
        return None
    return {"numerator": numerator["numerator"], "denominator": denominator["numerator"]}


def _window_start(kpi: str, day: date) -> date:
    return (d.window_4w if kpi == d.PARTICIPATION_4W else d.window_12m)(day)[0]


def _dimension_values(cells: dict[d.CellKey, Cell], kpis: tuple[str, ...], dimension: str) -> list[str]:
    prefix = dimension + "="
    return sorted({label[len(prefix):] for kpi, label in cells if kpi in kpis and label.startswith(prefix)})


class _Page:
    def __init__(self, snapshot: Snapshot) -> None:
        self.s = snapshot
        self.cells = {c.key: c for c in snapshot.cells}

    def fig(self, kpi: str, label: str = d.FLANDERS) -> dict[str, Any]:
        return figure(kpi, label, self.cells.get((kpi, label)))

    # -- sections ---------------------------------------------------------------------------------
    def headline(self) -> dict[str, Any]:
        credited, captured = self.fig(d.BUDGET_CREDITED), self.fig(d.BUDGET_CAPTURED)
        return {
            "participation": [
                {"title": TREND_TITLES[kpi], "figure": self.fig(kpi),
                 "targets": [{"label": label, "value": float(v)} for label, v in d.TARGETS[kpi].items()]}
                for kpi in PARTICIPATION
            ],
            "leercoach_guided": self.fig(d.LEERCOACH_GUIDED_SHARE),
            "cheques_bought": self.fig(d.CAREER_CHEQUES_BOUGHT),
            "cheque_uptake": self.fig(d.CAREER_CHEQUE_UPTAKE),
            "budget_credited": credited,
            "budget_captured": captured,
            "budget_used_share": derived(captured, credited),
            "completion": self.fig(d.PROVIDER_COMPLETION_RATE),
            "cancellation": self.fig(d.PROVIDER_CANCELLATION_RATE),
        }

    def trends(self) -> dict[str, Any]:
        points: dict[tuple[str, str], dict[str, dict]] = {}
        current = [c for c in self.s.cells if c.kpi in PARTICIPATION and c.cell in HISTORY_CELLS]
        for c in self.s.history + current:
            point: dict[str, Any] = {"date": c.reference_date.isoformat(), "suppressed": c.suppressed}
            if not c.suppressed:
                point.update(rate=c.numerator / c.denominator, numerator=c.numerator, denominator=c.denominator)
            since = self.s.recording_since
            point["partial"] = since is None or _window_start(c.kpi, c.reference_date) < since
            points.setdefault((c.kpi, c.cell), {})[point["date"]] = point
        return {
            kpi: {
                "title": TREND_TITLES[kpi],
                "targets": [{"label": label, "value": float(v)} for label, v in d.TARGETS[kpi].items()],
                "series": [
                    {"cell": label, "name": SERIES_NAMES[label], "colour": colour,
                     "points": [p for _, p in sorted(points.get((kpi, label), {}).items())]}
                    for label, colour in SERIES_COLOURS.items()
                ],
            }
            for kpi in PARTICIPATION
        }

    def breakdowns(self) -> list[dict[str, Any]]:
        tables = []
        for dimension, title, labels in BREAKDOWNS:
            found = _dimension_values(self.cells, PARTICIPATION, dimension)
            values = list(labels) + [v for v in found if v not in labels]
            tables.append({"dimension": dimension, "title": title, "rows": [
                self._participation_row(dimension, value, labels.get(value, value)) for value in values]})
        return tables

    def municipalities(self) -> dict[str, Any]:
        rows = [self._participation_row("municipality", code, municipality_name(code) or f"NIS {code}")
                for code in _dimension_values(self.cells, PARTICIPATION, "municipality")]
        rows.sort(key=lambda r: r["label"])
        published = sum(any(f["state"] == "published" for f in r["figures"].values()) for r in rows)
        return {"dimension": "municipality", "title": "Municipality", "rows": rows, "published": published}

    def _participation_row(self, dimension: str, value: str, label: str) -> dict[str, Any]:
        cell = d.cell(dimension, value)
        return {"cell": cell, "label": label, "figures": {kpi: self.fig(kpi, cell) for kpi in PARTICIPATION}}

    def leercoach(self) -> dict[str, Any]:
        organisations = _dimension_values(self.cells, (d.CERTIFIED_LEERCOACHES, d.CERTIFIED_MENTORS), "organisation")
        return {
            "guided": [
                {"cell": label, "label": SERIES_NAMES[label], "figure": self.fig(d.LEERCOACH_GUIDED_SHARE, label)}
                for label in SERIES_COLOURS
            ],
            "leercoaches": self.fig(d.CERTIFIED_LEERCOACHES),
            "mentors": self.fig(d.CERTIFIED_MENTORS),
            "organisations": [
                {"cell": d.cell("organisation", org), "label": org,
                 "leercoaches": self.fig(d.CERTIFIED_LEERCOACHES, d.cell("organisation", org)),
                 "mentors": self.fig(d.CERTIFIED_MENTORS, d.cell("organisation", org))}
                for org in organisations
            ],
        }

    def cheques(self) -> dict[str, Any]:
        found = _dimension_values(self.cells, (d.CAREER_CHEQUE_OUTCOME,), "outcome")
        outcomes = [o for o in OUTCOMES if o in found] + [o for o in found if o not in OUTCOMES]
        uptake, hours = self.fig(d.CAREER_CHEQUE_UPTAKE), self.fig(d.CAREER_GUIDANCE_HOURS)
        used = {"state": uptake["state"], "numerator": uptake.get("numerator")}
        return {
            "bought": self.fig(d.CAREER_CHEQUES_BOUGHT),
            "uptake": uptake,
            "hours": hours,
            "hours_per_used_cheque": derived(hours, used),
            "outcomes": [{"cell": d.cell("outcome", o), "label": OUTCOMES.get(o, o),
                          "figure": self.fig(d.CAREER_CHEQUE_OUTCOME, d.cell("outcome", o))} for o in outcomes],
        }

    def outcomes(self) -> dict[str, Any]:
        ages = [d.cell("age_band", b) for b in BREAKDOWNS[1][2]]
        return {
            "rows": [{"cell": label, "label": SERIES_NAMES.get(label, label.split("=", 1)[1]),
                      "improved": self.fig(d.CAREER_OUTCOME_IMPROVED, label),
                      "reorientation": self.fig(d.CAREER_OUTCOME_REORIENTATION, label),
                      "job_match": self.fig(d.CAREER_OUTCOME_JOB_MATCH, label)}
                     for label in [*SERIES_COLOURS, *ages]],
            "change": [{"dimension": dim, "label": DIMENSION_NAMES.get(dim, dim),
                        "figure": self.fig(kpi)} for dim, kpi in d.CAREER_OUTCOME_CHANGE.items()],
        }

    def budget(self) -> dict[str, Any]:
        names = {"credited": d.BUDGET_CREDITED, "reserved": d.BUDGET_RESERVED, "captured": d.BUDGET_CAPTURED,
                 "released": d.BUDGET_RELEASED, "outstanding": d.BUDGET_OUTSTANDING}
        out: dict[str, Any] = {name: self.fig(kpi) for name, kpi in names.items()}
        out["used_share"] = derived(out["captured"], out["credited"])
        return out

    def providers(self) -> list[dict[str, Any]]:
        kpis = (d.PROVIDER_COMPLETION_RATE, d.PROVIDER_CANCELLATION_RATE, d.PROVIDER_NO_SHOW_RATE)
        labels = [d.FLANDERS] + [d.cell("provider", p) for p in _dimension_values(self.cells, kpis, "provider")]
        return [
            {"cell": label, "label": "All providers" if label == d.FLANDERS else label.split("=", 1)[1],
             "completion": self.fig(d.PROVIDER_COMPLETION_RATE, label),
             "cancellation": self.fig(d.PROVIDER_CANCELLATION_RATE, label),
             "no_show": self.fig(d.PROVIDER_NO_SHOW_RATE, label)}
            for label in labels
        ]


def build_page(snapshot: Snapshot) -> dict[str, Any]:
    page = _Page(snapshot)
    since = snapshot.recording_since
    return {
        "reference_date": snapshot.reference_date.isoformat() if snapshot.reference_date else None,
        "recording_since": since.isoformat() if since else None,
        "full_year_from": since.replace(year=since.year + 1).isoformat() if since else None,
        "disclosure": {"min_numerator": snapshot.disclosure.min_numerator,
                       "min_denominator": snapshot.disclosure.min_denominator},
        "headline": page.headline(),
        "trends": page.trends(),
        "breakdowns": page.breakdowns(),
        "municipalities": page.municipalities(),
        "leercoach": page.leercoach(),
        "cheques": page.cheques(),
        "outcomes": page.outcomes(),
        "budget": page.budget(),
        "providers": page.providers(),
    }


def participation_data(snapshot: Snapshot) -> dict[str, Any]:
    """The trends alone (``/api/participation.json``, the dashboard's first data endpoint)."""
    return {"reference_date": snapshot.reference_date.isoformat() if snapshot.reference_date else None,
            "kpis": _Page(snapshot).trends()}
