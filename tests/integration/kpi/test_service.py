"""The KPI service end to end on the real broker: events produced on the four source topics in,
disclosure-controlled KPIs out over gRPC (Get, List, Subscribe), on the compacted topic and on the
dashboard; poison to the dead-letter topics; roles; clean stop on SIGTERM."""
from __future__ import annotations

import html
import json
import re
import subprocess
from collections import Counter
from pathlib import Path
import urllib.request
import uuid
from datetime import date, datetime, time as dtime, timedelta, timezone

import grpc
import pytest
from PIL import Image

from llr.accounts.v1 import events_pb2 as acc
from llr.kpi.v1 import kpi_pb2
from llr.kpi.v1 import kpi_service_pb2 as api
from llr.population.v1 import events_pb2 as pop
from services.common.envelope import wrap
from services.common.grpc_server import bearer
from services.common.kafka import KafkaAccess, make_consumer
from services.kpi.domain import events as ev
from services.kpi.domain.synthetic import SyntheticConfig, generate

from .conftest import (
    as_pb, chromium, expected_cells, produce, read_source_partitions, served, subscription, wait_for,
)

PERSON_ID = re.compile(rb"P\d{7}")


def topic_records(kafka: KafkaAccess, topic: str, until, timeout_s: float = 30.0) -> list:
    consumer = make_consumer(kafka, topic, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=f"test-{uuid.uuid4().hex[:8]}")
    seen: list = []
    try:
        def done():
            for records in consumer.poll(timeout_ms=300).values():
                seen.extend(records)
            return until(seen)
        wait_for(done, timeout_s, f"records on {topic}", pause_s=0)
        return seen
    finally:
        consumer.close()


def poison_envelopes(namespace: str) -> list[tuple[str, bytes, bytes]]:
    at = datetime(2025, 6, 1, 12, tzinfo=timezone.utc)
    no_sex = wrap(pop.PersonRegistered(person_id="bad-1", attributes=pop.PersonAttributes(
        birth_date="1980-01-01", municipality_nis_code="11002", education_level=1, birth_country_group=1,
        labour_status=1)), aggregate_type="person", aggregate_id="bad-1", aggregate_version=1,
        producer="population", occurred_at=at)
    hours = wrap(acc.BudgetReserved(account_id="a-1", person_id="P0000001", reservation_id="hours-1",
                                    enrolment_id="E-h", amount=40, unit="HOUR"),
                 aggregate_type="account", aggregate_id="a-1", aggregate_version=1, producer="accounts", occurred_at=at)
    opened = wrap(acc.AccountOpened(account_id="a-1", person_id="P0000001", opened_on="2025-06-01"),
                  aggregate_type="account", aggregate_id="a-1", aggregate_version=2, producer="accounts", occurred_at=at)
    return [
        (f"{namespace}llr.population.v1.events", b"bad-1", no_sex.SerializeToString()),
        (f"{namespace}llr.enrolments.v1.events", b"junk", b"\xff\x00 not an envelope"),
        (f"{namespace}llr.accounts.v1.events", b"a-1", hours.SerializeToString()),
        (f"{namespace}llr.accounts.v1.events", b"a-1", opened.SerializeToString()),
    ]


@pytest.fixture(scope="module")
def world(start_kpi, kafka, tokens):
    """A service fed 2,500 synthetic persons plus redeliveries and poison, caught up."""
    namespace = f"t{uuid.uuid4().hex[:10]}."
    kpi = start_kpi(namespace, f"kpi-{namespace}")
    events = generate(SyntheticConfig(persons=2500, enrolments=2500, certificates=300, seed=11))
    redelivered = events[::17]  # at-least-once: some events arrive twice
    produce(kafka, namespace, events + redelivered, poison_envelopes(namespace))
    expected = as_pb(expected_cells(read_source_partitions(kafka, namespace), kpi.settings))
    try:
        wait_for(lambda: served(kpi.list_all(tokens["consumer"])) == expected, 120, "the recount to be served")
    except AssertionError:
        got = served(kpi.list_all(tokens["consumer"]))
        diff = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
        raise AssertionError(f"{len(diff)} cells differ, e.g. {diff[:5]}\n{kpi.log()}")
    return kpi, namespace, expected, events


def test_serves_exactly_the_batch_recount_with_small_cells_suppressed(world, tokens):
    kpi, _, expected, _ = world
    cells = kpi.list_all(tokens["consumer"])
    assert served(cells) == expected
    kpis = {c.kpi for c in cells}
    assert {"participation_4w", "participation_12m", "leercoach_guided_share_12m", "provider_completion_rate",
            "career_cheque_uptake", "budget_reserved_cents", "certified_mentors"} <= kpis
    suppressed = [c for c in cells if c.suppressed]
    published = [c for c in cells if not c.suppressed]
    assert suppressed and published
    for c in suppressed:  # no numbers at all, not even zeros on the wire
        assert not c.HasField("numerator") and not c.HasField("denominator") and c.rate == ""
    for c in published:
        if c.HasField("denominator"):
            assert c.denominator >= 100 and c.rate == f"{c.numerator}/{c.denominator}"
    flanders = kpi.stub.Get(api.GetRequest(kpi="participation_12m", cell="region=flanders"),
                            metadata=bearer(tokens["regisseur"]), timeout=10).cell
    assert not flanders.suppressed and 0 < flanders.numerator < flanders.denominator
    assert flanders.reference_date == max(c.reference_date for c in cells)


def test_poison_goes_to_the_dead_letter_topics_with_the_reason(world, kafka):
    _, namespace, _, _ = world
    population = topic_records(kafka, f"{namespace}llr.population.v1.events.dlq", lambda s: len(s) >= 1)
    reasons = [dict(r.headers)["dlq.reason"].decode() for r in population]
    assert any("attributes.sex" in r for r in reasons), reasons
    junk = b"\xff\x00 not an envelope"
    enrolments = topic_records(kafka, f"{namespace}llr.enrolments.v1.events.dlq",
                               lambda s: any(r.value == junk for r in s))
    record = next(r for r in enrolments if r.value == junk)
    assert "undecodable" in dict(record.headers)["dlq.reason"].decode()
    # events too late for their partition are dead-lettered with the reason, not applied
    late = [dict(r.headers)["dlq.reason"].decode() for r in enrolments if r.value != junk]
    assert all(reason.startswith("late: ") for reason in late)


def test_the_compacted_topic_carries_the_served_cells(world, kafka, tokens):
    kpi, namespace, expected, _ = world

    def latest(records):
        values = {}
        for r in records:
            values[tuple(r.key.decode().split("|", 1))] = r.value
        return {k: v for k, v in values.items() if v is not None}

    topic = f"{namespace}llr.kpi.v1.cells"
    def as_served(records):
        return {k: kpi_pb2.KpiCell.FromString(v).SerializeToString(deterministic=True)
                for k, v in latest(records).items()}

    records = topic_records(kafka, topic, lambda s: as_served(s) == expected)
    assert as_served(records) == expected
    history = topic_records(kafka, f"{namespace}llr.kpi.v1.history", lambda s: len(s) >= 6)
    for r in history:
        cell = kpi_pb2.KpiCell.FromString(r.value)
        assert cell.kpi in ("participation_4w", "participation_12m")
        assert r.key.decode() == f"{cell.kpi}|{cell.cell}|{cell.reference_date}"
    for r in records + history:  # aggregates only: no person id ever leaves
        assert not PERSON_ID.search(r.key) and not PERSON_ID.search(r.value or b"")


def test_list_filters_and_paginates(world, tokens):
    kpi, _, expected, _ = world
    meta = bearer(tokens["consumer"])
    provinces = kpi.list_all(tokens["consumer"], kpi="participation_4w", cell_prefix="province=")
    assert [c.cell for c in provinces] == ["province=10000", "province=20001", "province=30000", "province=40000",
                                          "province=70000"]
    pages, token = [], ""
    while True:
        reply = kpi.stub.List(api.ListRequest(page_size=7, page_token=token), metadata=meta, timeout=10)
        pages.append(list(reply.cells))
        token = reply.next_page_token
        if not token:
            break
    assert all(len(p) == 7 for p in pages[:-1]) and len(pages) == -(-len(expected) // 7)
    assert [(c.kpi, c.cell) for p in pages for c in p] == sorted(expected)


@pytest.mark.parametrize("request_, field", [
    (api.GetRequest(cell="region=flanders"), "kpi"),
    (api.GetRequest(kpi="participation_4w"), "cell"),
    (api.ListRequest(page_size=5000), "page_size"),
    (api.ListRequest(page_token="@@not-a-token"), "page_token"),
])
def test_bad_input_is_invalid_argument_naming_the_field(world, tokens, request_, field):
    kpi, *_ = world
    method = kpi.stub.Get if isinstance(request_, api.GetRequest) else kpi.stub.List
    with pytest.raises(grpc.RpcError) as err:
        method(request_, metadata=bearer(tokens["consumer"]), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field}:")


def test_unknown_cell_is_not_found(world, tokens):
    kpi, *_ = world
    with pytest.raises(grpc.RpcError) as err:
        kpi.stub.Get(api.GetRequest(kpi="participation_4w", cell="province=99999"),
                     metadata=bearer(tokens["consumer"]), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_only_kpi_consumers_and_the_regisseur_read_kpis(world, tokens):
    kpi, *_ = world
    get = api.GetRequest(kpi="participation_4w", cell="region=flanders")
    with pytest.raises(grpc.RpcError) as err:
        kpi.stub.Get(get, metadata=bearer(tokens["provider"]), timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        list(kpi.stub.Subscribe(api.SubscribeRequest(), metadata=bearer(tokens["provider"]), timeout=10))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        kpi.stub.List(api.ListRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read()


def with_history(kpi) -> dict:
    """The participation trends once the month-end history is served."""
    def ready():
        data = json.loads(fetch(kpi.url + "/api/participation.json"))
        return data if len(data["kpis"]["participation_12m"]["series"][0]["points"]) >= 4 else None
    return wait_for(ready, 60, "the month-end history")


# Person-level values of the synthetic feed (its ids, and the aggregates' raw material): none may appear.
PERSON_LEVEL = re.compile(rb"\bP\d{7}\b|\bacc-|\bE\d{8}\b|\bR\d{8}\b|\bLC\d{7}\b|\bC\d{6}\b|\bev-\d{9}\b")


def assert_no_person_level_value(body: bytes, events) -> None:
    assert not PERSON_LEVEL.search(body), PERSON_LEVEL.search(body)
    births = {e.birth_date.isoformat().encode() for e in events if getattr(e, "birth_date", None)}
    assert not [b for b in births if b in body]


def test_dashboard_data_is_aggregates_only(world):
    kpi, _, _, events = world
    data = with_history(kpi)
    for path in ("/", "/api/participation.json", "/api/dashboard.json"):
        assert_no_person_level_value(fetch(kpi.url + path), events)
    assert [t["value"] for t in data["kpis"]["participation_4w"]["targets"]] == [0.15, 0.30]
    assert [t["value"] for t in data["kpis"]["participation_12m"]["targets"]] == [0.60]
    flanders = data["kpis"]["participation_12m"]["series"][0]
    assert flanders["cell"] == "region=flanders" and flanders["points"][-1]["date"] == data["reference_date"]
    for series in data["kpis"]["participation_4w"]["series"]:
        for point in series["points"]:
            assert point["suppressed"] == ("rate" not in point) == ("numerator" not in point)


# The figures as the dashboard shows them (see services/kpi/entrypoints/dashboard_html.py).
FIGURE = re.compile(r'<span class="(kpi(?: suppressed| missing)?|kpi-n)" data-kpi="([^"]+)" data-cell="([^"]+)">'
                    r'([^<]*)</span>')


def shown_as(cell) -> tuple[str, str]:
    """(value, counts) the page must show for a KPI API cell, written down here independently."""
    if cell is None:
        return "no data", ""
    if cell.suppressed:
        return "suppressed", ""
    if cell.kpi.startswith("career_outcome_change_"):  # a mean change, in points of the outcome scale
        return f"{cell.numerator / cell.denominator:+.2f} points", ""
    if cell.HasField("denominator"):
        return f"{100 * cell.numerator / cell.denominator:.1f}%", f"{cell.numerator:,} of {cell.denominator:,}"
    if cell.kpi.endswith("_cents"):
        return f"EUR {cell.numerator // 100:,}.{cell.numerator % 100:02d}", ""
    return f"{cell.numerator:,}", ""


def test_dashboard_figures_equal_the_kpi_api(world, tokens, tmp_path):
    kpi, *_ = world
    with_history(kpi)

    def served_now():
        return ({(c.kpi, c.cell): c for c in kpi.list_all(tokens["consumer"])},
                json.loads(fetch(kpi.url + "/api/participation.json")))

    def page_and_cells():
        """The page as headless Chromium rendered it, with what the API served around it."""
        before = served_now()
        dom = chromium(kpi.url + "/", "--dump-dom", tmp=tmp_path, window=(1280, 800)).stdout.decode()
        return (dom, *before) if served_now() == before else None
    dom, cells, data = wait_for(page_and_cells, 60, "a quiet moment of the KPI service", pause_s=1)
    reference_date = next(iter(cells.values())).reference_date
    assert f'id="ref">{reference_date}<' in dom

    figures = [tuple(html.unescape(part) for part in found) for found in FIGURE.findall(dom)]
    assert len(figures) > 100
    assert {kind for kind, *_ in figures} >= {"kpi", "kpi suppressed", "kpi-n"}
    for kind, name, label, text in figures:
        value, counts = shown_as(cells.get((name, label)))
        if kind == "kpi-n":  # "numerator of denominator"
            assert counts and text == counts, (name, label, text, counts)
        else:
            assert text == value, (name, label, text, value)
    on_page = {(name, label) for _, name, label, _ in figures}
    headline = [("participation_4w", "region=flanders"), ("participation_12m", "region=flanders"),
                ("leercoach_guided_share_12m", "region=flanders"), ("career_cheques_bought", "region=flanders"),
                ("career_cheque_uptake", "region=flanders"), ("budget_credited_cents", "region=flanders"),
                ("budget_captured_cents", "region=flanders"), ("provider_completion_rate", "region=flanders"),
                ("provider_cancellation_rate", "region=flanders")]
    assert set(headline) <= on_page
    # every breakdown of participation, every provider and organisation with a published figure, every outcome
    breakdowns = ("province=", "age_band=", "sex=", "education=", "birth_country=", "labour_status=",
                  "work_disability=", "municipality=")
    for key, cell in cells.items():
        if key[0].startswith("participation") and key[1].startswith(breakdowns):
            assert key in on_page, key
        if key[0] in ("career_cheque_outcome", "leercoach_guided_share_12m") or (
                key[1].startswith(("provider=", "organisation=")) and not cell.suppressed):
            assert key in on_page, key
    # derived figures: two published API figures divided
    credited = cells[("budget_credited_cents", "region=flanders")]
    captured = cells[("budget_captured_cents", "region=flanders")]
    used = f"{100 * captured.numerator / credited.numerator:.1f}%"
    assert f'data-of="budget_captured_cents/budget_credited_cents">{used}<' in dom

    # the trend charts: a dot per published point, a line through them, a target line per target
    for kpi_name, spec in data["kpis"].items():
        chart = dom.split(f'id="chart-{kpi_name}"', 1)[1].split("</svg>", 1)[0]
        assert chart.count('class="target"') == len(spec["targets"])
        for series in spec["series"]:
            published = [p for p in series["points"] if not p["suppressed"]]
            assert chart.count(f'class="point" data-cell="{series["cell"]}"') == len(published)
            if len(published) >= 2:
                path = re.search(r'<path d="([^"]+)"[^>]*data-cell="%s"' % re.escape(series["cell"]), chart)
                assert path and path.group(1).count("L") >= 1
            last = series["points"][-1]
            api = cells[(kpi_name, series["cell"])]
            assert last["date"] == api.reference_date and last["suppressed"] == api.suppressed
            if not api.suppressed:
                assert (last["numerator"], last["denominator"]) == (api.numerator, api.denominator)


# Runs in the page: opens every <details>, then reports to the framing page the page's width against
# its window's, every element that reaches beyond the window or whose content is wider than its box
# (cards, tables, charts), and every chart text that is not wholly inside its drawing.
LAYOUT_PROBE = """
document.querySelectorAll("details").forEach(function (d) { d.open = true; });
var cut = [], wider = [], charts = 0;
document.querySelectorAll("svg.chart").forEach(function (svg) {
  if (!svg.getBoundingClientRect().width) return;  /* the other frame, hidden at this width */
  charts += 1;
  var box = svg.viewBox.baseVal;
  svg.querySelectorAll("text").forEach(function (t) {
    var b = t.getBBox();
    if (b.x < box.x || b.y < box.y || b.x + b.width > box.x + box.width || b.y + b.height > box.y + box.height)
      cut.push(svg.id + ": " + t.textContent);
  });
});
document.querySelectorAll("body *").forEach(function (e) {
  if (e.getBoundingClientRect().right > window.innerWidth + 0.5) wider.push(e.tagName + "." + e.className);
});
document.querySelectorAll(".card, .note, figure, table, td, th").forEach(function (e) {
  if (e.scrollWidth > e.clientWidth + 1) wider.push("content wider than its " + e.tagName + "." + e.className);
});
var report = parent.document.createElement("pre");
report.id = "layout-report";
report.textContent = JSON.stringify({page: document.documentElement.scrollWidth, window: window.innerWidth,
                                     charts: charts, cut: cut, wider: wider.slice(0, 10)});
parent.document.body.appendChild(report);
"""


def framed(page: str, width: int, height: int, path: Path) -> tuple[str, tuple[int, int]]:
    """A file that shows ``page`` in a frame of exactly ``width`` x ``height`` CSS pixels at its top left,
    and the browser window to open it in: headless Chromium lays a page out at least 500 px wide, so a
    phone's width needs a frame."""
    path.write_text(f'<!doctype html><html><body style="margin:0"><iframe style="border:0;display:block" '
                    f'width="{width}" height="{height}" srcdoc="{html.escape(page, quote=True)}"></iframe>'
                    f'</body></html>')
    return path.as_uri(), (max(width, 500), height)


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_dashboard_fits_the_screen_in_headless_chromium(world, tmp_path, width, height):
    kpi, *_ = world
    data = with_history(kpi)
    page = fetch(kpi.url + "/").decode()
    url, window = framed(page.replace("</body>", f"<script>{LAYOUT_PROBE}</script></body>"), width, height,
                         tmp_path / "probe.html")
    dom = chromium(url, "--dump-dom", tmp=tmp_path, window=window).stdout.decode()
    report = json.loads(html.unescape(re.search(r'<pre id="layout-report">(.*?)</pre>', dom, re.S).group(1)))
    assert report["window"] == width and report["page"] <= width, report  # no horizontal scrolling
    assert report["wider"] == [] and report["cut"] == [] and report["charts"] == 2, report

    url, window = framed(page, width, height, tmp_path / "page.html")
    shot = tmp_path / f"dashboard-{width}.png"
    chromium(url, f"--screenshot={shot}", tmp=tmp_path, window=window)
    image = Image.open(shot).convert("RGB").crop((0, 0, width, height))
    pixels = Counter(image.get_flattened_data())

    def near(colour: str) -> int:
        r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
        return sum(n for (pr, pg, pb), n in pixels.items() if abs(pr - r) + abs(pg - g) + abs(pb - b) <= 24)
    assert near("#0b3d5c") > 1000  # the page header
    if width >= 1000:  # the charts are above the fold: every drawn series shows its colour
        drawn = {s["cell"]: near(s["colour"]) for s in data["kpis"]["participation_12m"]["series"]
                 if any(not p["suppressed"] for p in s["points"])}
        assert "region=flanders" in drawn
        assert all(n >= 40 for n in drawn.values()), drawn


def test_subscribe_sends_the_snapshot_then_each_change(world, kafka, tokens):
    kpi, namespace, expected, events = world
    request = api.SubscribeRequest(kpi="participation_4w", cell_prefix="region=")
    with subscription(kpi, tokens["consumer"], request) as received:
        wait_for(lambda: received, 10, "the snapshot")
        before = received[0].cell
        assert received[0].snapshot and before.cell == "region=flanders"

        # 30 residents of Antwerpen who start a course on the reference date: Flanders' 4-week rate moves.
        ref = date.fromisoformat(before.reference_date)
        at = datetime.combine(ref, dtime(23, 0), timezone.utc)
        new = []
        for i in range(30):
            pid, enr = f"N{i:07d}", f"EN{i:07d}"
            new += [
                ev.PersonRegistered(event_id=f"new-p-{i}", occurred_at=at, person_id=pid, birth_date=date(1990, 1, 1),
                                    sex=ev.Sex.MALE, nis_code="11002", education_level=ev.EducationLevel.HIGH,
                                    birth_country_group=ev.BirthCountryGroup.BE, labour_status=ev.LabourStatus.EMPLOYED,
                                    work_disability=False),
                ev.EnrolmentRequested(event_id=f"new-r-{i}", occurred_at=at, enrolment_id=enr, person_id=pid,
                                      provider_id="PRV001", offer_id="OF1", instrument="training_budget",
                                      planned_start=ref, planned_end=ref + timedelta(days=10)),
                ev.EnrolmentStarted(event_id=f"new-s-{i}", occurred_at=at, enrolment_id=enr, start_date=ref),
            ]
        produce(kafka, namespace, new)
        # every change is pushed as it is read out (possibly in steps while the 90 events are folded)
        wanted = (before.numerator + 30, before.denominator + 30)
        wait_for(lambda: (received[-1].cell.numerator, received[-1].cell.denominator) == wanted, 60, "the update")
        updates = received[1:]
        assert updates and all(not r.snapshot for r in updates)
        assert all((r.cell.kpi, r.cell.cell) == ("participation_4w", "region=flanders") for r in updates)
        # each push is a change (a readout between a registration and its start moves only the numerator), and the
        # counts only grow while residents are added
        pairs = [(r.cell.numerator, r.cell.denominator) for r in updates]
        assert all(a != b for a, b in zip(pairs, pairs[1:])), pairs
        assert pairs == sorted(pairs, key=lambda p: (p[1], p[0]))
        assert [n for n, _ in pairs] == sorted(n for n, _ in pairs)


def test_sigterm_stops_the_process_cleanly(world):
    kpi, *_ = world
    assert kpi.stop() == 0
    assert "kpi stopped" in kpi.log()
