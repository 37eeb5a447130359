"""Settings of the demo (env prefix ``LLR_DEMO_``)."""
from __future__ import annotations

from datetime import datetime, timezone

from pydantic_settings import BaseSettings, SettingsConfigDict


class DemoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLR_DEMO_", extra="forbid", frozen=True)

    # Size of the synthetic population (adults); deterministic for a given seed.
    persons: int = 3000
    seed: int = 2025
    # Simulated time: the year starts here and one simulated day lasts this many real seconds.
    sim_start: datetime = datetime(2025, 1, 6, 7, 0, tzinfo=timezone.utc)
    days: int = 365
    seconds_per_day: float = 0.6
    # Real instant at which simulated time was sim_start (set by infra.run for all processes).
    sim_epoch: datetime | None = None
    leercoaches: int = 24
    mentors: int = 8
    # Share of residents aged 25-64 who enrol during the simulated year.
    yearly_learner_share: float = 0.3

    @property
    def speed(self) -> float:
        return 86_400 / self.seconds_per_day
