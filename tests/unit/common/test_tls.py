"""TLS settings and helpers (services/common/tls.py): plaintext only on loopback, the development
CA and its certificate, the health check over TLS, clear errors for missing files."""
from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pydantic import ValidationError

from services.accounts.settings import AccountsSettings
from services.certification.settings import CertificationSettings
from services.common import healthcheck
from services.common.tls import DEV_NAMES, ensure_dev_tls, is_loopback, server_credentials, service_channel


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                            ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                            ("::", False), ("10.0.0.7", False), ("accounts", False)])
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_plaintext_is_refused_beyond_loopback_naming_the_settings(tmp_path):
    with pytest.raises(ValidationError) as caught:
        AccountsSettings(grpc_host="0.0.0.0")
    assert ("LLR_ACCOUNTS_GRPC_HOST=0.0.0.0 is not a loopback address, and gRPC without TLS is only served on "
            "loopback: set LLR_ACCOUNTS_GRPC_TLS_CERT_FILE and LLR_ACCOUNTS_GRPC_TLS_KEY_FILE") in str(caught.value)
    with pytest.raises(ValidationError, match="LLR_ACCOUNTS_GRPC_TLS_CERT_FILE and LLR_ACCOUNTS_GRPC_TLS_KEY_FILE go together"):
        AccountsSettings(grpc_tls_cert_file=tmp_path / "server.pem")
    assert AccountsSettings(grpc_host="0.0.0.0", grpc_tls_cert_file=tmp_path / "c", grpc_tls_key_file=tmp_path / "k")
    assert AccountsSettings(grpc_host="::1").grpc_tls_cert_file is None


def test_certification_serves_https_with_the_grpc_certificate_unless_told_otherwise(tmp_path):
    grpc_tls = {"grpc_tls_cert_file": tmp_path / "g.pem", "grpc_tls_key_file": tmp_path / "g-key.pem"}
    assert CertificationSettings().http_tls() == (None, None)
    assert CertificationSettings(**grpc_tls).http_tls() == (tmp_path / "g.pem", tmp_path / "g-key.pem")
    own = CertificationSettings(**grpc_tls, http_tls_cert_file=tmp_path / "h.pem", http_tls_key_file=tmp_path / "h-key.pem")
    assert own.http_tls() == (tmp_path / "h.pem", tmp_path / "h-key.pem")


def test_the_audience_of_a_service_is_its_name_unless_configured():
    assert AccountsSettings().audience == "llr-accounts"
    assert AccountsSettings(auth_audience="https://api.example/accounts").audience == "https://api.example/accounts"


def test_the_development_ca_is_made_once_for_loopback_and_the_compose_hosts(tmp_path):
    files = ensure_dev_tls(tmp_path)
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(n.value) if isinstance(n, x509.IPAddress) else n.value for n in names} == set(DEV_NAMES)
    assert files.key.stat().st_mode & 0o077 == 0
    before = files.cert.read_bytes()
    assert ensure_dev_tls(tmp_path) == files and files.cert.read_bytes() == before


def test_a_missing_ca_file_is_a_clear_error(tmp_path):
    settings = AccountsSettings(grpc_tls_ca_file=tmp_path / "nope.pem")
    with pytest.raises(ValueError, match=f"cannot read the CA certificate LLR_ACCOUNTS_GRPC_TLS_CA_FILE={tmp_path}/nope.pem"):
        service_channel(settings)


def test_the_health_check_speaks_tls_when_given_the_ca(tmp_path):
    files = ensure_dev_tls(tmp_path)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(files.cert, files.key))
    server.start()
    try:
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        assert healthcheck.main([str(port), "--cacert", str(files.ca)]) == 0
        assert healthcheck.main([str(port), "localhost", "--cacert", str(files.ca)]) == 0
        assert healthcheck.main([str(port), "--cacert", str(files.ca), "--server-name", "enrolments"]) == 0
        assert healthcheck.main([str(port), "--cacert", str(files.ca), "--server-name", "elsewhere"]) == 1
        assert healthcheck.main([str(port)]) == 1, "plaintext gets no answer"
        servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert healthcheck.main([str(port), "--cacert", str(files.ca)]) == 1
    finally:
        server.stop(0)
