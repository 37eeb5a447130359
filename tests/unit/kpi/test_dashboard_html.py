"""The dashboard page as HTML: figures as their cells say, suppressed never a number, labels escaped,
axis labels inside the drawing."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from services.kpi.domain import definitions as d
from services.kpi.domain.disclosure import Cell
from services.kpi.entrypoints.dashboard_html import NARROW, WIDE, chart, euro, percent, render, value_text, x_labels
from services.kpi.service.policy_page import Snapshot, build_page

REF = date(2025, 12, 20)
SPAN = re.compile(r'<span class="(kpi(?: suppressed| missing)?)" data-kpi="([^"]+)" data-cell="([^"]+)">([^<]*)</span>')


def cell(kpi: str, label: str, n: int | None, den: int | None = None, on: date = REF) -> Cell:
    return Cell(kpi, label, on, n, den, n is None)


def page(cells, history=(), since=date(2025, 1, 1)) -> dict:
    return build_page(Snapshot(list(cells), list(history), REF, since))


def test_numbers_are_formatted_for_reading():
    assert percent(86, 1000) == "8.6%" and percent(1, 3) == "33.3%"
    assert euro(123_456_78) == "EUR 123,456.78" and euro(5) == "EUR 0.05" and euro(-150) == "-EUR 1.50"
    assert value_text({"kpi": d.CERTIFIED_MENTORS, "cell": "c", "state": "published", "numerator": 1234}) == "1,234"


def test_every_figure_shows_its_cell_and_a_suppressed_one_shows_no_number():
    cells = [cell(d.PARTICIPATION_4W, d.FLANDERS, 86, 1000), cell(d.PARTICIPATION_12M, d.FLANDERS, None),
             cell(d.BUDGET_CREDITED, d.FLANDERS, 500_000_00), cell(d.BUDGET_CAPTURED, d.FLANDERS, 125_000_00),
             cell(d.PARTICIPATION_12M, "education=low", None), cell(d.PROVIDER_COMPLETION_RATE, "provider=P1", 90, 120)]
    html = render(page(cells))
    spans = SPAN.findall(html)
    shown = {(k, c): (css, text) for css, k, c, text in spans}
    assert shown[(d.PARTICIPATION_4W, d.FLANDERS)] == ("kpi", "8.6%")
    assert shown[(d.PARTICIPATION_12M, d.FLANDERS)] == ("kpi suppressed", "suppressed")
    assert shown[(d.PARTICIPATION_12M, "education=low")] == ("kpi suppressed", "suppressed")
    assert shown[(d.PARTICIPATION_4W, "education=low")] == ("kpi missing", "no data")
    assert shown[(d.BUDGET_CREDITED, d.FLANDERS)] == ("kpi", "EUR 500,000.00")
    assert shown[(d.PROVIDER_COMPLETION_RATE, "provider=P1")] == ("kpi", "75.0%")
    assert ('<span class="kpi-n" data-kpi="participation_4w" data-cell="region=flanders">86 of 1,000</span> '
            'residents aged 25-64') in html
    assert 'data-kpi="participation_12m" data-cell="region=flanders">' not in html.replace(
        '<span class="kpi suppressed" data-kpi="participation_12m" data-cell="region=flanders">', "")
    assert '<span class="derived" data-of="budget_captured_cents/budget_credited_cents">25.0%</span>' in html
    for css, _, _, text in spans:
        assert ("suppressed" in css) == (text == "suppressed")
        if css != "kpi":
            assert not re.search(r"\d", text)


def test_labels_from_events_are_escaped():
    cells = [cell(d.PROVIDER_CANCELLATION_RATE, 'provider=<script>alert("x")</script>', 10, 100)]
    html = render(page(cells))
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_providers_with_nothing_published_are_named_on_one_line():
    cells = [cell(d.PROVIDER_CANCELLATION_RATE, "provider=P1", 10, 100),
             cell(d.PROVIDER_CANCELLATION_RATE, "provider=P2", None),
             cell(d.PROVIDER_NO_SHOW_RATE, "provider=P2", None)]
    html = render(page(cells))
    table = html.split('id="providers"', 1)[1]
    assert "<td>P1</td>" in table and "<td>P2</td>" not in table
    assert "2 more providers, every figure suppressed (too few to publish): All providers, P2." in table


def test_the_empty_start_note_names_the_start_and_the_first_full_year():
    html = render(page([]))
    assert "it has recorded learning since Jan 2025" in html and "a full year only from Jan 2026 on (not yet)" in html
    assert "has recorded no learning yet" in render(page([], since=None))


@pytest.mark.parametrize("frame", [WIDE, NARROW])
@pytest.mark.parametrize("n", [1, 2, 5, 12, 13, 25])
def test_x_labels_stay_inside_the_drawing_without_overlap_and_keep_the_last(frame, n):
    days = sorted({REF - timedelta(days=30 * i) for i in range(1, n)} | {REF})
    step = (frame.width - frame.left - frame.right) / max(1, len(days) - 1)
    labels = x_labels(days, [frame.left + i * step for i in range(len(days))], frame)
    assert labels[-1][1] == "20 Dec 25"
    spans = [(c - frame.label_width(t) / 2, c + frame.label_width(t) / 2) for c, t in labels]
    assert all(0 <= a and b <= frame.width for a, b in spans)
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))


def test_a_chart_draws_published_points_and_leaves_a_gap_for_suppressed_ones():
    history = [cell(d.PARTICIPATION_12M, d.FLANDERS, 20, 1000, date(2025, m, 28)) for m in (9, 10)]
    history.insert(1, cell(d.PARTICIPATION_12M, d.FLANDERS, None, None, date(2025, 9, 30)))
    spec = page([cell(d.PARTICIPATION_12M, d.FLANDERS, 30, 1000)], history)["trends"][d.PARTICIPATION_12M]
    svg = chart(d.PARTICIPATION_12M, spec)
    assert svg.count('class="point" data-cell="region=flanders"') == 3
    path = re.search(r'<path d="([^"]+)"[^>]*data-cell="region=flanders"', svg).group(1)
    assert path.count("M") == 2 and path.count("L") == 1  # the suppressed point breaks the line
    assert svg.count('class="target"') == 1 and "EU 2030 target 60%" in svg
    assert svg.count('data-partial="true"') == 3  # 12-month windows that begin before January 2025
