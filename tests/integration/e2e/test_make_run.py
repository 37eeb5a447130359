"""``make run`` end to end, scaled down: ``python -m infra.run`` (what ``make run`` executes) starts
the four services on the test session's Kafka and FerretDB, feeds a synthetic Flanders, simulates
a whole year through the public gRPC APIs, prints the endpoints and keeps running. The KPI API and
the dashboard must then show non-suppressed 12-month participation rates for all five provinces,
equal to an independent recount of the source events on the broker; SIGTERM stops everything.

The run is isolated from a developer's ``make run`` by its own ports, topic namespace, databases,
faust app id and state directory, all passed as the services' ``LLR_*`` environment variables.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc

from llr.enrolments.v1 import enrolments_service_pb2 as enr_api
from llr.enrolments.v1 import enrolments_service_pb2_grpc as enr_grpc
from llr.kpi.v1 import kpi_service_pb2 as api
from llr.kpi.v1 import kpi_service_pb2_grpc as api_grpc
from services.cli.connect import token
from services.common.auth import Role
from services.common.grpc_server import bearer
from services.kpi.adapters.cells import to_pb
from services.kpi.domain.geography import PROVINCES
from services.kpi.settings import KpiSettings
from tests.integration.e2e.conftest import SERVICES, Platform, listening
from tests.integration.kpi.conftest import chromium, expected_cells, read_source_partitions, wait_for

REPO = Path(__file__).resolve().parents[3]
PARTICIPATION = ("participation_4w", "participation_12m")
# Scaled down: 2,000 adults (about 1,230 aged 25-64 at the end of the year, the smallest province
# about 160 of them, of whom the calibrated 22.4% learn: about 36), a year of 365 simulated days
# at 0.6 s each, make run's own pace. (At 0.4 s a loaded 2-core machine fell 13 simulated days
# behind in one loop pass while accounts were still opening, 73 starts came after their
# 3-working-day deadline and 12-month participation fell to 18.7%.)
DEMO = {"LLR_DEMO_PERSONS": "2000", "LLR_DEMO_DAYS": "365", "LLR_DEMO_SECONDS_PER_DAY": "0.6",
        "LLR_DEMO_SEED": "7", "LLR_DEMO_LEERCOACHES": "12", "LLR_DEMO_MENTORS": "4"}


def test_make_run_simulates_a_year_and_shows_province_participation_equal_to_a_recount(
        platform_env, kafka, tmp_path):
    env = {**platform_env, **DEMO}
    platform = Platform(env)
    try:
        wait_for(lambda: platform.printed("platform running"), 900, "the simulated year to finish", pause_s=1)
        out = platform.output()
        posted = int(re.search(r"enrolments_posted\s+(\d+)", out).group(1))
        assert 250 <= posted <= 550, out
        assert f"http://127.0.0.1:{env['LLR_KPI_DASHBOARD_PORT']}/" in out
        for name in SERVICES:
            assert f"127.0.0.1:{env[f'LLR_{name.upper()}_GRPC_PORT']}" in out

        kpi_settings = KpiSettings(topic_namespace=env["LLR_KPI_TOPIC_NAMESPACE"])
        channel = grpc.insecure_channel(f"127.0.0.1:{env['LLR_KPI_GRPC_PORT']}")
        stub = api_grpc.KpiServiceStub(channel)
        auth = bearer(token("statbel", Role.KPI_CONSUMER))

        def served() -> dict:
            cells = {}
            for kpi in PARTICIPATION:
                reply = stub.List(api.ListRequest(kpi=kpi, page_size=1000), metadata=auth, timeout=30)
                assert not reply.next_page_token
                cells.update({(c.kpi, c.cell): c for c in reply.cells})
            return cells

        def recount() -> dict:
            logs = read_source_partitions(kafka, kpi_settings.topic_namespace)
            return {(c.kpi, c.cell): to_pb(c) for c in expected_cells(logs, kpi_settings) if c.kpi in PARTICIPATION}

        # The services keep running (deadlines may still fire), so compare once the projection has
        # caught up: the same participation cells, byte for byte, as the recount of the broker's log.
        def caught_up():
            expected, actual = recount(), served()
            same = {k: v.SerializeToString(deterministic=True) for k, v in expected.items()} == \
                   {k: v.SerializeToString(deterministic=True) for k, v in actual.items()}
            return expected if same else None
        expected = wait_for(caught_up, 180, "the KPI service to serve the recount", pause_s=2)

        provinces = {code: expected[("participation_12m", f"province={code}")] for code in PROVINCES}
        summary = out[out.find("persons"):]
        print(summary, {code: f"{c.numerator}/{c.denominator}" for code, c in provinces.items()})
        for code, cell in provinces.items():
            assert not cell.suppressed, (code, cell, summary)
            assert cell.denominator >= 100 and 10 <= cell.numerator < cell.denominator, (code, cell, summary)
        assert expected[("participation_12m", "region=flanders")].reference_date >= "2025-12"
        # Calibrated to Flanders' published rates (services/demo/calibration.py): 22.4% in the last
        # 12 months, 8.6% in the last 4 weeks.
        flanders = {kpi: expected[(kpi, "region=flanders")] for kpi in PARTICIPATION}
        rates = {kpi: cell.numerator / cell.denominator for kpi, cell in flanders.items()}
        assert abs(rates["participation_12m"] - 0.224) < 0.01, (rates, summary)
        assert abs(rates["participation_4w"] - 0.086) < 0.015, (rates, summary)
        assert int(re.search(r"rejected_for_funding\s+(\d+)", out).group(1)) > 0, summary
        # The budget opening: more applicants than grants, every grant given by the lottery.
        opening = re.search(r"budget_opening\s+(\d+)\s+applications\s+for\s+(\d+)\s+grants\s+of\s+EUR\s+250;\s+"
                            r"(\d+)\s+granted\s+by\s+lottery", out)   # \s+: the summary wraps at 80 columns
        assert opening and int(opening.group(1)) > int(opening.group(2)) == int(opening.group(3)) > 0, summary
        # The demo's payment system paid most payables, some after their due date, and left some
        # unpaid: the regisseur sees overdue amounts and payment terms per provider.
        paid, late = map(int, re.search(r"payables_paid\s+(\d+) \((\d+) after", out).groups())
        assert paid > 0 and late > 0, summary
        enrolments = enr_grpc.EnrolmentServiceStub(grpc.insecure_channel(f"127.0.0.1:{env['LLR_ENROLMENTS_GRPC_PORT']}"))
        terms = enrolments.GetPaymentTermStats(enr_api.GetPaymentTermStatsRequest(page_size=500),
                                               metadata=bearer(token("vdab", Role.REGISSEUR)), timeout=30).providers
        assert sum(t.paid for t in terms) >= paid and sum(t.overdue_cents for t in terms) > 0, terms
        assert any(t.term_days_p95 > 30 for t in terms), terms

        dashboard = f"http://127.0.0.1:{env['LLR_KPI_DASHBOARD_PORT']}"
        def participation() -> dict:
            return json.loads(urllib.request.urlopen(dashboard + "/api/participation.json", timeout=10).read())

        def page_and_data() -> tuple[str, dict] | None:
            """The rendered page with the data it drew (the history may gain a point meanwhile)."""
            before = participation()
            dom = chromium(dashboard + "/", "--dump-dom", tmp=tmp_path).stdout.decode()
            return (dom, before) if participation() == before else None
        dom, data = wait_for(page_and_data, 120, "a quiet moment of the dashboard", pause_s=1)
        series = {s["cell"]: s for s in data["kpis"]["participation_12m"]["series"]}
        for code, cell in provinces.items():
            last = series[f"province={code}"]["points"][-1]
            assert last["date"] == data["reference_date"] == cell.reference_date
            assert (last["suppressed"], last["numerator"], last["denominator"]) == \
                   (False, cell.numerator, cell.denominator), code
        chart = dom.split('id="chart-participation_12m"', 1)[1].split("</svg>", 1)[0]
        for code in PROVINCES:
            published = [p for p in series[f"province={code}"]["points"] if not p["suppressed"]]
            assert chart.count(f'class="point" data-cell="province={code}"') == len(published) >= 1
        channel.close()

        # The CLI against the same running platform, as a KPI consumer and as the regisseur.
        def cli(*args: str) -> str:
            done = subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=REPO, capture_output=True,
                                  text=True, timeout=60, env={**env, "COLUMNS": "250"})
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout
        listed = cli("kpi", "list", "--kpi", "participation_12m", "--cell", "province=", "--as", "statbel:KPI_CONSUMER")
        for code, cell in provinces.items():
            assert f"province={PROVINCES[code]}" in listed and f"{cell.numerator}/{cell.denominator}" in listed, listed
        shown = cli("account", "show", "pp-7-0000001", "--as", "vdab:REGISSEUR")
        assert "TRAINING_BUDGET" in shown and "the sum of these entries" in shown and "CREDIT" in shown, shown
    finally:
        code = platform.stop()
    assert code == 0, platform.output()[-6000:]
    assert platform.lines[-1] == "stopped"
    ports = [int(env[f"LLR_{name.upper()}_GRPC_PORT"]) for name in SERVICES] + [int(env["LLR_KPI_DASHBOARD_PORT"])]
    assert not [p for p in ports if listening(p)], "a service still listens after Ctrl-C"
