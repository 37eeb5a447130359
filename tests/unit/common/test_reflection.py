"""Server reflection v1 and v1alpha with every symbol resolvable (grpcurl drives the same calls
against the real services in tests/integration/common/test_grpcurl.py)."""
from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection_pb2

from llr.certification.v1 import certification_service_pb2_grpc as cert_grpc
from services.common.reflection import V1_FILE, SERVICE_NAMES, _v1_file, enable_reflection

CERTIFICATION = "llr.certification.v1.CertificationService"


@pytest.fixture(scope="module")
def channel():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    cert_grpc.add_CertificationServiceServicer_to_server(cert_grpc.CertificationServiceServicer(), server)
    enable_reflection([CERTIFICATION], server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    server.stop(0)


def ask(channel, service: str, **request):
    call = channel.stream_stream(f"/{service}/ServerReflectionInfo",
                                 request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                 response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    [response] = list(call(iter([reflection_pb2.ServerReflectionRequest(**request)]), timeout=5))
    return response


def files(response) -> list[str]:
    return [descriptor_pb2.FileDescriptorProto.FromString(raw).name
            for raw in response.file_descriptor_response.file_descriptor_proto]


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_both_versions_list_the_services(channel, service):
    names = {s.name for s in ask(channel, service, list_services="").list_services_response.service}
    assert names == {CERTIFICATION, *SERVICE_NAMES}


@pytest.mark.parametrize("service", SERVICE_NAMES)
@pytest.mark.parametrize("symbol, file", [
    (CERTIFICATION, "llr/certification/v1/certification_service.proto"),
    (f"{CERTIFICATION}.Verify", "llr/certification/v1/certification_service.proto"),   # a method
    ("llr.certification.v1.VerifyRequest.credential_json", "llr/certification/v1/certification_service.proto"),
    ("llr.certification.v1.CredentialType.CREDENTIAL_TYPE_LEERCOACH", "llr/certification/v1/events.proto"),
    ("grpc.reflection.v1.ServerReflection.ServerReflectionInfo", V1_FILE),
])
def test_every_symbol_resolves_to_its_file_with_dependencies(channel, service, symbol, file):
    response = ask(channel, service, file_containing_symbol=symbol)
    assert not response.HasField("error_response"), response.error_response
    assert files(response)[0] == file


@pytest.mark.parametrize("symbol", ["llr.certification.v1.Nope", f"{CERTIFICATION}.Nope", "Nope", ""])
def test_an_unknown_symbol_is_not_found(channel, symbol):
    response = ask(channel, SERVICE_NAMES[0], file_containing_symbol=symbol)
    assert response.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


def test_v1_is_v1alpha_under_its_own_package():
    v1 = descriptor_pb2.FileDescriptorProto()
    _v1_file(descriptor_pool.Default()).CopyToProto(v1)
    alpha = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(alpha)
    assert (v1.name, v1.package) == ("grpc/reflection/v1/reflection.proto", "grpc.reflection.v1")
    for mine, theirs in zip(v1.message_type, alpha.message_type, strict=True):
        assert mine.name == theirs.name
        assert [(f.name, f.number, f.type, f.type_name.replace(".v1.", ".v1alpha.")) for f in mine.field] == \
               [(f.name, f.number, f.type, f.type_name) for f in theirs.field]
