"""The dashboard over HTTPS when the kpi service has a certificate (docker-compose, Kubernetes):
a client trusting the platform's CA reads it, one trusting another CA and a plain HTTP client do not."""
from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request

import pytest

from services.common.tls import write_tls
from services.kpi.entrypoints.dashboard import Dashboard
from services.kpi.service.board import Board


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("tls")
    return write_tls(base / "ours", ["127.0.0.1"]), write_tls(base / "theirs", ["127.0.0.1"])


@pytest.fixture
def dashboard(pki):
    ours, _ = pki
    board = Dashboard(Board(), "127.0.0.1", 0, tls_cert_file=ours.cert, tls_key_file=ours.key).start()
    yield board
    board.stop()


def test_the_dashboard_serves_https_with_the_services_certificate(dashboard, pki):
    ours, theirs = pki
    url = f"https://127.0.0.1:{dashboard.port}"
    assert dashboard.scheme == "https"
    trusted = ssl.create_default_context(cafile=str(ours.ca))
    with urllib.request.urlopen(f"{url}/api/dashboard.json", context=trusted, timeout=10) as reply:
        assert reply.status == 200 and isinstance(json.loads(reply.read()), dict)
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"{url}/healthz", context=ssl.create_default_context(cafile=str(theirs.ca)),
                               timeout=10)
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        urllib.request.urlopen(f"http://127.0.0.1:{dashboard.port}/healthz", timeout=10)
    # The plain request did not break the server: it still answers the next client.
    with urllib.request.urlopen(f"{url}/healthz", context=trusted, timeout=10) as reply:
        assert reply.read() == b"ok"


def test_without_a_certificate_the_dashboard_speaks_plain_http():
    dashboard = Dashboard(Board(), "127.0.0.1", 0).start()
    try:
        assert dashboard.scheme == "http"
        with urllib.request.urlopen(f"http://127.0.0.1:{dashboard.port}/healthz", timeout=10) as reply:
            assert reply.read() == b"ok"
    finally:
        dashboard.stop()
