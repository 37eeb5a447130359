"""The public-document HTTP server on loopback: caching headers and revalidation, HEAD, CORS,
errors from one table, a stuck client that holds nobody up, and HTTPS with a configured
certificate."""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pymongo.errors import ServerSelectionTimeoutError

from services.common.errors import InvalidArgument, NotFound
from services.common.http_server import Document, PublicHttpServer

DOC = Document(b'{"hello": "world"}\n', "application/json", "public, max-age=60")


def handle(path: str) -> Document:
    if path == "/doc":
        return DOC
    if path == "/bad":
        raise InvalidArgument("path", "is bad")
    if path == "/down":
        raise ServerSelectionTimeoutError("no database")
    if path == "/bug":
        raise RuntimeError("secret detail")
    raise NotFound(f"nothing at {path}")


@pytest.fixture
def serve():
    servers = []

    def start(**kw) -> PublicHttpServer:
        server = PublicHttpServer(name="test-docs", host="127.0.0.1", port=0, **kw)
        server.handle = handle
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.shutdown()
        server.close()


def request(server, method: str, path: str, headers=None, context=None):
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=5, context=context)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def test_a_document_carries_its_caching_headers_and_revalidates(serve):
    server = serve()
    response, body = request(server, "GET", "/doc?cache-buster=1")
    assert response.status == 200 and body == DOC.body
    assert response.getheader("Content-Type") == "application/json"
    assert response.getheader("Cache-Control") == "public, max-age=60"
    assert response.getheader("Access-Control-Allow-Origin") == "*"
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Server") == "test-docs"
    etag = response.getheader("ETag")
    assert etag == DOC.etag and etag.startswith('"')
    again, body = request(server, "GET", "/doc", {"If-None-Match": f'"other", {etag}'})
    assert again.status == 304 and body == b"" and again.getheader("ETag") == etag
    changed, body = request(server, "GET", "/doc", {"If-None-Match": '"other"'})
    assert changed.status == 200 and body == DOC.body
    head, body = request(server, "HEAD", "/doc")
    assert head.status == 200 and body == b"" and head.getheader("Content-Length") == str(len(DOC.body))


@pytest.mark.parametrize("path, status, text", [
    ("/nothing", 404, "nothing at /nothing"), ("/bad", 400, "path: is bad"),
    ("/down", 503, "a dependency is unavailable; retry later"), ("/bug", 500, "internal error; the service logged it"),
    ("/" + "x" * 3000, 414, "the request target is longer than 2048 characters"),
])
def test_errors_come_from_one_table_and_never_leak_details(serve, path, status, text):
    response, body = request(serve(), "GET", path)
    assert response.status == status
    assert body.decode().strip() == text
    assert response.getheader("Cache-Control") == "no-store"
    assert (response.getheader("Retry-After") is not None) == (status == 503)


def test_only_reads_are_answered(serve):
    response, _ = request(serve(), "POST", "/doc")
    assert response.status == 501


def test_a_client_that_sends_nothing_holds_up_nobody(serve):
    server = serve()
    idle = socket.create_connection(("127.0.0.1", server.port))
    try:
        response, body = request(server, "GET", "/doc")
        assert response.status == 200 and body == DOC.body
    finally:
        idle.close()


def test_not_answering_before_a_handler_is_set():
    server = PublicHttpServer(name="test-docs", host="127.0.0.1", port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        response, _ = request(server, "GET", "/doc")
        assert response.status == 503
    finally:
        server.shutdown()
        server.close()


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_https_where_a_certificate_is_configured(serve, tmp_path):
    cert_file, key_file = _self_signed(tmp_path)
    server = serve(tls_cert_file=cert_file, tls_key_file=key_file)
    assert server.url == f"https://127.0.0.1:{server.port}"
    idle = socket.create_connection(("127.0.0.1", server.port))   # a handshake that never comes
    try:
        context = ssl.create_default_context(cafile=str(cert_file))
        response, body = request(server, "GET", "/doc", context=context)
        assert response.status == 200 and body == DOC.body
    finally:
        idle.close()
    with pytest.raises(ValueError):
        PublicHttpServer(name="x", host="127.0.0.1", port=0, tls_cert_file=cert_file)
