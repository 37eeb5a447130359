"""``python -m services.demo``: feed a synthetic Flanders and simulate a year of activity through
the platform's public interfaces, with progress bars; run by ``make run`` once the services are up.
"""
from __future__ import annotations

import random
import sys
import time
from datetime import date, datetime, timedelta, timezone

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.common.clock import AcceleratedClock

from . import certification, enrolments, funding, population
from .api import Api
from .settings import DemoSettings

console = Console()


def run(settings: DemoSettings) -> dict:
    epoch = settings.sim_epoch or datetime.now(timezone.utc)
    clock = AcceleratedClock(settings.sim_start, epoch, settings.speed, until=settings.sim_until)
    rng = random.Random(settings.seed)
    api = Api()
    start_day = settings.sim_start.date()
    people = population.generate(settings.persons, settings.seed, start_day)
    working_age = [p.person_id for p in people if 25 <= (start_day - p.birth_date).days // 365 <= 64]
    activity = enrolments.Activity()
    columns = (TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("population feed (PersonRegistered)", total=len(people))
        population.publish(people, clock, lambda n=1: progress.advance(task, n))

        task = progress.add_task("accounts opened and funded", total=len(people))
        funding.fund(api, people, clock, lambda n=1: progress.advance(task, n))

        task = progress.add_task("leercoaches and mentors certified", total=settings.leercoaches + settings.mentors)
        coaches = certification.certify(api, [p.person_id for p in people], clock.now().date(), rng,
                                        leercoaches=settings.leercoaches, mentors=settings.mentors,
                                        progress=lambda: progress.advance(task))
        offers = enrolments.setup(api, clock.now().date())

        wait_s = (epoch - datetime.now(timezone.utc)).total_seconds()
        if wait_s > 0:
            console.print(f"set-up done; the simulated year starts in {wait_s:.0f} s")
            time.sleep(wait_s)
        task = progress.add_task("simulated year (days)", total=settings.days)
        weekly = max(1, round(len(working_age) * settings.yearly_learner_share / 52))
        # Each learner enrols once in the year: this year's learners in a random order, a week's
        # worth at a time.
        learners = rng.sample(working_age, min(len(working_age), round(len(working_age) * settings.yearly_learner_share)))
        end_day = start_day + timedelta(days=settings.days)
        next_post = clock.now().date()
        while (today := clock.now().date()) < end_day:
            if today >= next_post and today < end_day - timedelta(days=45):
                this_week, learners = learners[:weekly], learners[weekly:]
                enrolments.post_week(api, offers, this_week,
                                     [c.person_id for c in coaches], today, rng, activity)
                next_post = today + timedelta(days=7)
            enrolments.declare_due(api, today, rng, activity)
            funding.career_guidance_day(api, people, today, rng)
            progress.update(task, completed=min(settings.days, (today - start_day).days))
            time.sleep(min(0.2, settings.seconds_per_day / 4))
        progress.update(task, completed=settings.days)
    api.close()
    summary = {"persons": len(people), "enrolments_posted": activity.posted, "rows_rejected": activity.rejected_rows,
               "started": activity.started, "completed": activity.completed, "cancelled": activity.cancelled,
               "dropped_out": activity.dropped_out, "left_to_no_show_deadline": activity.no_shows_left_to_deadline,
               "declared_too_late": activity.refused_late,
               "leercoaches": len(coaches), "simulated_until": clock.now().date().isoformat()}
    return summary


def main() -> int:
    settings = DemoSettings()
    console.print(f"[bold]Synthetic Flanders[/bold]: {settings.persons} adults, seed {settings.seed}, "
                  f"{settings.days} simulated days from {settings.sim_start.date()} "
                  f"({settings.seconds_per_day} s per day)")
    summary = run(settings)
    for key, value in summary.items():
        console.print(f"  {key:<26} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
