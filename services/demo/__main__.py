"""``python -m services.demo``: feed a synthetic Flanders and simulate a year of activity through
the platform's public interfaces, with progress bars; run by ``make run`` once the services are up.
"""
from __future__ import annotations

import random
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import datetime, timedelta, timezone

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.common.clock import AcceleratedClock

from . import certification, enrolments, population
from .openings import OPENS_AFTER, BudgetOpeningRound
from .payments import PaymentSystem
from .api import Api
from .funding import Accounts
from .calibration import FLANDERS, Targets, calibrated_plan, participation
from .grpc_platform import GrpcPlatform, accredit_career_centres
from .plan import Rates
from .simulation import Simulation
from .settings import DemoSettings

console = Console()
FIRST_WEEKS = timedelta(days=14)


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
    # The feed lists the people the plan needs, in the order it first needs them, before everyone
    # else. The accounts service opens their accounts (a few a second under the demo's load) while
    # the set-up certifies and the year runs: the set-up waits only for those of the first two
    # weeks, and the simulation waits for a person's account before it posts or buys for them
    # (the year would otherwise lose its first months when the set-up overruns its time).
    needed = plan.persons()
    rank = {person_id: n for n, person_id in enumerate(needed)}
    feed = sorted(people, key=lambda p: rank.get(p.person_id, len(rank)))
    accounts = Accounts(api)
    with Progress(*columns, console=console, transient=False) as progress, ThreadPoolExecutor(1) as background, \
            closing(accounts):
        task = progress.add_task("population feed (PersonRegistered)", total=len(people))
        population.publish(feed, clock, lambda n=1: progress.advance(task, n), kafka=settings.kafka)

        task = progress.add_task("learners' accounts opened and funded", total=len(needed))
        opened = background.submit(accounts.wait, needed, lambda t=task: progress.advance(t))
        accounts.wait(plan.persons(until=start_day + FIRST_WEEKS))

        task = progress.add_task("leercoaches and mentors certified", total=settings.leercoaches + settings.mentors)
        coaches = certification.certify(api, [p.person_id for p in people], clock.now().date(), rng,
                                        leercoaches=settings.leercoaches, mentors=settings.mentors,
                                        progress=lambda: progress.advance(task))
        offers = enrolments.setup(api, clock.now().date(), settings.days)
        # The applicants: learners whose accounts the year needs before the window opens (so the
        # simulation has waited for them by then and the applications never hold the year up).
        opening = BudgetOpeningRound(api, plan.persons(until=start_day + OPENS_AFTER), start_day, settings.seed,
                                     accounts)
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
        simulation = Simulation(plan, GrpcPlatform(api, offers, [c.person_id for c in coaches], accounts),
                                settings.workers)
        payments = PaymentSystem(api, settings.seed)
        # Each pass carries out what is planned for the days since the last one: how often the
        # loop runs changes when the calls are made, not which.
        # The longest pass, in simulated days and its parts' real seconds: a start is due within 3
        # working days, so a pass much longer than that leaves enrolments to the no-show deadline.
        longest: tuple[int, dict[str, float]] = (0, {})
        while (today := clock.now().date()) < plan.end_day:
            parts, began = {}, time.monotonic()
            waited = accounts.waited_s
            for name, part in (("simulation", lambda: simulation.run_until(today)),
                               ("payments", lambda: payments.run(today)),
                               ("budget opening", lambda: opening.run(clock.now()))):
                part()
                parts[name], began = time.monotonic() - began, time.monotonic()
            # Summed over the workers that waited (the day's 4 workers wait side by side).
            parts["waiting for accounts, summed over workers"] = accounts.waited_s - waited
            longest = max(longest, ((clock.now().date() - today).days, parts), key=lambda pass_: pass_[0])
            progress.update(task, completed=(simulation.next_day - start_day).days)
            time.sleep(min(0.2, settings.seconds_per_day / 4))
        simulation.run_until(plan.end_day)  # the last days, if the loop fell behind
        payments.run(clock.now().date())
        opening.run(clock.now())
        progress.update(task, completed=settings.days)
        simulation.close()
        opened.result()  # long done (the simulation waited for each account it used); raises its error
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
            "leercoaches": len(coaches), "longest_loop_pass": f"{longest[0]} simulated days ("
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in longest[1].items()) + ")",
            "simulated_until": clock.now().date().isoformat()}


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
