"""``make run`` again and again in one checkout: the second start reaches the same ready state.

A small demo (300 adults, 60 simulated days) runs once through ``python -m infra.run``; after
SIGTERM the same command starts again on the same data: it says that it resumes the demo instead
of replaying it, reaches "platform running", and the KPI service shows the picture that was left
(same reference date, same participation cells). A third start with ``--no-demo`` stays on the
demo's time line too (the real clock would move the reference date to today). Isolated from a
developer's ``make run`` like the end-to-end test: own ports, namespace, databases, state and run
record.
"""
from __future__ import annotations

import grpc

from llr.kpi.v1 import kpi_service_pb2 as api
from llr.kpi.v1 import kpi_service_pb2_grpc as api_grpc
from services.cli.connect import token
from services.common.auth import Role
from services.common.grpc_server import bearer
from tests.integration.e2e.conftest import SERVICES, Platform, listening
from tests.integration.kpi.conftest import wait_for

# Small and short: about 25 s of set-up and 15 s of simulated days, in which the calibrated plan
# has 22.4% of the 25-64-year-olds start a course (posted from the first day on).
DEMO = {"LLR_DEMO_PERSONS": "300", "LLR_DEMO_DAYS": "60", "LLR_DEMO_SECONDS_PER_DAY": "0.25",
        "LLR_DEMO_SEED": "11", "LLR_DEMO_LEERCOACHES": "4", "LLR_DEMO_MENTORS": "2",
        # So few persons would suppress every cell: publish the numbers, so that "the same" means something.
        "LLR_KPI_DISCLOSURE_MIN_NUMERATOR": "0", "LLR_KPI_DISCLOSURE_MIN_DENOMINATOR": "1"}


def run_until_ready(env: dict[str, str], *args: str) -> Platform:
    platform = Platform(env, *args)
    wait_for(lambda: platform.printed("platform running"), 600, "the platform to be ready", pause_s=1)
    return platform


def stop(platform: Platform) -> str:
    code = platform.stop()
    out = platform.output()
    assert code == 0 and platform.lines[-1] == "stopped", out[-4000:]
    return out


def kpi_picture(env: dict[str, str]) -> dict:
    """The participation cells the KPI service serves once it has read out its state."""
    with grpc.insecure_channel(f"127.0.0.1:{env['LLR_KPI_GRPC_PORT']}") as channel:
        stub = api_grpc.KpiServiceStub(channel)
        auth = bearer(token("statbel", Role.KPI_CONSUMER))

        def cells():
            try:
                reply = stub.List(api.ListRequest(kpi="participation_12m", page_size=1000), metadata=auth, timeout=10)
            except grpc.RpcError:
                return None
            found = {c.cell: (c.reference_date, c.suppressed, c.numerator, c.denominator) for c in reply.cells}
            return found if "region=flanders" in found else None
        return wait_for(cells, 120, "the KPI service to serve participation_12m", pause_s=1)


def settled_kpi_picture(env: dict[str, str]) -> dict:
    """The picture once two looks a few seconds apart agree (the last events are folded)."""
    seen: list[dict] = []

    def same_twice():
        seen.append(kpi_picture(env))
        return seen[-1] if len(seen) > 1 and seen[-1] == seen[-2] else None
    return wait_for(same_twice, 120, "the KPI picture to settle", pause_s=3)


def test_make_run_twice_resumes_the_demo_and_shows_the_same_kpis(platform_env):
    env = {**platform_env, **DEMO}
    first = run_until_ready(env)
    try:
        before = settled_kpi_picture(env)
    finally:
        out1 = stop(first)
    assert "fresh data: the demo simulates 60 days from 2025-01-06 (300 persons, seed 11)" in out1
    assert "enrolments_posted" in out1
    reference_date = before["region=flanders"][0]
    assert "2025-02" <= reference_date <= "2025-03-08", reference_date
    assert before["region=flanders"][2] > 0, before

    second = run_until_ready(env)
    try:
        after = kpi_picture(env)
    finally:
        out2 = stop(second)
    assert "resuming: the data holds the demo of 300 persons (seed 11) that simulated 2025-01-06 .. 2025-03-07" \
        in out2, out2[-3000:]
    assert "Synthetic Flanders" not in out2 and "enrolments_posted" not in out2  # no second demo
    assert "error" not in out2.lower(), out2[-3000:]
    assert after == before

    third = run_until_ready(env, "--no-demo")
    try:
        kept = kpi_picture(env)
    finally:
        out3 = stop(third)
    assert "--no-demo on demo data: the platform stays on the demo's time line" in out3, out3[-3000:]
    assert kept["region=flanders"][0] == reference_date
    for out in (out1, out2, out3):  # what each start said it did
        print("\n".join(line for line in out.splitlines() if line.startswith(("fresh", "resuming", "--no-demo",
                                                                               "note", "platform time"))))
    ports = [int(env[f"LLR_{name.upper()}_GRPC_PORT"]) for name in SERVICES] + [int(env["LLR_KPI_DASHBOARD_PORT"])]
    assert not [p for p in ports if listening(p)], "a service still listens after the last stop"
