"""Training providers set up through the public gRPC API: the regisseur accredits them and they
publish their offers (``catalogue.py``). What they do next, posting enrolments in weekly bulk
uploads and declaring starts, cancellations, drop-outs and completions, is planned in
``plan.py`` and carried out by ``simulation.py`` through ``grpc_platform.py``."""
from __future__ import annotations

from datetime import date, timedelta

from services.common.auth import Role

from .catalogue import CAREER_CENTRE_COURSES, COURSES, PROVIDERS


def setup(api, today: date, days: int) -> dict[str, dict[str, str]]:
    """Accredit the providers and publish their offers, open for starts during the ``days`` to
    come; returns the offer id per provider and course title."""
    from llr.enrolments.v1 import enrolments_service_pb2 as pb

    stub = api.stub("enrolments", "enrolments_service", "EnrolmentService")
    regisseur = api.auth("vdab", Role.REGISSEUR)
    offers: dict[str, dict[str, str]] = {}
    for provider_id, name, mandated in PROVIDERS:
        stub.AccreditProvider(pb.AccreditProviderRequest(
            request_id=f"demo-accredit-{provider_id}", provider_id=provider_id, name=name,
            mandated_career_centre=mandated), metadata=regisseur)
        provider = api.auth(provider_id, Role.PROVIDER)
        offers[provider_id] = {}
        for course in CAREER_CENTRE_COURSES if mandated else COURSES:
            offer = stub.CreateOffer(pb.CreateOfferRequest(
                request_id=f"demo-offer-{provider_id}-{course.title}", title=course.title,
                price_cents=course.price_cents, hours=course.hours, earliest_start=today.isoformat(),
                latest_start=(today + timedelta(days=max(400, days + 35))).isoformat(),
                instruments=[pb.FUNDING_INSTRUMENT_TRAINING_BUDGET]
                + ([pb.FUNDING_INSTRUMENT_TRAINING_CHEQUE] if course.training_database else [])
                + ([pb.FUNDING_INSTRUMENT_TRAINING_LEAVE] if course.training_leave else []),
                in_training_database=course.training_database, eligible_for_training_leave=course.training_leave),
                metadata=provider).offer
            offers[provider_id][course.title] = offer.offer_id
    return offers
