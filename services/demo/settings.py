"""Settings of the demo (env prefix ``LLR_DEMO_``)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import KafkaClientSettings

from .calibration import FLANDERS
from .plan import Rates


class DemoSettings(KafkaClientSettings):
    model_config = SettingsConfigDict(env_prefix="LLR_DEMO_", extra="forbid", frozen=True)

    # The demo writes the population feed as the feed's principal, the only one allowed to.
    kafka_username: str = "population-feed"
    # Size of the synthetic population (adults); deterministic for a given seed.
    persons: int = 3000
    seed: int = 2025
    # Simulated time: the year starts here and one simulated day lasts this many real seconds.
    sim_start: datetime = datetime(2025, 1, 6, 7, 0, tzinfo=timezone.utc)
    days: int = 365
    seconds_per_day: float = 0.6
    # Real instant at which simulated time was sim_start (set by infra.run for all processes).
    sim_epoch: datetime | None = None
    # How many of a day's enrolments and cheques the demo handles at the same time (providers and
    # counters work side by side; one at a time, a day's calls took longer than the day on a
    # loaded 2-core machine, and starts came after their no-show deadline).
    workers: int = Field(4, ge=1, le=32)
    leercoaches: int = 24
    mentors: int = 8
    # Calibration (services/demo/calibration.py): the 12-month and 4-week participation of the
    # residents aged 25-64 the simulated year reaches on its last day (Flanders: 22.4% in 2022,
    # 8.6% in 2019), and the share of them who buy a career cheque in the year.
    participation_12m: float = Field(FLANDERS.participation_12m, ge=0, le=1)
    participation_4w: float = Field(FLANDERS.participation_4w, ge=0, le=1)
    career_cheque_share: float = Field(Rates.career_cheque, ge=0, le=1)

    # Real seconds between `make run` starting the services and the first simulated day, for the
    # set-up (population feed, accounts, certification, offers); simulated time stands still
    # until then. None: 20 s plus 1 s per 60 persons (about what this machine needs).
    setup_s: float | None = None

    @property
    def setup_lead_s(self) -> float:
        return self.setup_s if self.setup_s is not None else 20 + self.persons / 60

    @property
    def speed(self) -> float:
        return 86_400 / self.seconds_per_day

    @property
    def sim_until(self) -> datetime:
        """End of the simulated period: from here on every clock runs at real speed."""
        return self.sim_start + timedelta(days=self.days)
