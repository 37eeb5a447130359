"""Training providers at work, through the public gRPC API: the regisseur accredits them, they
publish offers, post enrolments in bulk each week, declare starts and completions, and cancel
some; a few learners never show up, and the platform's own deadline declares those NO_SHOW."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

import grpc

from services.common.auth import Role

PROVIDERS = [
    ("prov-syntra-antwerpen", "Syntra Antwerpen en Vlaams-Brabant", False),
    ("prov-cvo-gent", "CVO Gent", False),
    ("prov-vdab-opleidingen", "VDAB Opleidingen", False),
    ("prov-kulak-permanente-vorming", "KU Leuven Permanente Vorming", False),
    ("prov-cvo-limburg", "CVO Limburg", False),
    ("prov-syntra-west", "Syntra West", False),
    ("prov-loopbaancentrum-brugge", "Loopbaancentrum Brugge", True),
    ("prov-loopbaancentrum-hasselt", "Loopbaancentrum Hasselt", True),
]
COURSES = [
    ("Python voor data-analyse", 45_000, 40), ("Boekhouden basis", 32_000, 30), ("Heftruckattest", 21_000, 8),
    ("Nederlands NT2 niveau 2", 12_000, 60), ("Projectmanagement", 68_000, 24), ("Lassen TIG", 85_000, 80),
    ("Digitale vaardigheden", 9_000, 12), ("Zorgkundige bijscholing", 27_000, 20),
]


# The training budget's yearly credit (services/accounts/policies/training_budget.yaml).
AFFORDABLE_CENTS = 50_000


@dataclass
class Activity:
    """What the providers still have to declare, per enrolment id."""
    planned: dict[str, tuple[str, date, date, int]] = field(default_factory=dict)  # id -> provider, start, end, hours
    started_ids: set[str] = field(default_factory=set)
    posted: int = 0
    rejected_rows: int = 0
    started: int = 0
    completed: int = 0
    cancelled: int = 0
    dropped_out: int = 0
    no_shows_left_to_deadline: int = 0
    # Declarations the platform refused because a deadline had passed first (the demo runs on an
    # accelerated clock, so a slow loop can declare a start after the no-show deadline).
    refused_late: int = 0

    def forget(self, enrolment_id: str) -> None:
        """Nothing more to declare for this enrolment."""
        self.planned.pop(enrolment_id, None)
        self.started_ids.discard(enrolment_id)


def setup(api, today: date) -> dict[str, list]:
    """Accredit the providers and publish their offers; returns offers per provider."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    stub = api.stub("enrolments", "enrolments_service", "EnrolmentService")
    regisseur = api.auth("vdab", Role.REGISSEUR)
    offers: dict[str, list] = {}
    for provider_id, name, mandated in PROVIDERS:
        stub.AccreditProvider(pb.AccreditProviderRequest(
            request_id=f"demo-accredit-{provider_id}", provider_id=provider_id, name=name,
            mandated_career_centre=mandated), metadata=api.auth("vdab", Role.REGISSEUR))
        provider = api.auth(provider_id, Role.PROVIDER)
        offers[provider_id] = []
        for title, price, hours in COURSES[:4] if mandated else COURSES:
            offer = stub.CreateOffer(pb.CreateOfferRequest(
                request_id=f"demo-offer-{provider_id}-{title}", title=title, price_cents=price, hours=hours,
                earliest_start=today.isoformat(), latest_start=(today + timedelta(days=400)).isoformat(),
                instruments=[pb.FUNDING_INSTRUMENT_TRAINING_BUDGET]), metadata=provider).offer
            offers[provider_id].append(offer)
    del regisseur
    return offers


def post_week(api, offers: dict[str, list], learners: list[str], coaches: list[str], today: date,
              rng: random.Random, activity: Activity) -> None:
    """Each provider posts this week's enrolments as one bulk upload."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    stub = api.stub("enrolments", "enrolments_service", "EnrolmentService")
    by_provider: dict[str, list] = {}
    for person_id in learners:
        provider_id = rng.choice([p for p, _, mandated in PROVIDERS if not mandated])
        # Learners funded by the training budget pick a course their yearly credit covers.
        offer = rng.choice([o for o in offers[provider_id] if o.price_cents <= AFFORDABLE_CENTS])
        start = today + timedelta(days=rng.randint(7, 21))
        end = start + timedelta(days=max(1, offer.hours // 4) + rng.randint(0, 20))
        by_provider.setdefault(provider_id, []).append(pb.BulkCreateEnrolmentsRequest(
            person_id=person_id, offer_id=offer.offer_id, planned_start=start.isoformat(),
            planned_end=end.isoformat(), instrument=pb.FUNDING_INSTRUMENT_TRAINING_BUDGET,
            leercoach_id=rng.choice(coaches) if coaches and rng.random() < 0.3 else "",
            provider_reference=f"{provider_id}-{person_id}-{start.isoformat()}"))
    for provider_id, rows in by_provider.items():
        reply = stub.BulkCreateEnrolments(iter(rows), metadata=api.auth(provider_id, Role.PROVIDER))
        for result in reply.results:
            if result.error_code:
                activity.rejected_rows += 1
                continue
            row = rows[result.row]
            offer_hours = next(o.hours for o in offers[provider_id] if o.offer_id == row.offer_id)
            activity.planned[result.enrolment_id] = (provider_id, date.fromisoformat(row.planned_start),
                                                     date.fromisoformat(row.planned_end), offer_hours)
            activity.posted += 1


def declare_due(api, today: date, rng: random.Random, activity: Activity) -> None:
    """Providers declare what happened up to today: cancellations before the start, starts on
    the planned day (a few never show up), completions and drop-outs at the planned end."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    stub = api.stub("enrolments", "enrolments_service", "EnrolmentService")
    for enrolment_id in list(activity.planned):
        try:
            _declare(stub, pb, api, enrolment_id, today, rng, activity)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            activity.refused_late += 1
            activity.forget(enrolment_id)


def _declare(stub, pb, api, enrolment_id: str, today: date, rng: random.Random, activity: Activity) -> None:
    """What the provider of one enrolment declares today, if anything."""
    provider_id, start, end, hours = activity.planned[enrolment_id]
    # Ask the platform only when something may be due, so that a day of the loop stays short
    # (a slow loop declares starts after the no-show deadline, which the platform refuses).
    if today < start and rng.random() >= 0.01:
        return  # no cancellation today
    if enrolment_id in activity.started_ids and today < end:
        return
    auth = api.auth(provider_id, Role.PROVIDER)
    current = stub.GetEnrolment(pb.GetEnrolmentRequest(enrolment_id=enrolment_id), metadata=auth).enrolment
    status = current.status
    if status in (pb.ENROLMENT_STATUS_REJECTED, pb.ENROLMENT_STATUS_CANCELLED, pb.ENROLMENT_STATUS_NO_SHOW,
                  pb.ENROLMENT_STATUS_COMPLETED, pb.ENROLMENT_STATUS_DROPPED_OUT):
        activity.forget(enrolment_id)
        return
    rid = f"demo-{enrolment_id}"
    if status == pb.ENROLMENT_STATUS_FUNDED and today < start:
        stub.CancelEnrolment(pb.CancelEnrolmentRequest(request_id=rid + "-cancel", enrolment_id=enrolment_id,
                                                       reason="learner changed plans"), metadata=auth)
        activity.cancelled += 1
    elif status == pb.ENROLMENT_STATUS_FUNDED and today >= start:
        if rng.random() < 0.05:
            # Never declared: the platform's deadline makes it NO_SHOW and releases the hold.
            activity.no_shows_left_to_deadline += 1
            activity.forget(enrolment_id)
            return
        stub.StartEnrolment(pb.StartEnrolmentRequest(request_id=rid + "-start", enrolment_id=enrolment_id,
                                                     start_date=start.isoformat()), metadata=auth)
        activity.started += 1
        activity.started_ids.add(enrolment_id)
    elif status == pb.ENROLMENT_STATUS_STARTED and today >= end:
        if rng.random() < 0.1:
            stub.DeclareDropOut(pb.DeclareDropOutRequest(
                request_id=rid + "-dropout", enrolment_id=enrolment_id, hours_attended=hours // 2,
                dropout_date=end.isoformat()), metadata=auth)
            activity.dropped_out += 1
        else:
            stub.CompleteEnrolment(pb.CompleteEnrolmentRequest(
                request_id=rid + "-complete", enrolment_id=enrolment_id, hours_attended=hours,
                outcome=rng.choice([pb.OUTCOME_PASSED, pb.OUTCOME_PASSED, pb.OUTCOME_ATTENDED]),
                completion_date=end.isoformat()), metadata=auth)
            activity.completed += 1
        activity.forget(enrolment_id)
