"""The dashboard page as HTML: ``render(page)`` turns the data of ``service.policy_page.build_page``
into one self-contained document (inline CSS, inline SVG charts drawn here, no script needed to read
it; a small script reloads the figures every 30 seconds). Every label is escaped.

Figures carry their source: ``<span class="kpi" data-kpi=... data-cell=...>`` holds a KPI cell's
value (``suppressed`` for a suppressed cell, never a number; ``no data`` where there is no cell),
``<span class="kpi-n" ...>`` its numerator and denominator, ``<span class="derived" data-of=...>``
a ratio of two published figures. The dashboard test compares them with the KPI API.

Layout: a grid of cards and tables that folds to one column on a phone (about 390 px) and never
needs horizontal scrolling; charts scale with their column, and their axis labels are placed
inside the drawing (the last one is never cut off).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from math import ceil
from typing import Any

from services.kpi.domain import definitions as d

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- numbers -------------------------------------------------------------------------------------
def percent(numerator: int, denominator: int) -> str:
    return f"{100 * numerator / denominator:.1f}%"


def whole(n: int) -> str:
    return f"{n:,}"


def euro(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}EUR {abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def points(numerator: int, denominator: int) -> str:
    """A mean change on the outcome scale, signed: ``+0.42 points``."""
    return f"{numerator / denominator:+.2f} points" if denominator else "-"


def value_text(f: dict[str, Any]) -> str:
    """The text of a figure: a percentage for a rate, euros for a ``*_cents`` KPI, else a count."""
    if f["state"] == "suppressed":
        return "suppressed"
    if f["state"] == "missing":
        return "no data"
    if "denominator" in f and f["kpi"] in d.MEAN_KPIS:
        return points(f["numerator"], f["denominator"])
    if "denominator" in f:
        return percent(f["numerator"], f["denominator"])
    return euro(f["numerator"]) if f["kpi"].endswith("_cents") else whole(f["numerator"])


def month_name(day: date) -> str:
    return f"{MONTHS[day.month - 1]} {day.year}"


# --- figure elements -----------------------------------------------------------------------------
def _attrs(f: dict[str, Any]) -> str:
    return f'data-kpi="{escape(f["kpi"])}" data-cell="{escape(f["cell"])}"'


def fig(f: dict[str, Any]) -> str:
    css = {"published": "kpi", "suppressed": "kpi suppressed", "missing": "kpi missing"}[f["state"]]
    return f'<span class="{css}" {_attrs(f)}>{value_text(f)}</span>'


def counts(f: dict[str, Any], of: str = "") -> str:
    """``numerator of denominator`` of a published rate, then what they count (nothing otherwise)."""
    if f["state"] != "published" or "denominator" not in f:
        return ""
    text = f'<span class="kpi-n" {_attrs(f)}>{whole(f["numerator"])} of {whole(f["denominator"])}</span>'
    return f'{text} {escape(of)}' if of else text


def ratio(r: dict[str, int] | None, of: str, as_percent: bool = True) -> str:
    if r is None:
        return '<span class="derived missing">not available</span>'
    text = percent(r["numerator"], r["denominator"]) if as_percent else f'{r["numerator"] / r["denominator"]:.1f}'
    return f'<span class="derived" data-of="{escape(of)}">{text}</span>'


def rate_cell(f: dict[str, Any]) -> str:
    n = counts(f)
    return fig(f) + (f'<br><small>{n}</small>' if n else "")


# --- charts --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    """A chart's drawing size (its viewBox) and margins. Two are drawn: a wide one for screens and a
    narrow one for phones (CSS shows one), so that the text stays readable at either width."""

    name: str
    width: int
    height: int
    left: int = 40
    right: int = 12
    top: int = 14
    bottom: int = 34
    font: int = 13

    def label_width(self, text: str) -> float:
        return len(text) * 0.64 * self.font  # generous: DejaVu Sans digits are 0.636 em


WIDE = Frame("wide", 480, 260)
NARROW = Frame("narrow", 340, 250, left=36, font=12)


def _x_label(day: date, last: bool) -> str:
    month_end = (day + timedelta(days=1)).day == 1
    if last and not month_end:
        return f"{day.day} {MONTHS[day.month - 1]} {day:%y}"
    return f"{MONTHS[day.month - 1]} {day:%y}"


def x_labels(dates: list[date], xs: list[float], frame: Frame = WIDE) -> list[tuple[float, str]]:
    """The x-axis labels that fit without overlapping, the last one always, each inside the drawing."""
    def placed(i: int) -> tuple[float, float, float, str]:
        text = _x_label(dates[i], i == len(dates) - 1)
        half = frame.label_width(text) / 2
        centre = min(max(xs[i], half + 2), frame.width - half - 2)
        return centre - half, centre + half, centre, text

    if not dates:
        return []
    last = placed(len(dates) - 1)
    chosen: list[tuple[float, float, float, str]] = []
    for i in range(len(dates) - 1):
        left, right, centre, text = placed(i)
        if (not chosen or left > chosen[-1][1] + 8) and right < last[0] - 8:
            chosen.append((left, right, centre, text))
    return [(c, t) for _, _, c, t in chosen + [last]]


def chart(kpi: str, spec: dict[str, Any], frame: Frame = WIDE) -> str:
    """The trend of one KPI: a line per series (a gap where a point is suppressed), a dot per
    published point (hollow when its window reaches back before the platform started), the targets
    as dashed lines."""
    W, H, L, R, T, B = frame.width, frame.height, frame.left, frame.right, frame.top, frame.bottom
    dates = sorted({p["date"] for s in spec["series"] for p in s["points"]})
    days = [date.fromisoformat(x) for x in dates]
    top = max([0.05] + [t["value"] for t in spec["targets"]]
              + [p["rate"] for s in spec["series"] for p in s["points"] if not p["suppressed"]])
    step = 0.1 if top > 0.3 else 0.05
    ymax = ceil((top + 0.01) / step) * step

    def x(i: int) -> float:
        return (L + W - R) / 2 if len(dates) < 2 else L + i / (len(dates) - 1) * (W - L - R)

    def y(v: float) -> float:
        return T + (1 - v / ymax) * (H - T - B)

    xs = [x(i) for i in range(len(dates))]
    chart_id = f"chart-{kpi}" if frame is WIDE else f"chart-{kpi}-{frame.name}"
    out = [f'<svg id="{escape(chart_id)}" class="chart {frame.name}" viewBox="0 0 {W} {H}" role="img" '
           f'aria-label="{escape(spec["title"])}, Flanders and provinces, against the targets" '
           f'font-size="{frame.font}" font-family="sans-serif">']
    for k in range(int(round(ymax / step)) + 1):
        v = k * step
        out.append(f'<line x1="{L}" y1="{y(v):.1f}" x2="{W - R}" y2="{y(v):.1f}" '
                   f'stroke="{"#999" if k == 0 else "#e4e7ea"}"/>')
        out.append(f'<text x="{L - 5}" y="{y(v) + 4:.1f}" text-anchor="end" fill="#555">{round(v * 100)}%</text>')
    for centre, text in x_labels(days, xs, frame):
        out.append(f'<text class="x-label" x="{centre:.1f}" y="{H - 12}" text-anchor="middle" '
                   f'fill="#555">{text}</text>')
    for t in spec["targets"]:
        label = f'{escape(t["label"])} {round(t["value"] * 100)}%'
        out.append(f'<line x1="{L}" y1="{y(t["value"]):.1f}" x2="{W - R}" y2="{y(t["value"]):.1f}" '
                   f'stroke="#555" stroke-dasharray="6 4" class="target"/>')
        out.append(f'<text x="{W - R - 2}" y="{y(t["value"]) - 5:.1f}" text-anchor="end" fill="#333" '
                   f'font-size="{frame.font - 1}" stroke="#fff" stroke-width="3" paint-order="stroke">{label}</text>')
    for s in spec["series"]:
        path, pen = [], "M"
        for p in s["points"]:
            if p["suppressed"]:
                pen = "M"
                continue
            path.append(f'{pen}{xs[dates.index(p["date"])]:.1f} {y(p["rate"]):.1f}')
            pen = "L"
        if path:
            out.append(f'<path d="{" ".join(path)}" fill="none" stroke="{s["colour"]}" stroke-width="2.5" '
                       f'class="series" data-cell="{escape(s["cell"])}"/>')
        for p in s["points"]:
            if p["suppressed"]:
                continue
            fill = "#fff" if p["partial"] else s["colour"]
            partial = ' data-partial="true"' if p["partial"] else ""
            title = (f'{escape(s["name"])} {p["date"]}: {percent(p["numerator"], p["denominator"])} '
                     f'({whole(p["numerator"])} of {whole(p["denominator"])})'
                     + (", window reaches back before the platform started" if p["partial"] else ""))
            out.append(f'<circle class="point" data-cell="{escape(s["cell"])}"{partial} '
                       f'cx="{xs[dates.index(p["date"])]:.1f}" cy="{y(p["rate"]):.1f}" r="4" fill="{fill}" '
                       f'stroke="{s["colour"]}" stroke-width="2"><title>{title}</title></circle>')
    out.append("</svg>")
    return "".join(out)


# --- sections ------------------------------------------------------------------------------------
def _note(page: dict[str, Any]) -> str:
    since = page["recording_since"]
    if since is None:
        return ('<p class="note" id="empty-start">The platform started empty and has recorded no learning yet: '
                'every rate is zero until providers report courses and career guidance.</p>')
    start, full = month_name(date.fromisoformat(since)), month_name(date.fromisoformat(page["full_year_from"]))
    ref = page["reference_date"]
    young = ref is not None and ref < page["full_year_from"]
    return (f'<p class="note" id="empty-start"><b>The platform started empty: it has recorded learning since '
            f'{start}.</b> Learning before then is not in its data, so the rates of the first months are low: '
            f'that is the empty start, not a fall in participation. The 12-month rate covers a full year only '
            f'from {full} on'
            f'{" (not yet)" if young else ""}; in the charts, hollow points mark windows that reach back '
            f'before the start.</p>')


def _target_bar(f: dict[str, Any], targets: list[dict[str, Any]]) -> str:
    rate = f["numerator"] / f["denominator"] if f["state"] == "published" else None
    scale = max([t["value"] for t in targets] + [rate or 0]) * 1.2
    marks = "".join(f'<b style="left:{100 * t["value"] / scale:.1f}%"><span>{round(t["value"] * 100)}%</span></b>'
                    for t in targets)
    fill = f'<i style="width:{100 * rate / scale:.1f}%"></i>' if rate is not None else ""
    return f'<div class="bar" aria-hidden="true">{fill}{marks}</div>'


def _headline(h: dict[str, Any]) -> str:
    cards = []
    for p in h["participation"]:
        f = p["figure"]
        targets = ", ".join(f'{round(t["value"] * 100)}% ({escape(t["label"])})' for t in p["targets"])
        cards.append(f'<div class="card"><h3>{escape(p["title"])}</h3><div class="big">{fig(f)}</div>'
                     f'<div class="small">{counts(f, "residents aged 25-64") or "residents aged 25-64"}</div>'
                     f'{_target_bar(f, p["targets"])}<div class="small">Target {targets}</div></div>')
    f = h["leercoach_guided"]
    cards.append(f'<div class="card"><h3>Learners guided by a leercoach</h3><div class="big">{fig(f)}</div>'
                 f'<div class="small">{counts(f, "learners") or "of learners"}, last 12 months</div></div>')
    cards.append(f'<div class="card"><h3>Career cheques</h3><div class="big">{fig(h["cheques_bought"])}</div>'
                 f'<div class="small">bought; used: {fig(h["cheque_uptake"])}</div></div>')
    cards.append(f'<div class="card"><h3>Training budget used</h3><div class="big">'
                 f'{ratio(h["budget_used_share"], "budget_captured_cents/budget_credited_cents")}</div>'
                 f'<div class="small">{fig(h["budget_captured"])} spent of {fig(h["budget_credited"])} '
                 f'credited</div></div>')
    cards.append(f'<div class="card"><h3>Courses completed</h3><div class="big">{fig(h["completion"])}</div>'
                 f'<div class="small">of courses that ended; cancelled: {fig(h["cancellation"])} of requests</div>'
                 f'</div>')
    return f'<section id="headline" class="cards">{"".join(cards)}</section>'


def _trends(trends: dict[str, Any]) -> str:
    legend = "".join(f'<span><i style="background:{s["colour"]}"></i>{escape(s["name"])}</span>'
                     for s in next(iter(trends.values()))["series"])
    legend += '<span><i class="hollow"></i>window reaches back before the start</span>'
    figures = "".join(f'<figure><figcaption>{escape(spec["title"])}</figcaption>{chart(kpi, spec, WIDE)}'
                      f'{chart(kpi, spec, NARROW)}</figure>' for kpi, spec in trends.items())
    return (f'<section id="trends"><h2>Participation over time, against the targets</h2>'
            f'<div class="legend">{legend}</div><div class="charts">{figures}</div>'
            f'<p class="small">Month ends and the reference date; a gap is a suppressed point.</p></section>')


def _participation_table(table: dict[str, Any]) -> str:
    rows = "".join(f'<tr><td>{escape(r["label"])}</td><td>{rate_cell(r["figures"][d.PARTICIPATION_4W])}</td>'
                   f'<td>{rate_cell(r["figures"][d.PARTICIPATION_12M])}</td></tr>' for r in table["rows"])
    return (f'<table id="by-{escape(table["dimension"])}"><caption>{escape(table["title"])}</caption>'
            f'<thead><tr><th>Group</th><th>4 weeks</th><th>12 months</th></tr></thead><tbody>{rows}</tbody></table>')


def _breakdowns(page: dict[str, Any]) -> str:
    tables = "".join(_participation_table(t) for t in page["breakdowns"])
    towns = page["municipalities"]
    return (f'<section id="breakdowns"><h2>Who learns: participation by group</h2>'
            f'<div class="tables">{tables}</div>'
            f'<details id="municipalities"><summary>Municipalities ({towns["published"]} of {len(towns["rows"])} '
            f'with a published rate)</summary><div class="scroll">{_participation_table(towns)}</div></details>'
            f'</section>')


def _shown(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows with a published figure, and the rows whose figures are all suppressed or missing."""
    shown = [r for r in rows if any(r[k]["state"] == "published" for k in keys)]
    return shown, [r for r in rows if r not in shown]


def _more(rows: list[dict[str, Any]], what: str) -> str:
    """One line naming the rows that have nothing to publish (their cells are suppressed)."""
    if not rows:
        return ""
    names = ", ".join(escape(r["label"]) for r in rows)
    return f'<p class="more">{len(rows)} more {what}, every figure suppressed (too few to publish): {names}.</p>'


def _leercoach(lc: dict[str, Any]) -> str:
    guided = "".join(f'<tr><td>{escape(r["label"])}</td><td>{rate_cell(r["figure"])}</td></tr>' for r in lc["guided"])
    shown, hidden = _shown(lc["organisations"], ("leercoaches", "mentors"))
    orgs = "".join(f'<tr><td>{escape(o["label"])}</td><td>{fig(o["leercoaches"])}</td><td>{fig(o["mentors"])}</td></tr>'
                   for o in shown)
    return (f'<section id="leercoach"><h2>Leercoaches and mentors</h2><div class="tables">'
            f'<table><caption>Learners guided by a leercoach, last 12 months</caption>'
            f'<thead><tr><th>Area</th><th>Share of learners</th></tr></thead><tbody>{guided}</tbody></table>'
            f'<div><table><caption>Holders of a valid certificate</caption>'
            f'<thead><tr><th>Organisation</th><th>Leercoaches</th><th>Mentors</th></tr></thead><tbody>'
            f'<tr class="total"><td>Flanders</td><td>{fig(lc["leercoaches"])}</td><td>{fig(lc["mentors"])}</td></tr>'
            f'{orgs}</tbody></table>{_more(hidden, "organisations")}</div></div></section>')


def _cheques(c: dict[str, Any]) -> str:
    outcomes = "".join(f'<tr><td>{escape(o["label"])}</td><td>{rate_cell(o["figure"])}</td></tr>'
                       for o in c["outcomes"]) or '<tr><td colspan="2">No outcome recorded yet</td></tr>'
    return (f'<section id="cheques"><h2>Career cheques (loopbaancheques)</h2><div class="tables">'
            f'<table><caption>Uptake</caption><tbody>'
            f'<tr><td>Cheques bought</td><td>{fig(c["bought"])}</td></tr>'
            f'<tr><td>Used (guidance started)</td><td>{rate_cell(c["uptake"])}</td></tr>'
            f'<tr><td>Hours of guidance</td><td>{fig(c["hours"])}</td></tr>'
            f'<tr><td>Hours per used cheque</td><td>'
            f'{ratio(c["hours_per_used_cheque"], "career_guidance_hours/career_cheque_uptake", as_percent=False)}'
            f'</td></tr></tbody></table>'
            f'<table><caption>Outcome at evaluation</caption><thead><tr><th>Outcome</th><th>Share of evaluated '
            f'cheques</th></tr></thead><tbody>{outcomes}</tbody></table></div></section>')


def _trajectories(f: dict[str, Any]) -> str:
    return f'<br><small>over {whole(f["denominator"])} trajectories</small>' if f["state"] == "published" else ""


def _outcomes(o: dict[str, Any]) -> str:
    rows = "".join(f'<tr><td>{escape(r["label"])}</td><td>{rate_cell(r["improved"])}</td>'
                   f'<td>{rate_cell(r["reorientation"])}</td><td>{rate_cell(r["job_match"])}</td></tr>'
                   for r in o["rows"])
    change = "".join(f'<tr><td>{escape(c["label"])}</td><td>{fig(c["figure"])}{_trajectories(c["figure"])}</td></tr>'
                     for c in o["change"])
    return (f'<section id="outcomes"><h2>Career-guidance outcomes (loopbaancentra)</h2><div class="tables">'
            f'<table><caption>Completed trajectories (intake and evaluation measured)</caption><thead><tr>'
            f'<th>Area or age</th><th>Work happiness improved</th><th>Reoriented</th><th>Sustainable job match</th>'
            f'</tr></thead><tbody>{rows}</tbody></table>'
            f'<table><caption>Mean change from intake to evaluation, Flanders (points on the outcome scale)</caption><thead><tr>'
            f'<th>Dimension</th><th>Mean change</th></tr></thead><tbody>{change}</tbody></table></div></section>')


def _budget(b: dict[str, Any]) -> str:
    rows = (("Credited (made available)", b["credited"]), ("Reserved for enrolments", b["reserved"]),
            ("Spent (captured)", b["captured"]), ("Released again", b["released"]),
            ("Still reserved", b["outstanding"]))
    body = "".join(f'<tr><td>{label}</td><td>{fig(f)}</td></tr>' for label, f in rows)
    body += (f'<tr class="total"><td>Used: spent as a share of credited</td>'
             f'<td>{ratio(b["used_share"], "budget_captured_cents/budget_credited_cents")}</td></tr>')
    return (f'<section id="budget"><h2>Training budget</h2><div class="tables"><table><caption>Euro wallets '
            f'(training budget, training cheques), to date</caption><tbody>{body}</tbody></table></div></section>')


def _providers(rows: list[dict[str, Any]]) -> str:
    rows, hidden = _shown(rows, ("completion", "cancellation", "no_show"))
    body = "".join(
        f'<tr{" class=total" if r["label"] == "All providers" else ""}><td>{escape(r["label"])}</td>'
        f'<td>{rate_cell(r["completion"])}</td><td>{rate_cell(r["cancellation"])}</td>'
        f'<td>{rate_cell(r["no_show"])}</td></tr>'
        for r in rows)
    return (f'<section id="providers"><h2>Training providers: completion and cancellation</h2>'
            f'<table><thead><tr><th>Provider</th><th>Completed (of ended)</th><th>Cancelled</th><th>No-show</th>'
            f'</tr></thead><tbody>{body}</tbody></table>{_more(hidden, "providers")}</section>')


STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2733;background:#f3f5f7;
line-height:1.35}
header{background:#0b3d5c;color:#fff;padding:10px 20px}
header h1{font-size:20px;margin:0}
main{padding:12px 20px 24px;max-width:1400px;margin:0 auto}
.sub{margin:0 0 10px;font-size:14px}
h2{font-size:17px;margin:22px 0 8px}
.note{background:#fff6d6;border-left:4px solid #e0a800;padding:8px 12px;font-size:14px;margin:0 0 12px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(165px,1fr));gap:10px}
.card{background:#fff;border:1px solid #d6dce1;border-radius:6px;padding:10px 12px;min-width:0;overflow-wrap:anywhere}
.card h3{font-size:13px;margin:0 0 4px;color:#3d4a56}
.big{font-size:26px;font-weight:700;line-height:1.2}
.small,small{font-size:12px;color:#4f5b66}
.bar{position:relative;height:8px;background:#e3e7eb;border-radius:4px;margin:8px 0 20px}
.bar i{position:absolute;left:0;top:0;bottom:0;background:#008b8b;border-radius:4px}
.bar b{position:absolute;top:-3px;width:2px;height:14px;background:#333}
.bar b span{position:absolute;top:14px;left:-10px;font-size:10px;font-weight:400;white-space:nowrap}
.legend{font-size:13px;margin-bottom:6px}
.legend span{display:inline-block;margin:0 14px 4px 0;white-space:nowrap}
.legend i{display:inline-block;width:14px;height:4px;margin-right:5px;vertical-align:middle}
.legend i.hollow{width:9px;height:9px;border:2px solid #555;border-radius:50%;background:#fff}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:12px}
figure{margin:0;background:#fff;border:1px solid #d6dce1;border-radius:6px;padding:6px 8px;min-width:0}
figcaption{font-size:14px;font-weight:600}
svg.chart{display:block;width:100%;height:auto}
svg.narrow{display:none}
.tables{display:grid;grid-template-columns:repeat(auto-fit,minmax(270px,1fr));gap:12px;align-items:start}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px;border:1px solid #d6dce1}
caption{text-align:left;font-weight:600;font-size:14px;padding:4px 0}
th,td{padding:4px 8px;border-bottom:1px solid #e6e9ec;text-align:right;vertical-align:top}
th{background:#eef1f4;font-weight:600}
th:first-child,td:first-child{text-align:left;overflow-wrap:anywhere;min-width:6.5em}
.kpi{white-space:nowrap}
tr.total td{font-weight:600}
.suppressed,.missing{color:#7b858e;font-style:italic;font-weight:400}
@media (min-width:601px){.kpi-n{white-space:nowrap}}
.more{font-size:13px;margin:6px 0 0}
#budget .tables{grid-template-columns:minmax(0,640px)}
details{margin-top:12px}
summary{cursor:pointer;font-size:14px;font-weight:600}
.scroll{max-height:420px;overflow-y:auto}
footer{font-size:12px;color:#4f5b66;margin-top:20px}
@media (max-width:600px){header,main{padding-left:12px;padding-right:12px}.big{font-size:22px}th,td{padding:4px 5px}
svg.wide{display:none}svg.narrow{display:block}}
@media (max-width:360px){table{font-size:12px}th,td{padding:3px}th:first-child,td:first-child{min-width:4.5em}}
"""

REFRESH = """
setInterval(function () {
  fetch(location.pathname, {cache: "no-store"}).then(function (r) { return r.ok ? r.text() : null; })
    .then(function (text) {
      if (!text) return;
      var next = new DOMParser().parseFromString(text, "text/html").getElementById("main");
      var open = Array.prototype.map.call(document.querySelectorAll("details[open]"), function (e) { return e.id; });
      document.getElementById("main").replaceWith(next);
      open.forEach(function (id) { var e = document.getElementById(id); if (e) e.open = true; });
    }).catch(function () {});
}, 30000);
"""


def render(page: dict[str, Any]) -> str:
    disclosure = page["disclosure"]
    ref = page["reference_date"] or "-"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>Leer- en loopbaanrekening: learning in Flanders</title>'
        f'<style>{STYLE}</style></head><body>'
        '<header><h1>Learning in Flanders: the leer- en loopbaanrekening</h1></header>'
        f'<main id="main"><p class="sub">Adults aged 25-64 living in Flanders, on <b id="ref">{escape(ref)}</b>. '
        'Aggregates only.</p>'
        f'{_note(page)}{_headline(page["headline"])}{_trends(page["trends"])}{_breakdowns(page)}'
        f'{_leercoach(page["leercoach"])}{_cheques(page["cheques"])}{_outcomes(page["outcomes"])}'
        f'{_budget(page["budget"])}'
        f'{_providers(page["providers"])}'
        f'<footer><p>A figure is <span class="suppressed">suppressed</span> when fewer than '
        f'{disclosure["min_numerator"]} people (or cheques, holders, reservations) stand behind it, or when a '
        f'rate\'s population is below {disclosure["min_denominator"]}; the page then shows no number for it. '
        '<i>no data</i>: nobody in the group. Participation: at least one course started or completed, or a '
        'career-guidance session, in the window (4 weeks: the Labour Force Survey definition; 12 months: the '
        'Adult Education Survey horizon). Source: the KPI service (llr.kpi.v1.KpiService); '
        '<a href="/api/dashboard.json">the figures as JSON</a>.</p></footer></main>'
        f'<script>{REFRESH}</script></body></html>'
    )
