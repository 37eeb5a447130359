"""gRPC over TLS and the token policy on a real service process (accounts, ``python -m
services.accounts.entrypoints.main`` on the real Kafka and FerretDB): with a certificate it serves
TLS only, a client trusting the CA gets in and no other does; without one it refuses to listen
anywhere but on loopback; a token of another issuer, for another audience or past its expiry is
UNAUTHENTICATED naming the claim. (Certification's public documents over HTTPS with the gRPC
certificate: tests/integration/certification/test_https.py.)"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
import pymongo
import pytest

from infra.run import free_port
from llr.common.v1 import platform_pb2, platform_pb2_grpc
from services.common import healthcheck
from services.common.auth import Role, TokenIssuer
from services.common.clock import FakeClock, SystemClock
from services.common.grpc_server import bearer
from services.common.tls import open_channel, write_tls
from tests.eventually import eventually

REPO = Path(__file__).resolve().parents[3]


def accounts_env(kafka, mongo_uri, unique, public_key_file, **settings) -> dict[str, str]:
    """The accounts service's environment; on Kafka as the tests' admin principal (what is tested
    here is gRPC, not the Kafka ACLs: tests/integration/common/test_kafka_acls.py)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLR_") or k.startswith("LLR_INFRA_")}
    env.update(LLR_ACCOUNTS_MONGO_URI=mongo_uri, LLR_ACCOUNTS_MONGO_DB=f"test_tls_{unique}",
               LLR_ACCOUNTS_KAFKA_BOOTSTRAP=kafka.bootstrap, LLR_ACCOUNTS_KAFKA_USERNAME=kafka.username,
               LLR_ACCOUNTS_KAFKA_PASSWORD=kafka.password, LLR_ACCOUNTS_TOPIC_NAMESPACE=f"t{unique}.",
               LLR_ACCOUNTS_AUTH_PUBLIC_KEY_FILE=str(public_key_file), LLR_ACCOUNTS_AUTH_ISSUER="llr-test-idp",
               LLR_ACCOUNTS_GRPC_PORT=str(free_port()))
    env.update({f"LLR_ACCOUNTS_{k.upper()}": str(v) for k, v in settings.items()})
    return env


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The CA and certificate the service runs with, and a second CA nobody signed it with."""
    base = tmp_path_factory.mktemp("tls")
    return write_tls(base / "ours", ["localhost", "127.0.0.1"]), write_tls(base / "theirs", ["127.0.0.1"])


@pytest.fixture
def accounts_tls(kafka, mongo_uri, unique, public_key_file, pki):
    ours, _ = pki
    env = accounts_env(kafka, mongo_uri, unique, public_key_file,
                       grpc_tls_cert_file=ours.cert, grpc_tls_key_file=ours.key)
    port = int(env["LLR_ACCOUNTS_GRPC_PORT"])
    proc = subprocess.Popen([sys.executable, "-m", "services.accounts.entrypoints.main"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: proc.poll() is not None or healthcheck.serving(port, ca_file=ours.ca, timeout_s=1),
                   timeout_s=90, pause_s=0.3, what="the accounts service to serve over TLS")
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        client = pymongo.MongoClient(mongo_uri)
        client.drop_database(env["LLR_ACCOUNTS_MONGO_DB"])
        client.close()


def who_am_i(port: int, token: str, **channel) -> platform_pb2.WhoAmIResponse:
    with open_channel(f"127.0.0.1:{port}", **channel) as ch:
        return platform_pb2_grpc.PlatformServiceStub(ch).WhoAmI(platform_pb2.WhoAmIRequest(),
                                                                 metadata=bearer(token), timeout=10)


def refusal(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def test_a_service_with_a_certificate_serves_tls_to_clients_that_trust_its_ca_only(accounts_tls, pki, token_for):
    ours, theirs = pki
    token = token_for("vdab", Role.REGISSEUR)
    me = who_am_i(accounts_tls, token, ca_file=ours.ca)
    assert (me.organisation_id, me.role, me.service) == ("vdab", "REGISSEUR", "accounts")
    assert who_am_i(accounts_tls, token, ca_file=ours.ca, server_name="localhost").service == "accounts"

    plaintext = refusal(lambda: who_am_i(accounts_tls, token))
    assert plaintext.code() == grpc.StatusCode.UNAVAILABLE
    other_ca = refusal(lambda: who_am_i(accounts_tls, token, ca_file=theirs.ca))
    assert other_ca.code() == grpc.StatusCode.UNAVAILABLE
    other_name = refusal(lambda: who_am_i(accounts_tls, token, ca_file=ours.ca, server_name="accounts.example"))
    assert other_name.code() == grpc.StatusCode.UNAVAILABLE

    # The container health check (docker-compose, the Kubernetes probes) as a process.
    def check(*args: str) -> int:
        return subprocess.run([sys.executable, "-m", "services.common.healthcheck", str(accounts_tls), *args],
                              cwd=REPO, capture_output=True, timeout=60).returncode
    assert check("--cacert", str(ours.ca)) == 0
    assert check() == 1
    assert check("--cacert", str(theirs.ca)) == 1


def test_tokens_of_another_issuer_or_audience_or_expired_are_unauthenticated_naming_the_claim(
        accounts_tls, pki, token_keys):
    ours, _ = pki

    def answer(token: str) -> grpc.RpcError:
        return refusal(lambda: who_am_i(accounts_tls, token, ca_file=ours.ca))

    wall = SystemClock()
    stranger = TokenIssuer(token_keys[0], "another-idp", wall).issue("vdab", Role.REGISSEUR)
    for_kpi = TokenIssuer(token_keys[0], "llr-test-idp", wall).issue("vdab", Role.REGISSEUR, audience="llr-kpi")
    two_hours_ago = FakeClock(datetime.now(timezone.utc) - timedelta(hours=2))
    expired = TokenIssuer(token_keys[0], "llr-test-idp", two_hours_ago).issue("vdab", Role.REGISSEUR,
                                                                              ttl=timedelta(hours=1))
    for token, claim in ((stranger, "token issuer (iss) 'another-idp'"),
                         (for_kpi, "token audience (aud) 'llr-kpi' does not include this service ('llr-accounts')"),
                         (expired, "token expired (exp ")):
        error = answer(token)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert error.details().startswith(claim), error.details()
    mine = TokenIssuer(token_keys[0], "llr-test-idp", wall).issue("vdab", Role.REGISSEUR, audience="llr-accounts")
    assert who_am_i(accounts_tls, mine, ca_file=ours.ca).organisation_id == "vdab"


def test_a_service_refuses_to_listen_beyond_loopback_without_a_certificate(kafka, mongo_uri, unique,
                                                                            public_key_file):
    env = accounts_env(kafka, mongo_uri, unique, public_key_file, grpc_host="0.0.0.0")
    done = subprocess.run([sys.executable, "-m", "services.accounts.entrypoints.main"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert ("LLR_ACCOUNTS_GRPC_HOST=0.0.0.0 is not a loopback address, and gRPC without TLS is only served on "
            "loopback: set LLR_ACCOUNTS_GRPC_TLS_CERT_FILE and LLR_ACCOUNTS_GRPC_TLS_KEY_FILE") in done.stderr
    assert not healthcheck.serving(int(env["LLR_ACCOUNTS_GRPC_PORT"]), timeout_s=1)
