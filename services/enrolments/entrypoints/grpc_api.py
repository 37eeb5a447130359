"""The gRPC servicer of ``llr.enrolments.v1.EnrolmentService``: translate the request, call the
use case, translate the answer. Domain errors become status codes in the shared ErrorInterceptor."""
from __future__ import annotations

from dataclasses import replace

from llr.enrolments.v1 import enrolments_service_pb2 as api
from llr.enrolments.v1 import enrolments_service_pb2_grpc as api_grpc

from services.common import limits
from services.common.auth import Role, current_principal

from ..adapters import mapping as m
from ..service.handlers import EnrolmentRow, EnrolmentService, EnrolmentView
from ..service.payables import PayableView

SERVICE_NAME = api.DESCRIPTOR.services_by_name["EnrolmentService"].full_name


def _enrolment(view: EnrolmentView) -> api.Enrolment:
    flags = view.flags if current_principal().role is Role.REGISSEUR else ()
    return m.enrolment_pb(view.enrolment, view.due_at, flags)


def _row(r) -> EnrolmentRow:
    return EnrolmentRow(person_id=r.person_id, offer_id=r.offer_id, planned_start=r.planned_start,
                        planned_end=r.planned_end, instrument=m.instrument_from_pb(r.instrument),
                        provider_reference=r.provider_reference, leercoach_id=r.leercoach_id)


def _bulk_row(r) -> EnrolmentRow:
    """A streamed row, with the fields out of their limits (the server checks unary requests
    as a whole; a bad row of an upload fails alone, in its result)."""
    return replace(_row(r), out_of_limits=tuple(limits.violations(r)))


class EnrolmentServicer(api_grpc.EnrolmentServiceServicer):
    def __init__(self, service: EnrolmentService) -> None:
        self.service = service

    def AccreditProvider(self, request, context):
        provider = self.service.accredit_provider(
            current_principal(), request_id=request.request_id, provider_id=request.provider_id, name=request.name,
            mandated_career_centre=request.mandated_career_centre)
        return api.AccreditProviderResponse(provider=m.provider_pb(provider, self.service.today()))

    def SuspendProvider(self, request, context):
        provider = self.service.suspend_provider(current_principal(), request_id=request.request_id,
                                                 provider_id=request.provider_id, reason=request.reason)
        return api.SuspendProviderResponse(provider=m.provider_pb(provider, self.service.today()))

    def ReinstateProvider(self, request, context):
        provider = self.service.reinstate_provider(current_principal(), request_id=request.request_id,
                                                   provider_id=request.provider_id)
        return api.ReinstateProviderResponse(provider=m.provider_pb(provider, self.service.today()))

    def GetProvider(self, request, context):
        return api.GetProviderResponse(provider=m.provider_pb(
            self.service.get_provider(current_principal(), request.provider_id), self.service.today()))

    def RescreenProvider(self, request, context):
        provider = self.service.rescreen_provider(current_principal(), request_id=request.request_id,
                                                  provider_id=request.provider_id)
        return api.RescreenProviderResponse(provider=m.provider_pb(provider, self.service.today()))

    def CreateOffer(self, request, context):
        offer = self.service.create_offer(
            current_principal(), request_id=request.request_id, title=request.title,
            price_cents=request.price_cents, hours=request.hours, earliest_start=request.earliest_start,
            latest_start=request.latest_start, instruments=[m.instrument_from_pb(i) for i in request.instruments],
            in_training_database=request.in_training_database,
            eligible_for_training_leave=request.eligible_for_training_leave)
        return api.CreateOfferResponse(offer=m.offer_pb(offer))

    def GetOffer(self, request, context):
        return api.GetOfferResponse(offer=m.offer_pb(self.service.get_offer(current_principal(), request.offer_id)))

    def ListOffers(self, request, context):
        offers, token = self.service.list_offers(current_principal(), page_size=request.page_size,
                                                 page_token=request.page_token, provider_id=request.provider_id)
        return api.ListOffersResponse(offers=[m.offer_pb(o) for o in offers], next_page_token=token)

    def CreateEnrolment(self, request, context):
        view = self.service.create_enrolment(current_principal(), request_id=request.request_id, row=_row(request))
        return api.CreateEnrolmentResponse(enrolment=_enrolment(view))

    def GetEnrolment(self, request, context):
        return api.GetEnrolmentResponse(enrolment=_enrolment(
            self.service.get_enrolment(current_principal(), request.enrolment_id)))

    def ListEnrolments(self, request, context):
        views, token = self.service.list_enrolments(
            current_principal(), page_size=request.page_size, page_token=request.page_token,
            status=m.STATUS_FROM_PB.get(request.status, ""), provider_id=request.provider_id)
        return api.ListEnrolmentsResponse(enrolments=[_enrolment(v) for v in views], next_page_token=token)

    def StartEnrolment(self, request, context):
        view = self.service.start(current_principal(), request_id=request.request_id,
                                  enrolment_id=request.enrolment_id, start_date=request.start_date)
        return api.StartEnrolmentResponse(enrolment=_enrolment(view))

    def CompleteEnrolment(self, request, context):
        view = self.service.complete(current_principal(), request_id=request.request_id,
                                     enrolment_id=request.enrolment_id, hours_attended=request.hours_attended,
                                     outcome=m.OUTCOME_FROM_PB.get(request.outcome, ""),
                                     completion_date=request.completion_date)
        return api.CompleteEnrolmentResponse(enrolment=_enrolment(view))

    def CancelEnrolment(self, request, context):
        view = self.service.cancel(current_principal(), request_id=request.request_id,
                                   enrolment_id=request.enrolment_id, reason=request.reason)
        return api.CancelEnrolmentResponse(enrolment=_enrolment(view))

    def DeclareDropOut(self, request, context):
        view = self.service.drop_out(current_principal(), request_id=request.request_id,
                                     enrolment_id=request.enrolment_id, hours_attended=request.hours_attended,
                                     dropout_date=request.dropout_date)
        return api.DeclareDropOutResponse(enrolment=_enrolment(view))

    def BulkCreateEnrolments(self, request_iterator, context):
        results = self.service.bulk_create(current_principal(), (_bulk_row(r) for r in request_iterator))
        return api.BulkCreateEnrolmentsResponse(
            results=[api.RowResult(row=r.row, enrolment_id=r.enrolment_id, error_code=r.error_code, field=r.field,
                                   reason=r.reason, replayed=r.replayed) for r in results],
            created=sum(1 for r in results if r.enrolment_id and not r.replayed),
            failed=sum(1 for r in results if r.error_code))

    # --- payment terms -------------------------------------------------------------------------
    def ListPayables(self, request, context):
        views, token = self.service.payables.list_payables(
            current_principal(), page_size=request.page_size, page_token=request.page_token,
            provider_id=request.provider_id, status=m.PAYABLE_STATUS_FROM_PB.get(request.status, ""))
        return api.ListPayablesResponse(payables=[_payable(v) for v in views], next_page_token=token)

    def RecordPayment(self, request, context):
        view = self.service.payables.record_payment(
            current_principal(), reference=request.reference, payable_id=request.payable_id,
            amount_cents=request.amount_cents, paid_on=request.paid_on)
        return api.RecordPaymentResponse(payable=_payable(view))

    def GetPaymentTermStats(self, request, context):
        stats, token = self.service.payables.stats(current_principal(), page_size=request.page_size,
                                                   page_token=request.page_token, provider_id=request.provider_id)
        return api.GetPaymentTermStatsResponse(providers=[m.term_stats_pb(s) for s in stats], next_page_token=token)


def _payable(view: PayableView) -> api.Payable:
    return m.payable_pb(view.payable, view.status, view.days_overdue)


def registration(service: EnrolmentService):
    return (api_grpc.add_EnrolmentServiceServicer_to_server, EnrolmentServicer(service), SERVICE_NAME)
