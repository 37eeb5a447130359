"""The run record: which time line the platform's data lives on, so that ``make run`` can start
again and again on the same data.

Everything under ``.llr/data`` (Kafka topics, FerretDB databases, the KPI state) carries dates. The
demo simulates a year from ``LLR_DEMO_SIM_START`` (2025-01-06) on an accelerated clock; a platform
started with ``--no-demo`` on fresh data runs on the real clock. A later start must stay on the
same time line: a second demo would replay 2025 on top of data that already reached 2026 (the
accounts service rightly refuses a guidance session dated before the cheque's purchase), and the
real clock after a demo would move the KPIs' reference date from the end of the simulated year to
today. So ``infra.run`` keeps a small JSON record beside the data, wiped with it by ``make reset``,
and decides with it how to start:

============================ =========================================================================
record found                  what ``make run`` / ``python -m infra.run [--no-demo]`` does
============================ =========================================================================
none, no data                 fresh start: the demo on its accelerated clock (``make run``), or the
                              real clock (``--no-demo``; with ``LLR_RUN_START_AT`` a clock that starts
                              at that instant and runs at real speed: tests pin the date with it)
demo                          resume, with or without ``--no-demo``: no new demo; the clock continues
                              from the platform time last seen running, at real speed. The clock
                              stands still while the platform is stopped, so a restart shows the
                              KPI picture that was left. An interrupted demo is resumed the same way
                              (and said so): its remaining days are not simulated.
real                          the real clock (a platform started at ``LLR_RUN_START_AT``: its clock
                              continues from the platform time last seen); a demo cannot be added to
                              such data (it would start in the past), so ``make run`` starts without
                              it and says so
none, but platform data       made before run records existed: the real clock, without a demo, with
                              a hint to ``make reset``
============================ =========================================================================

The platform time is written every ``heartbeat_s`` seconds while the platform runs and once more
when it stops, so even a killed run leaves a time to resume from (at most one heartbeat behind).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.clock import AcceleratedClock, Clock, SystemClock

DEMO, REAL = "demo", "real"


class RunSettings(BaseSettings):
    """Where ``infra.run`` keeps the run record and the services' logs (env prefix ``LLR_RUN_``)."""

    model_config = SettingsConfigDict(env_prefix="LLR_RUN_", frozen=True)

    # Default: <LLR_INFRA_HOME>/data/platform-run.json, beside the data it describes.
    record_file: Path | None = None
    # Default: <LLR_INFRA_HOME>/logs.
    log_dir: Path | None = None
    heartbeat_s: float = 2.0
    # Fresh data without the demo only: the platform's clock reads this instant when it starts
    # and runs at real speed from there, instead of being the real clock. Tests pin the
    # platform's date with it, so that a run across midnight stays on one day.
    start_at: datetime | None = None

    def record_path(self, home: Path) -> Path:
        return self.record_file or home / "data" / "platform-run.json"

    def log_path(self, home: Path) -> Path:
        return self.log_dir or home / "logs"


@dataclass
class DemoInfo:
    """The demo that made the data."""
    persons: int
    seed: int
    days: int
    sim_start: str  # ISO instant
    completed: bool = False

    @property
    def start(self) -> datetime:
        return datetime.fromisoformat(self.sim_start)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)


@dataclass
class ClockParams:
    """The parameters of an ``AcceleratedClock`` shared by every process of one run."""
    start: str
    epoch: str
    speed: float
    until: str | None = None

    def clock(self) -> AcceleratedClock:
        return AcceleratedClock(datetime.fromisoformat(self.start), datetime.fromisoformat(self.epoch), self.speed,
                                until=datetime.fromisoformat(self.until) if self.until else None)

    def environment(self, services: list[str]) -> dict[str, str]:
        """The services' ``LLR_<SERVICE>_SIM_*`` variables that put them on this clock."""
        env = {}
        for name in services:
            prefix = f"LLR_{name.upper()}_"
            env.update({prefix + "SIM_START": self.start, prefix + "SIM_EPOCH": self.epoch,
                        prefix + "SIM_SPEED": repr(self.speed)})
            if self.until:
                env[prefix + "SIM_UNTIL"] = self.until
        return env


@dataclass
class RunRecord:
    kind: str                          # DEMO or REAL
    demo: DemoInfo | None = None
    clock: ClockParams | None = None   # None: the real clock
    platform_time: str | None = None   # ISO instant, the platform's time when last seen running
    updated_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    def platform_clock(self) -> Clock:
        return self.clock.clock() if self.clock else SystemClock()

    @property
    def last_platform_time(self) -> datetime | None:
        return datetime.fromisoformat(self.platform_time) if self.platform_time else None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "RunRecord":
        raw = json.loads(text)
        demo = DemoInfo(**raw["demo"]) if raw.get("demo") else None
        clock = ClockParams(**raw["clock"]) if raw.get("clock") else None
        return cls(kind=raw["kind"], demo=demo, clock=clock, platform_time=raw.get("platform_time"),
                   updated_at=raw.get("updated_at", ""))


class RecordError(RuntimeError):
    """The run record exists but cannot be read."""


def load(path: Path) -> RunRecord | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        record = RunRecord.from_json(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise RecordError(f"the run record {path} cannot be read ({exc}); `make reset` wipes the data and it") from exc
    if record.kind not in (DEMO, REAL):
        raise RecordError(f"the run record {path} names an unknown kind {record.kind!r}; `make reset` wipes it")
    return record


def save(path: Path, record: RunRecord) -> None:
    """Write the record atomically (a crash leaves the old or the new one, never half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record.updated_at = datetime.now(timezone.utc).isoformat()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(record.to_json())
    os.replace(tmp, path)


def resumed_clock(platform_time: datetime, epoch: datetime) -> ClockParams:
    """A clock that is ``platform_time`` at the real instant ``epoch`` and runs at real speed."""
    return ClockParams(start=platform_time.isoformat(), epoch=epoch.isoformat(), speed=1.0)


def short(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class StartPlan:
    """How this start runs: with or without the demo, on which clock, and what it tells the user."""
    run_demo: bool
    record: RunRecord | None  # None: data of unknown origin, nothing is recorded
    messages: list[str]

    def clock(self) -> Clock:
        return self.record.platform_clock() if self.record else SystemClock()


RESET_HINT = "`make reset` wipes the data (and keeps the tools); the next `make run` then starts a fresh demo"


def plan_start(record: RunRecord | None, existing_data: str | None, want_demo: bool, demo, now: datetime,
               start_at: datetime | None = None) -> StartPlan:
    """Decide how to start (see the table in the module docstring).

    ``existing_data`` names platform data found without a record (e.g. a service's database);
    ``demo`` is the ``DemoSettings`` of this start; ``now`` the real instant; ``start_at`` the
    instant a fresh platform without demo starts at (``RunSettings.start_at``; None: the real clock).
    """
    if record is None and existing_data is None:
        if not want_demo and start_at is not None:
            return StartPlan(False, RunRecord(REAL, clock=resumed_clock(start_at, now), platform_time=start_at.isoformat()),
                             [f"fresh data: the platform's clock starts at {short(start_at)} and runs at real speed, "
                              f"without demo data"])
        if not want_demo:
            return StartPlan(False, RunRecord(REAL), ["fresh data: the platform runs on the real clock, without demo data"])
        return StartPlan(True, fresh_demo_record(demo, now), [
            f"fresh data: the demo simulates {demo.days} days from {demo.sim_start.date()} "
            f"({demo.persons} persons, seed {demo.seed})"])
    if record is None:
        return StartPlan(False, None, [
            f"found platform data ({existing_data}) but no run record (it was made before `make run` kept one): "
            f"its time line is unknown, so the platform starts on the real clock without demo data", RESET_HINT])
    if record.kind == REAL:
        messages = ["resuming: the data was made on the real clock"]
        if want_demo:
            messages = ["the data was made on the real clock (`python -m infra.run --no-demo`); a demo, which "
                        "simulates a year that starts in the past, cannot be added to it: starting without demo "
                        "data", RESET_HINT]
        if record.clock is not None:   # started at a given instant: it continues from where it stopped
            last = record.last_platform_time or datetime.fromisoformat(record.clock.start)
            return StartPlan(False, RunRecord(REAL, clock=resumed_clock(last, now), platform_time=last.isoformat()),
                             messages)
        return StartPlan(False, RunRecord(REAL, platform_time=now.isoformat()), messages)

    info = record.demo
    last = record.last_platform_time or info.start
    if not info.completed and last <= info.start and want_demo:
        # Stopped during the set-up (population feed, accounts, certificates, offers): simulated
        # time had not moved yet and every set-up step is idempotent, so the demo starts again.
        return StartPlan(True, fresh_demo_record(demo, now), [
            "the previous demo stopped during its set-up, before the simulated year began: starting it again"])
    resumed = RunRecord(DEMO, demo=info, clock=resumed_clock(last, now), platform_time=last.isoformat())
    if info.completed:
        messages = [f"resuming: the data holds the demo of {info.persons} persons (seed {info.seed}) that simulated "
                    f"{info.start.date()} .. {info.end.date()}; the platform's clock continues at {short(last)} "
                    f"(it stands still while the platform is stopped); no new demo"]
    else:
        day = min(info.days, max(0, (last - info.start).days))
        messages = [f"resuming: the demo that made this data stopped on simulated day {day} of {info.days} "
                    f"({last.date()}), before its end; its data is kept and the platform's clock continues from "
                    f"{short(last)} at real speed (a new demo would replay days already simulated)"]
    if not want_demo:
        messages.append("--no-demo on demo data: the platform stays on the demo's time line, so the KPIs keep "
                        "their reference date (the real clock would move it to today)")
    elif (demo.persons, demo.seed, demo.days, demo.sim_start) != (info.persons, info.seed, info.days, info.start):
        messages.append(f"note: the LLR_DEMO_* settings now ask for {demo.persons} persons, seed {demo.seed}, "
                        f"{demo.days} days from {demo.sim_start.date()}; they apply to a fresh demo only")
    messages.append(RESET_HINT)
    return StartPlan(False, resumed, messages)


def fresh_demo_record(demo, now: datetime) -> RunRecord:
    """A new demo: simulated time stands at ``sim_start`` until the set-up is expected to be done,
    then runs ``speed`` times faster until ``sim_until``, then at real speed."""
    epoch = now + timedelta(seconds=demo.setup_lead_s)
    clock = ClockParams(start=demo.sim_start.isoformat(), epoch=epoch.isoformat(), speed=demo.speed,
                        until=demo.sim_until.isoformat())
    info = DemoInfo(persons=demo.persons, seed=demo.seed, days=demo.days, sim_start=demo.sim_start.isoformat())
    return RunRecord(DEMO, demo=info, clock=clock, platform_time=demo.sim_start.isoformat())
