"""The gRPC servicer of ``llr.certification.v1.CertificationService``: translate the request,
call the use case, translate the answer. Domain errors become status codes in the shared
``ErrorInterceptor``."""
from __future__ import annotations

import json

from llr.certification.v1 import certification_service_pb2 as api
from llr.certification.v1 import certification_service_pb2_grpc as api_grpc

from services.common.auth import current_principal

from ..adapters import protobuf as pb
from ..service.handlers import CertificationService

SERVICE_NAME = api.DESCRIPTOR.services_by_name["CertificationService"].full_name
PUBLIC_METHODS = tuple(f"/{SERVICE_NAME}/{m}" for m in ("GetStatusList", "GetIssuer", "Verify"))


class CertificationServicer(api_grpc.CertificationServiceServicer):
    def __init__(self, service: CertificationService) -> None:
        self.service = service

    def AccreditOrganisation(self, request, context):
        org = self.service.accredit_organisation(current_principal(), request_id=request.request_id,
                                                 organisation_id=request.organisation_id, name=request.name)
        return api.AccreditOrganisationResponse(organisation=pb.organisation(org, self.service.today()))

    def SuspendOrganisation(self, request, context):
        org = self.service.suspend_organisation(current_principal(), request_id=request.request_id,
                                                organisation_id=request.organisation_id, reason=request.reason)
        return api.SuspendOrganisationResponse(organisation=pb.organisation(org, self.service.today()))

    def ReinstateOrganisation(self, request, context):
        org = self.service.reinstate_organisation(current_principal(), request_id=request.request_id,
                                                  organisation_id=request.organisation_id)
        return api.ReinstateOrganisationResponse(organisation=pb.organisation(org, self.service.today()))

    def RescreenOrganisation(self, request, context):
        org = self.service.rescreen_organisation(current_principal(), request_id=request.request_id,
                                                 organisation_id=request.organisation_id)
        return api.RescreenOrganisationResponse(organisation=pb.organisation(org, self.service.today()))

    def GetOrganisation(self, request, context):
        org = self.service.get_organisation(current_principal(), organisation_id=request.organisation_id)
        return api.GetOrganisationResponse(organisation=pb.organisation(org, self.service.today()))

    def RegisterCandidate(self, request, context):
        candidate = self.service.register_candidate(
            current_principal(), request_id=request.request_id, organisation_id=request.organisation_id,
            person_id=request.person_id, role=pb.role_from_pb(request.role))
        return api.RegisterCandidateResponse(candidate=pb.candidate(candidate))

    def RecordTraining(self, request, context):
        record = self.service.record_training(
            current_principal(), request_id=request.request_id, candidate_id=request.candidate_id,
            module_id=request.module_id, hours=request.hours, completed_on=request.completed_on,
            result=pb.result_from_pb(request.result))
        return api.RecordTrainingResponse(record=pb.training(record))

    def IssueCertificate(self, request, context):
        stored = self.service.issue_certificate(current_principal(), request_id=request.request_id,
                                                candidate_id=request.candidate_id)
        return api.IssueCertificateResponse(certificate=pb.certificate(stored), credential_json=stored.credential_json)

    def RenewCertificate(self, request, context):
        stored = self.service.renew_certificate(current_principal(), request_id=request.request_id,
                                                certificate_id=request.certificate_id)
        return api.RenewCertificateResponse(certificate=pb.certificate(stored), credential_json=stored.credential_json)

    def SuspendCertificate(self, request, context):
        stored = self.service.suspend_certificate(current_principal(), request_id=request.request_id,
                                                  certificate_id=request.certificate_id, reason=request.reason)
        return api.SuspendCertificateResponse(certificate=pb.certificate(stored))

    def ReinstateCertificate(self, request, context):
        stored = self.service.reinstate_certificate(current_principal(), request_id=request.request_id,
                                                    certificate_id=request.certificate_id)
        return api.ReinstateCertificateResponse(certificate=pb.certificate(stored))

    def RevokeCertificate(self, request, context):
        stored = self.service.revoke_certificate(current_principal(), request_id=request.request_id,
                                                 certificate_id=request.certificate_id, reason=request.reason)
        return api.RevokeCertificateResponse(certificate=pb.certificate(stored))

    def GetCertificate(self, request, context):
        stored = self.service.get_certificate(current_principal(), certificate_id=request.certificate_id)
        return api.GetCertificateResponse(certificate=pb.certificate(stored), credential_json=stored.credential_json)

    def ListCertificates(self, request, context):
        items, token = self.service.list_certificates(
            current_principal(), page_size=request.page_size, page_token=request.page_token,
            organisation_id=request.organisation_id, candidate_id=request.candidate_id,
            holder_id=request.holder_id, role=pb.role_from_pb(request.role),
            status=pb.status_from_pb(request.status))
        return api.ListCertificatesResponse(certificates=[pb.certificate(s) for s in items], next_page_token=token)

    def AssignMentee(self, request, context):
        view = self.service.assign_mentee(current_principal(), request_id=request.request_id,
                                          mentor_candidate_id=request.mentor_candidate_id, mentee_id=request.mentee_id)
        a = view.assignment
        return api.AssignMenteeResponse(assignment=api.MentorAssignment(
            assignment_id=a.assignment_id, organisation_id=a.organisation_id,
            mentor_candidate_id=a.mentor_candidate_id, mentor_certificate_id=a.mentor_certificate_id,
            mentee_id=a.mentee_id, assigned_on=a.assigned_on.isoformat(), active_mentees=view.active_mentees,
            capacity=view.capacity))

    def GetRequirements(self, request, context):
        view = self.service.requirements(current_principal(), role=pb.role_from_pb(request.role),
                                         on_date=request.on_date, candidate_id=request.candidate_id)
        response = api.GetRequirementsResponse(
            policy_version=view.policy.version, effective_from=view.policy.effective_from.isoformat(),
            requirements=[pb.requirements(c) for c in view.credentials],
            max_active_mentees_per_mentor=view.policy.max_active_mentees_per_mentor)
        if view.evaluation is not None:
            response.missing.extend(pb.missing(m) for m in view.evaluation.missing)
            response.requirements_met = view.evaluation.met
        return response

    def GetStatusList(self, request, context):
        document = self.service.status_list_credential(request.status_list_credential)
        return api.GetStatusListResponse(status_list_json=json.dumps(document))

    def GetIssuer(self, request, context):
        view = self.service.issuer_view()
        return api.GetIssuerResponse(issuer_id=view.issuer_id, name=view.name,
                                     verification_method=view.verification_method,
                                     public_key_multibase=view.public_key_multibase)

    def Verify(self, request, context):
        return pb.verification(self.service.verify_credential(request.credential_json))


def registration(service: CertificationService):
    return (api_grpc.add_CertificationServiceServicer_to_server, CertificationServicer(service), SERVICE_NAME)
