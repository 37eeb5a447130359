"""grpcurl, the ecosystem's own gRPC client (built from the Go module proxy by `make test-deps`,
pinned in infra/grpcurl/go.mod), explores our APIs through server reflection only, with no
.proto file: it lists the services, describes a method and a message (method symbols used to
be "Symbol not found"), and invokes calls with JSON. Against the certification service as it
runs (Verify with a credential it issued), and against the gRPC servers of accounts,
enrolments and kpi as `services.common.grpc_server` builds them with each service's servicer."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool

from services.accounts.entrypoints.grpc_api import registration as accounts_with_openings
from services.common.auth import Role
from services.common.grpc_server import build_server
from services.common.settings import DEFAULT_HOME
from services.common.tls import server_credentials, write_tls
from services.enrolments.entrypoints.grpc_api import registration as enrolments_registration
from services.kpi.entrypoints.grpc_api import registration as kpi_registration

GRPCURL = DEFAULT_HOME / "bin" / "grpcurl"
ALWAYS = {"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
          "grpc.reflection.v1alpha.ServerReflection", "llr.common.v1.PlatformService"}


def run_grpcurl(port: int, *args: str, data: dict | None = None, token: str | None = None,
                cacert: Path | None = None) -> subprocess.CompletedProcess:
    """grpcurl against 127.0.0.1:port: plaintext, or TLS trusting ``cacert``."""
    assert GRPCURL.exists(), f"run `make test-deps` (builds {GRPCURL})"
    command = [str(GRPCURL), *(["-cacert", str(cacert)] if cacert else ["-plaintext"]), "-max-time", "10"]
    if token:
        command += ["-H", f"authorization: Bearer {token}"]
    if data is not None:
        command += ["-d", json.dumps(data)]
    return subprocess.run([*command, f"127.0.0.1:{port}", *args], capture_output=True, text=True, timeout=30)


def grpcurl(port: int, *args: str, **options) -> str:
    run = run_grpcurl(port, *args, **options)
    assert run.returncode == 0, f"grpcurl {' '.join(args)}: {run.stderr}"
    return run.stdout


def explore(port: int, service: str, method: str, request: str, also: frozenset[str] = frozenset()) -> None:
    assert set(grpcurl(port, "list").split()) == ALWAYS | {service} | also
    described = grpcurl(port, "describe", f"{service}.{method}")
    assert f"{service}.{method} is a method" in described and f"rpc {method} ( .{request} )" in described
    assert f"{request} is a message" in grpcurl(port, "describe", request)
    assert grpcurl(port, "describe", "grpc.reflection.v1.ServerReflection").startswith(
        "grpc.reflection.v1.ServerReflection is a service")


def test_grpcurl_explores_the_certification_service_and_verifies_a_credential(runtime, client):
    port = runtime.grpc.port
    # A service with a database keeps the audit trail of its commands and serves it.
    explore(port, "llr.certification.v1.CertificationService", "Verify", "llr.certification.v1.VerifyRequest",
            also=frozenset({"llr.common.v1.AuditService"}))
    client.accredit("org-a")
    credential = client.issue("org-a", client.qualified_mentor("org-a", "person-1").candidate_id).credential_json

    answer = json.loads(grpcurl(port, "llr.certification.v1.CertificationService/Verify",
                                data={"credential_json": credential}))
    assert answer["status"] == "VERIFICATION_STATUS_VALID"
    assert answer["credential_id"] == json.loads(credential)["id"]   # grpcurl prints the proto's field names
    forged = credential.replace("Mentor certificate", "Mentor certificatf")
    answer = json.loads(grpcurl(port, "llr.certification.v1.CertificationService/Verify",
                                data={"credential_json": forged}))
    assert answer["status"] == "VERIFICATION_STATUS_INVALID_SIGNATURE"
    who = json.loads(grpcurl(port, "llr.common.v1.PlatformService/WhoAmI", data={},
                             token=client.org("org-a")))
    assert (who["organisation_id"], who["role"], who["service"]) == ("org-a", "MENTORING_ORGANISATION", "certification")


def accounts_registration(service):
    """The accounts servicer (its budget-openings use cases are not called here)."""
    return accounts_with_openings(service, None)


def kpi_with_signals(board):
    """The KPI servicer (its fraud signals are not called here)."""
    return kpi_registration(board, None)


@pytest.mark.parametrize("name, registration", [
    ("accounts", accounts_registration), ("enrolments", enrolments_registration), ("kpi", kpi_with_signals)])
def test_grpcurl_explores_every_other_service(token_verifier, token_for, name, registration):
    add, servicer, service_name = registration(None)
    service = descriptor_pool.Default().FindServiceByName(service_name)
    app = build_server(service_name=name, host="127.0.0.1", port=0, registrations=[(add, servicer, service_name)],
                       verifier=token_verifier)
    try:
        first = service.methods[0]
        explore(app.port, service.full_name, first.name, first.input_type.full_name)
        health = json.loads(grpcurl(app.port, "grpc.health.v1.Health/Check", data={"service": service.full_name}))
        assert health == {"status": "SERVING"}
        who = json.loads(grpcurl(app.port, "llr.common.v1.PlatformService/WhoAmI", data={},
                                 token=token_for("statbel", Role.KPI_CONSUMER)))
        assert (who["organisation_id"], who["role"], who["service"]) == ("statbel", "KPI_CONSUMER", name)
    finally:
        app.stop(0)


def test_grpcurl_reaches_a_tls_server_trusting_its_ca_only(token_verifier, token_for, tmp_path):
    ours, theirs = write_tls(tmp_path / "ours", ["127.0.0.1"]), write_tls(tmp_path / "theirs", ["127.0.0.1"])
    add, servicer, service_name = accounts_registration(None)
    app = build_server(service_name="accounts", host="127.0.0.1", port=0, registrations=[(add, servicer, service_name)],
                       verifier=token_verifier, credentials=server_credentials(ours.cert, ours.key))
    try:
        assert service_name in grpcurl(app.port, "list", cacert=ours.ca).split()
        who = json.loads(grpcurl(app.port, "llr.common.v1.PlatformService/WhoAmI", data={}, cacert=ours.ca,
                                 token=token_for("vdab", Role.REGISSEUR)))
        assert (who["organisation_id"], who["service"]) == ("vdab", "accounts")
        assert run_grpcurl(app.port, "list").returncode != 0, "plaintext is refused"
        other = run_grpcurl(app.port, "list", cacert=theirs.ca)
        assert other.returncode != 0 and "certificate" in other.stderr, other.stderr
    finally:
        app.stop(0)
