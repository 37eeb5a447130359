"""Our credentials verified by the ecosystem's reference implementation, as an outside verifier
would: the certification service (real Kafka and FerretDB, the real clock) publishes its did:web
DID document, signed status lists and JSON-LD contexts over HTTP, and `interop/verify.mjs`
(@digitalbazaar/vc 7.3.0, eddsa-jcs-2022-cryptosuite 1.0.0, vc-bitstring-status-list 2.0.1 on
the machine's Node.js, installed by `make test` with `npm ci`) resolves all of it from the
running service and nothing else. Its verdict must agree with our own `Verify` on every case."""
from __future__ import annotations

import http.client
import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from llr.certification.v1 import certification_service_pb2 as api
from services.common.clock import SystemClock

INTEROP = Path(__file__).with_name("interop")
POLICY = Path(__file__).resolve().parents[3] / "services" / "certification" / "policies" / "certification.yaml"


@pytest.fixture
def clock():
    """The real clock: the reference verifier checks validity dates, and a status list's, on its own clock."""
    return SystemClock()


@pytest.fixture
def settings(settings, tmp_path):
    """The shipped policy with the mentor's renewal window open from the day of issue, so that a
    renewal needs no time travel."""
    policy = yaml.safe_load(POLICY.read_text())
    for version in policy["versions"]:
        version["credentials"]["MENTOR"]["renewal"].update(window_days_before_expiry=3650,
                                                            continuing_education_hours=7)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    return settings.model_copy(update={"policy_file": path})


def get(url: str, headers: dict | None = None):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", parts.path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def reference_verify(base_url: str, cases: dict[str, str], tmp_path) -> dict:
    node = shutil.which("node")
    assert node, "Node.js (>= 20) is needed: the reference verifier is an npm package"
    assert (INTEROP / "node_modules" / ".stamp").exists(), f"run `make test-deps` (npm ci in {INTEROP})"
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps({"cases": [{"name": n, "credential": json.loads(c)} for n, c in cases.items()]}))
    run = subprocess.run([node, str(INTEROP / "verify.mjs"), base_url, str(cases_file)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def one_character_changed(credential_json: str) -> str:
    subject = json.loads(credential_json)["credentialSubject"]["id"]
    forged = credential_json.replace(subject, subject[:-1] + ("x" if subject[-1] != "x" else "y"))
    assert sum(a != b for a, b in zip(forged, credential_json, strict=True)) == 1
    return forged


def test_the_reference_implementation_verifies_our_credentials(runtime, client, tmp_path):
    base_url = runtime.http.url
    client.accredit("org-a")
    token = client.org("org-a")
    issued = {
        "leercoach": client.issue("org-a", client.qualified_leercoach("org-a", "person-1").candidate_id),
        "mentor": client.issue("org-a", client.qualified_mentor("org-a", "person-2").candidate_id),
        "revoked": client.issue("org-a", client.qualified_mentor("org-a", "person-3").candidate_id),
        "suspended": client.issue("org-a", client.qualified_mentor("org-a", "person-4").candidate_id),
    }
    client("RevokeCertificate", api.RevokeCertificateRequest(
        request_id="rv", certificate_id=issued["revoked"].certificate.certificate_id, reason="fraud"), token)
    client("SuspendCertificate", api.SuspendCertificateRequest(
        request_id="sp", certificate_id=issued["suspended"].certificate.certificate_id, reason="complaint"), token)
    mentor = issued["mentor"].certificate
    client.train("org-a", mentor.candidate_id, "MENTOR-CE", completed_on=runtime.clock.now().date().isoformat())
    renewed = client("RenewCertificate", api.RenewCertificateRequest(
        request_id="rn", certificate_id=mentor.certificate_id), token)
    assert renewed.credential_json != issued["mentor"].credential_json

    cases = {name: stored.credential_json for name, stored in issued.items()}
    cases["renewed"] = renewed.credential_json
    cases["tampered"] = one_character_changed(issued["leercoach"].credential_json)
    credential = json.loads(cases["leercoach"])
    assert credential["issuer"]["id"] == "did:web:127.0.0.1%3A" + str(runtime.http.port)
    assert all(e["statusListCredential"].startswith(base_url + "/status/") for e in credential["credentialStatus"])

    report = reference_verify(base_url, cases, tmp_path)
    results = report["results"]
    for name in ("leercoach", "mentor", "renewed"):
        assert results[name] == {"verified": True, "error": None,
                                 "status": {"revocation": False, "suspension": False}}, name
    # The status check passes (the list is genuine); the set bit is the verdict.
    assert results["revoked"]["verified"] and results["revoked"]["status"] == {"revocation": True, "suspension": False}
    assert results["suspended"]["verified"] and results["suspended"]["status"] == {"revocation": False,
                                                                                   "suspension": True}
    assert not results["tampered"]["verified"] and "signature" in results["tampered"]["error"].lower()

    # It resolved everything from the running service: the DID, its key, the lists, the contexts.
    assert set(report["requested"]) >= {credential["issuer"]["id"], credential["proof"]["verificationMethod"],
                                         *(e["statusListCredential"] for e in credential["credentialStatus"]),
                                         *credential["@context"]}
    assert set(report["expanded"].values()) == {"ok"}, report["expanded"]   # every term defined
    assert set(report["contexts"].values()) == {"same"}, report["contexts"]  # the publishers' contexts

    # Our own Verify says the same on every case.
    ours = {name: client("Verify", api.VerifyRequest(credential_json=c)).status for name, c in cases.items()}
    assert ours == {"leercoach": api.VERIFICATION_STATUS_VALID, "mentor": api.VERIFICATION_STATUS_VALID,
                    "renewed": api.VERIFICATION_STATUS_VALID, "revoked": api.VERIFICATION_STATUS_REVOKED,
                    "suspended": api.VERIFICATION_STATUS_SUSPENDED,
                    "tampered": api.VERIFICATION_STATUS_INVALID_SIGNATURE}


def test_the_public_documents_carry_caching_headers(runtime, client):
    base_url = runtime.http.url
    client.accredit("org-a")
    credential = json.loads(client.issue("org-a", client.qualified_mentor("org-a", "person-9").candidate_id)
                            .credential_json)

    response, body = get(base_url + "/.well-known/did.json")
    assert response.status == 200 and response.getheader("Content-Type") == "application/did+ld+json"
    assert response.getheader("Cache-Control") == "public, max-age=3600"
    assert response.getheader("Access-Control-Allow-Origin") == "*"
    did_document = json.loads(body)
    assert did_document["assertionMethod"] == [credential["proof"]["verificationMethod"]]
    revalidated, _ = get(base_url + "/.well-known/did.json", {"If-None-Match": response.getheader("ETag")})
    assert revalidated.status == 304

    status_url = credential["credentialStatus"][0]["statusListCredential"]
    response, body = get(status_url)
    assert response.status == 200 and response.getheader("Content-Type") == "application/vc"
    assert response.getheader("Cache-Control") == "public, max-age=300"
    status_list = json.loads(body)
    assert status_list["proof"]["cryptosuite"] == "eddsa-jcs-2022" and status_list["id"] == status_url

    contexts = json.loads(get(base_url + "/contexts/")[1])["contexts"]
    response, _ = get(contexts[credential["@context"][1]]["href"])
    assert response.status == 200 and "immutable" in response.getheader("Cache-Control")
    assert get(base_url + "/status/revocation/999")[0].status == 404
