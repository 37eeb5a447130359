"""How ``make run`` starts on the data of an earlier run (``infra.runstate.plan_start``)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from infra import runstate
from infra.runstate import DEMO, REAL, RecordError, RunRecord, plan_start
from services.common.clock import FakeClock
from services.demo.settings import DemoSettings

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
DEMO_SETTINGS = DemoSettings(persons=300, seed=7, days=30, seconds_per_day=0.2, setup_s=5)


def finished_demo(platform_time: datetime) -> RunRecord:
    record = runstate.fresh_demo_record(DEMO_SETTINGS, NOW - timedelta(days=3))
    record.demo.completed = True
    record.platform_time = platform_time.isoformat()
    return record


def test_fresh_data_runs_the_demo_on_its_accelerated_clock():
    plan = plan_start(None, None, True, DEMO_SETTINGS, NOW)
    assert plan.run_demo and plan.record.kind == DEMO
    clock = plan.record.clock
    assert clock.start == DEMO_SETTINGS.sim_start.isoformat() and clock.speed == DEMO_SETTINGS.speed
    assert datetime.fromisoformat(clock.epoch) == NOW + timedelta(seconds=5)
    assert "fresh data" in plan.messages[0] and "300 persons" in plan.messages[0]


def test_fresh_data_without_demo_runs_on_the_real_clock():
    plan = plan_start(None, None, False, DEMO_SETTINGS, NOW)
    assert not plan.run_demo and plan.record.kind == REAL and plan.record.clock is None
    assert "real clock" in plan.messages[0]


def test_fresh_data_without_demo_can_start_at_a_given_instant_and_resumes_from_where_it_stopped():
    start_at = datetime(2026, 12, 1, 0, 1, tzinfo=timezone.utc)
    plan = plan_start(None, None, False, DEMO_SETTINGS, NOW, start_at)
    assert not plan.run_demo and plan.record.kind == REAL
    clock = plan.record.clock.clock()
    clock.real = FakeClock(NOW + timedelta(hours=23))
    assert clock.now() == start_at + timedelta(hours=23)      # real speed, still 1 December
    assert "2026-12-01 00:01 UTC" in plan.messages[0]
    stopped = plan.record
    stopped.platform_time = (start_at + timedelta(hours=2)).isoformat()
    later = NOW + timedelta(days=3)
    again = plan_start(stopped, None, False, DEMO_SETTINGS, later, start_at)
    resumed = again.record.clock.clock()
    resumed.real = FakeClock(later + timedelta(minutes=5))
    assert resumed.now() == start_at + timedelta(hours=2, minutes=5)


def test_a_finished_demo_is_resumed_where_its_clock_stopped_not_replayed():
    stopped_at = datetime(2025, 2, 5, 9, 30, tzinfo=timezone.utc)
    plan = plan_start(finished_demo(stopped_at), None, True, DEMO_SETTINGS, NOW)
    assert not plan.run_demo
    clock = plan.record.clock.clock()
    # The clock stood still while the platform was stopped and runs at real speed from there
    # (read on a fake real clock: the test must not depend on the day or hour it runs).
    real = clock.real = FakeClock(NOW)
    resumed_at = clock.now()
    assert stopped_at <= resumed_at < stopped_at + timedelta(minutes=1)
    real.advance(timedelta(hours=1))
    assert clock.now() - resumed_at == timedelta(hours=1)
    assert plan.record.clock.speed == 1.0
    said = "\n".join(plan.messages)
    assert "resuming" in said and "2025-01-06 .. 2025-02-05" in said and "2025-02-05 09:30 UTC" in said
    assert "make reset" in said


def test_no_demo_on_demo_data_keeps_the_demo_time_line_so_the_kpis_do_not_jump():
    stopped_at = datetime(2025, 2, 5, 9, 30, tzinfo=timezone.utc)
    plan = plan_start(finished_demo(stopped_at), None, False, DEMO_SETTINGS, NOW)
    assert not plan.run_demo and plan.record.clock is not None
    clock = plan.clock()
    clock.real = FakeClock(NOW)   # read at the instant the plan was made (the test must not depend on today's hour)
    assert clock.now().date() == stopped_at.date()
    assert any("--no-demo on demo data" in m for m in plan.messages)


def test_an_interrupted_demo_is_resumed_and_said_so():
    record = runstate.fresh_demo_record(DEMO_SETTINGS, NOW - timedelta(hours=1))
    record.platform_time = (DEMO_SETTINGS.sim_start + timedelta(days=12, hours=3)).isoformat()
    plan = plan_start(record, None, True, DEMO_SETTINGS, NOW)
    assert not plan.run_demo
    assert "stopped on simulated day 12 of 30" in plan.messages[0]


def test_a_demo_stopped_during_its_set_up_starts_again():
    record = runstate.fresh_demo_record(DEMO_SETTINGS, NOW - timedelta(hours=1))  # platform time: sim_start
    plan = plan_start(record, None, True, DEMO_SETTINGS, NOW)
    assert plan.run_demo and "set-up" in plan.messages[0]


def test_changed_demo_settings_are_named_on_resume():
    other = DemoSettings(persons=500, seed=7, days=30, seconds_per_day=0.2, setup_s=5)
    plan = plan_start(finished_demo(datetime(2025, 2, 5, tzinfo=timezone.utc)), None, True, other, NOW)
    assert any("500 persons" in m and "fresh demo only" in m for m in plan.messages)


def test_data_made_on_the_real_clock_gets_no_demo():
    plan = plan_start(RunRecord(REAL, platform_time=NOW.isoformat()), None, True, DEMO_SETTINGS, NOW)
    assert not plan.run_demo and plan.record.kind == REAL and plan.record.clock is None
    assert "cannot be added" in plan.messages[0]


def test_data_without_a_record_starts_without_demo_and_records_nothing():
    plan = plan_start(None, "database llr_accounts", True, DEMO_SETTINGS, NOW)
    assert not plan.run_demo and plan.record is None
    assert "llr_accounts" in plan.messages[0] and any("make reset" in m for m in plan.messages)


def test_the_record_survives_a_round_trip_and_a_broken_one_is_named(tmp_path):
    path = tmp_path / "data" / "platform-run.json"
    record = finished_demo(datetime(2025, 2, 5, tzinfo=timezone.utc))
    runstate.save(path, record)
    loaded = runstate.load(path)
    assert loaded.demo == record.demo and loaded.clock == record.clock
    assert loaded.platform_time == record.platform_time
    assert runstate.load(tmp_path / "missing.json") is None
    path.write_text("{not json")
    with pytest.raises(RecordError, match="platform-run.json cannot be read"):
        runstate.load(path)


def test_the_clock_environment_puts_every_service_on_the_resumed_clock():
    from infra.run import SERVICE_ORDER, clock_environment

    plan = plan_start(finished_demo(datetime(2025, 2, 5, tzinfo=timezone.utc)), None, True, DEMO_SETTINGS, NOW)
    env = clock_environment(plan.record)
    for name in SERVICE_ORDER:
        assert env[f"LLR_{name.upper()}_SIM_START"] == "2025-02-05T00:00:00+00:00"
        assert env[f"LLR_{name.upper()}_SIM_SPEED"] == "1.0"
    assert "LLR_DEMO_SIM_EPOCH" not in env  # no demo runs on a resumed clock
    assert clock_environment(None) == {} and clock_environment(RunRecord(REAL)) == {}
