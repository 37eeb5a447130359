"""Unit tests of the shared library's pure parts: clock, tokens, envelopes, error mapping, settings."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import grpc

import pytest
from google.protobuf.wrappers_pb2 import Int64Value

from services.common import errors
from services.common.auth import Principal, Role
from services.common.clock import FakeClock
from services.common.envelope import decode, unwrap, wrap
from services.common.grpc_server import status_for
from services.common.settings import ServiceSettings, service_config


def test_fake_clock_moves_only_forward():
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=timezone.utc))
    clock.advance(timedelta(days=2))
    assert clock.now() == datetime(2025, 1, 3, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        clock.set(datetime(2024, 12, 31, tzinfo=timezone.utc))
    with pytest.raises(ValueError):
        FakeClock(datetime(2025, 1, 1))


def test_principal_role_check_names_the_allowed_roles():
    p = Principal("s", "prov-1", Role.PROVIDER)
    p.require(Role.PROVIDER, Role.REGISSEUR)
    with pytest.raises(errors.PermissionDenied, match="PROVIDER may not do this \\(allowed: REGISSEUR\\)"):
        p.require(Role.REGISSEUR)


def test_envelope_wrap_decode_unwrap():
    clock = FakeClock(datetime(2025, 2, 3, 4, 5, 6, tzinfo=timezone.utc))
    env = wrap(Int64Value(value=1234), aggregate_type="account", aggregate_id="acc-1", aggregate_version=7,
               producer="accounts", clock=clock, correlation_id="c", causation_id="k")
    back = decode(env.SerializeToString())
    assert back == env
    assert back.event_type == "google.protobuf.Int64Value"
    assert unwrap(back).value == 1234
    assert back.occurred_at.ToDatetime(tzinfo=timezone.utc) == clock.now()
    with pytest.raises(ValueError, match="not an event envelope"):
        decode(b"")


@pytest.mark.parametrize("exc, code", [
    (errors.InvalidArgument("offer.price_cents", "must be > 0"), grpc.StatusCode.INVALID_ARGUMENT),
    (errors.FieldErrors([("a", "x"), ("b", "y")]), grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound("no"), grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists("dup"), grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition("rule"), grpc.StatusCode.FAILED_PRECONDITION),
    (errors.PermissionDenied("no"), grpc.StatusCode.PERMISSION_DENIED),
    (errors.ConcurrencyConflict("race"), grpc.StatusCode.ABORTED),
])
def test_domain_errors_map_to_status_codes(exc, code):
    assert status_for(exc) == code


def test_field_errors_report_every_field():
    e = errors.FieldErrors([("person_id", "is required"), ("offer_id", "unknown offer")])
    assert e.reason == "person_id: is required; offer_id: unknown offer"


def test_service_settings_read_only_their_own_prefix(monkeypatch):
    class DemoSettings(ServiceSettings):
        model_config = service_config("LLR_DEMO_")
        service_name: str = "demo"
        grpc_port: int = 50099

    monkeypatch.setenv("LLR_DEMO_GRPC_PORT", "6001")
    monkeypatch.setenv("LLR_OTHER_GRPC_PORT", "7001")
    s = DemoSettings()
    assert s.grpc_port == 6001
    assert s.events_topic == "llr.demo.v1.events"


def test_accelerated_clock_runs_simulated_time_from_a_shared_epoch():
    from services.common.clock import AcceleratedClock, clock_from_settings, SystemClock

    real = FakeClock(datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc))
    sim = AcceleratedClock(datetime(2025, 1, 1, tzinfo=timezone.utc), real.now(), speed=86400, real=real)
    assert sim.now() == datetime(2025, 1, 1, tzinfo=timezone.utc)
    real.advance(timedelta(seconds=30))
    assert sim.now() == datetime(2025, 1, 31, tzinfo=timezone.utc), "one real second is one simulated day"
    assert isinstance(clock_from_settings(ServiceSettings()), SystemClock)
    s = ServiceSettings(sim_start="2025-01-01T00:00:00Z", sim_epoch="2026-11-24T12:00:00Z", sim_speed=2)
    assert isinstance(clock_from_settings(s), AcceleratedClock)


def test_accelerated_clock_slows_to_real_time_at_the_end_of_the_simulated_period():
    from services.common.clock import AcceleratedClock, clock_from_settings

    real = FakeClock(datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc))
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    until = datetime(2026, 1, 1, tzinfo=timezone.utc)
    sim = AcceleratedClock(start, real.now(), speed=86400, real=real, until=until)
    real.advance(timedelta(seconds=365))
    assert sim.now() == until, "365 real seconds are the simulated year"
    real.advance(timedelta(seconds=60))
    assert sim.now() == until + timedelta(seconds=60), "after the year one real second is one second"
    with pytest.raises(ValueError, match="until"):
        AcceleratedClock(start, real.now(), speed=2, until=start - timedelta(days=1))
    s = ServiceSettings(sim_start="2025-01-01T00:00:00Z", sim_epoch="2026-11-24T12:00:00Z", sim_speed=2,
                        sim_until="2025-02-01T00:00:00Z")
    assert clock_from_settings(s).until == datetime(2025, 2, 1, tzinfo=timezone.utc)


def test_accelerated_clock_stands_still_until_its_epoch():
    from services.common.clock import AcceleratedClock

    real = FakeClock(datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc))
    start = datetime(2025, 1, 6, tzinfo=timezone.utc)
    sim = AcceleratedClock(start, real.now() + timedelta(seconds=30), speed=86400, real=real)
    real.advance(timedelta(seconds=29))
    assert sim.now() == start, "set-up time does not use up simulated days"
    real.advance(timedelta(seconds=2))
    assert sim.now() == start + timedelta(days=1)
