"""``python -m services.demo``: feed a synthetic Flanders and simulate a year of activity through
the platform's public interfaces, with progress bars; run by ``make run`` once the services are up.
"""
from __future__ import annotations

import random
import sys
import time
from collections import Counter
from datetime import datetime, timezone

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.common.clock import AcceleratedClock

from . import certification, enrolments, funding, population
from .openings import BudgetOpeningRound
from .payments import PaymentSystem
from .api import Api
from .calibration import FLANDERS, Targets, calibrated_plan, participation
from .grpc_platform import GrpcPlatform, accredit_career_centres
from .plan import Rates
from .simulation import Simulation
from .settings import DemoSettings

console = Console()


def run(settings: DemoSettings) -> dict:
    epoch = settings.sim_epoch or datetime.now(timezone.utc)
    clock = AcceleratedClock(settings.sim_start, epoch, settings.speed, until=settings.sim_until)
    rng = random.Random(settings.seed)
    api = Api()
    start_day = settings.sim_start.date()
    people = population.generate(settings.persons, settings.seed, start_day)
    plan = calibrated_plan(people, first_day=start_day, days=settings.days, seed=settings.seed,
                           targets=Targets(settings.participation_12m, settings.participation_4w),
                           rates=Rates(career_cheque=settings.career_cheque_share))
    four_weeks, twelve_months = participation(plan, people)
    console.print(f"calibrated: on {plan.reference} {twelve_months:.1%} of the {plan.population} residents aged "
                  f"25-64 learned in the last 12 months (Flanders 2022: {FLANDERS.participation_12m:.1%}), "
                  f"{four_weeks:.1%} in the last 4 weeks (Flanders 2019: {FLANDERS.participation_4w:.1%}); "
                  f"{len(plan.enrolments)} enrolments and {len(plan.cheques)} career cheques planned")
    columns = (TextColumn("{task.description:<36}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # The feed lists the people the plan needs first: the set-up waits for their accounts only,
    # the other accounts open during the first simulated weeks (at 30-60 accounts a second on
    # this machine, all 3,000 would overrun the set-up time and cost the year its first months).
    needed = {person_id: rank for rank, person_id in enumerate(plan.persons())}
    feed = sorted(people, key=lambda p: needed.get(p.person_id, len(needed)))
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("population feed (PersonRegistered)", total=len(people))
        population.publish(feed, clock, lambda n=1: progress.advance(task, n), kafka=settings.kafka)

        task = progress.add_task("learners' accounts opened and funded", total=len(needed))
        funding.fund(api, feed[:len(needed)], clock, lambda n=1: progress.advance(task, n))

        task = progress.add_task("leercoaches and mentors certified", total=settings.leercoaches + settings.mentors)
        coaches = certification.certify(api, [p.person_id for p in people], clock.now().date(), rng,
                                        leercoaches=settings.leercoaches, mentors=settings.mentors,
                                        progress=lambda: progress.advance(task))
        offers = enrolments.setup(api, clock.now().date(), settings.days)
        opening = BudgetOpeningRound(api, [p.person_id for p in feed[:len(needed)]], start_day, settings.seed)
        opening.run(clock.now())   # announced before the year starts when the set-up is on time
        accredit_career_centres(api)

        wait_s = (epoch - datetime.now(timezone.utc)).total_seconds()
        if wait_s > 0:
            console.print(f"set-up done; the simulated year starts in {wait_s:.0f} s")
            time.sleep(wait_s)
        else:
            console.print(f"set-up done {-wait_s:.0f} s after the simulated year began (it is "
                          f"{clock.now().date()}): the days so far are caught up")
        task = progress.add_task("simulated year (days)", total=settings.days)
        simulation = Simulation(plan, GrpcPlatform(api, offers, [c.person_id for c in coaches]))
        payments = PaymentSystem(api, settings.seed)
        # Each pass carries out what is planned for the days since the last one: how often the
        # loop runs changes when the calls are made, not which.
        while (today := clock.now().date()) < plan.end_day:
            simulation.run_until(today)
            payments.run(today)
            opening.run(clock.now())
            progress.update(task, completed=(simulation.next_day - start_day).days)
            time.sleep(min(0.2, settings.seconds_per_day / 4))
        simulation.run_until(plan.end_day)  # the last days, if the loop fell behind
        payments.run(clock.now().date())
        opening.run(clock.now())
        progress.update(task, completed=settings.days)
    api.close()
    t = simulation.tally
    instruments = Counter(e.instrument for e in plan.enrolments)
    return {"persons": len(people), "enrolments_posted": t.posted, "rows_refused": t.rows_refused,
            "rejected_for_funding": " ".join([str(sum(t.rejected.values())),
                                              *(f"({reason}: {n})" for reason, n in sorted(t.rejected.items()))]),
            "started": t.started, "completed": t.completed, "cancelled": t.cancelled, "dropped_out": t.dropped_out,
            "left_to_no_show_deadline": t.no_shows_left_to_deadline, "declared_too_late": " ".join([str(t.declared_too_late),
                                           *(f"({why}: {n})" for why, n in sorted(t.refusals.items()))]),
            "enrolments_by_instrument": " ".join(f"{k}: {n}" for k, n in sorted(instruments.items())),
            "career_cheques_bought": t.cheques_bought, "guidance_sessions": t.guidance_sessions,
            "payables_paid": f"{payments.tally.paid} ({payments.tally.paid_late} after their due date)",
            "budget_opening": opening.tally.summary(),
            "leercoaches": len(coaches), "simulated_until": clock.now().date().isoformat()}


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
