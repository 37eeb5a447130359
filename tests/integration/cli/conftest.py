"""The CLI against the running platform: ``python -m infra.run --no-demo`` in an environment
isolated from a developer's ``make run`` (own ports, topic namespace, databases, KPI state, run
record and logs), seeded through the public interfaces with what the CLI cannot create itself
(persons on the population feed, an offer). The KPI service publishes every cell here
(no disclosure thresholds), so that a handful of persons shows numbers."""
from __future__ import annotations

import uuid
from pathlib import Path
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import grpc
import pytest
from typer.testing import CliRunner

from llr.accounts.v1 import accounts_service_pb2 as acc
from llr.accounts.v1 import accounts_service_pb2_grpc as acc_rpc
from llr.enrolments.v1 import enrolments_service_pb2 as enr
from llr.enrolments.v1 import enrolments_service_pb2_grpc as enr_rpc
from services.cli.connect import token
from services.cli.main import app
from services.common.auth import Role
from services.common.clock import SystemClock
from services.common.grpc_server import bearer
from services.common.mongo import make_client
from services.demo import population
from tests.integration.e2e.conftest import SERVICES, Platform
from tests.integration.kpi.conftest import wait_for
from infra import runstate
from infra.run import isolated_environment

PROVIDER = "prov-cli-test"


@dataclass
class CliPlatform:
    env: dict[str, str]
    persons: list[str]          # on the population feed, with an account
    offer_id: str
    today: date   # the platform's date: its clock is pinned to this day (see cli_platform)

    def now(self) -> datetime:
        """The platform's time now (its run record's clock)."""
        return runstate.load(Path(self.env["LLR_RUN_RECORD_FILE"])).platform_clock().now()

    def stub(self, service: str, module, name: str):
        channel = grpc.insecure_channel(f"127.0.0.1:{self.env[f'LLR_{service.upper()}_GRPC_PORT']}")
        return getattr(module, f"{name}Stub")(channel)


def llr_env(env: dict[str, str]) -> dict[str, str]:
    """What the CLI needs to find this platform: its ports (and the key home)."""
    return {k: v for k, v in env.items() if k.startswith("LLR_")}


@pytest.fixture(scope="session")
def cli_platform(stack, tmp_path_factory):
    run_id = f"cli{uuid.uuid4().hex[:8]}"
    state = tmp_path_factory.mktemp("cli-platform")
    env = isolated_environment(stack, stack.settings.mongo_uri, run_id, state / "kpi")
    env.update({"LLR_KPI_READOUT_INTERVAL_S": "0.5", "LLR_KPI_DISCLOSURE_MIN_NUMERATOR": "0",
                "LLR_KPI_DISCLOSURE_MIN_DENOMINATOR": "1",
                "LLR_ACCOUNTS_OPENING_DRAW_SETTLE_S": "0.5", "LLR_KPI_SIGNALS_INTERVAL_S": "0.5"})
    # The platform's day is pinned: its clock starts at one minute past midnight (UTC) of today
    # and runs at real speed, so a run that crosses midnight keeps one "today" (CI did cross it).
    today = datetime.now(timezone.utc).date()
    env["LLR_RUN_START_AT"] = datetime.combine(today, time(0, 1), timezone.utc).isoformat()
    platform = Platform(env, "--no-demo")
    try:
        wait_for(lambda: platform.printed("platform running"), 300, "the platform to be ready", pause_s=1)
        people = [p for p in population.generate(60, 3, today) if 25 <= (today - p.birth_date).days // 365 <= 64]
        assert len(people) >= 20, "the seed population has too few adults of working age"
        population.publish(people, SystemClock(), kafka=stack.kafka_access("population-feed"),
                           topic=f"{run_id}.llr.population.v1.events")
        regisseur = bearer(token("vdab", Role.REGISSEUR))
        accounts = acc_rpc.AccountServiceStub(grpc.insecure_channel(f"127.0.0.1:{env['LLR_ACCOUNTS_GRPC_PORT']}"))

        def opened(person_id: str) -> bool:
            try:
                accounts.GetAccount(acc.GetAccountRequest(person_id=person_id), metadata=regisseur)
                return True
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.NOT_FOUND, err
                return False
        wait_for(lambda: all(opened(p.person_id) for p in people), 120, "the accounts to open", pause_s=0.5)
        enrolments = enr_rpc.EnrolmentServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{env['LLR_ENROLMENTS_GRPC_PORT']}"))
        enrolments.AccreditProvider(enr.AccreditProviderRequest(
            request_id="cli-seed-provider", provider_id=PROVIDER, name="CLI Test Opleidingen"), metadata=regisseur)
        offer = enrolments.CreateOffer(enr.CreateOfferRequest(
            request_id="cli-seed-offer", title="Boekhouden voor kleine ondernemingen met een lange titel", price_cents=45_000,
            hours=30, earliest_start=today.isoformat(), latest_start=(today + timedelta(days=200)).isoformat(),
            instruments=[enr.FUNDING_INSTRUMENT_TRAINING_BUDGET]),
            metadata=bearer(token(PROVIDER, Role.PROVIDER))).offer
        # One enrolment, so that the budget KPIs have something to show.
        enrolments.CreateEnrolment(enr.CreateEnrolmentRequest(
            request_id="cli-seed-enrolment", person_id=people[-1].person_id, offer_id=offer.offer_id,
            planned_start=(today + timedelta(days=100)).isoformat(),
            planned_end=(today + timedelta(days=130)).isoformat(), instrument=enr.FUNDING_INSTRUMENT_TRAINING_BUDGET,
            provider_reference="CLI-SEED-1"), metadata=bearer(token(PROVIDER, Role.PROVIDER)))
        yield CliPlatform(env, [p.person_id for p in people[:-1]], offer.offer_id, today)
    finally:
        code = platform.stop()
        client = make_client(stack.settings.mongo_uri)
        for name in SERVICES:
            client.drop_database(env[f"LLR_{name.upper()}_MONGO_DB"])
        client.close()
        assert code == 0, platform.output()[-4000:]


@pytest.fixture
def llr(cli_platform):
    """Run ``llr ARGS`` in-process against the platform; returns (exit code, stdout, stderr)."""
    runner = CliRunner()
    env = {**llr_env(cli_platform.env), "COLUMNS": "250"}

    def run(*args: str, stdin: str | None = None):
        result = runner.invoke(app, list(args), env=env, input=stdin, prog_name="llr")
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr
    return run
