"""The public documents (DID document, status lists, contexts) over HTTPS when the service has a
gRPC certificate and no HTTP one of its own: a client trusting the CA reads them, one trusting
another CA and a plain HTTP client do not."""
from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request

import pymongo
import pytest

from services.certification.entrypoints.main import build
from services.common.tls import write_tls


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("tls")
    return write_tls(base / "ours", ["127.0.0.1"]), write_tls(base / "theirs", ["127.0.0.1"])


def test_certification_serves_its_public_documents_over_https_with_the_grpc_certificate(settings, clock, pki):
    ours, theirs = pki
    runtime = build(settings.model_copy(update={"grpc_tls_cert_file": ours.cert, "grpc_tls_key_file": ours.key,
                                                "grpc_tls_ca_file": ours.ca}), clock)
    try:
        url = runtime.http.url
        assert url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(ours.ca))
        with urllib.request.urlopen(f"{url}/.well-known/did.json", context=trusted, timeout=10) as reply:
            assert json.loads(reply.read())["id"] == "did:web:127.0.0.1%3A" + url.rsplit(":", 1)[1]
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(f"{url}/.well-known/did.json",
                                   context=ssl.create_default_context(cafile=str(theirs.ca)), timeout=10)
        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            urllib.request.urlopen(f"http://{url.removeprefix('https://')}/.well-known/did.json", timeout=10)
    finally:
        runtime.stop(grace_s=0)
        client = pymongo.MongoClient(settings.mongo_uri)
        client.drop_database(settings.mongo_db)
        client.close()
