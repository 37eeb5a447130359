"""Integration tests run against the real Kafka broker and FerretDB on loopback.

The session reuses a healthy stack that is already running (``make run`` or a developer's
``python -m infra.stack start``); otherwise it starts one and stops it at the end, checking that
no process is left behind. If the infrastructure cannot be started the tests ERROR: they never
skip, because an integration test that did not talk to Kafka and FerretDB proved nothing.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from infra.stack import Stack
from services.common.auth import PLATFORM_AUDIENCES, Role, TokenIssuer, TokenVerifier, generate_keypair
from services.common.clock import SystemClock
from services.common.mongo import make_client



def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack():
    stack = Stack()
    started = stack.start()
    assert stack.healthy(), stack.describe()
    yield stack
    if started:
        pids = [c.pid() for c in stack.components]
        stack.stop(started)
        from infra.stack import pid_alive

        left = [p for p in pids if p is not None and pid_alive(p)]
        assert not left, f"infrastructure processes left behind: {left}"


@pytest.fixture(scope="session")
def kafka(stack):
    """The session broker as its admin principal (``llr-admin``, a super user): what the tests
    themselves use to create topics and to play the other services. Services started as
    processes log in as their own principals, with the ACLs of their namespace."""
    return stack.kafka_access()


@pytest.fixture(scope="session")
def mongo_uri(stack) -> str:
    return stack.settings.mongo_uri


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic, group and database names of one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def mongo_db(mongo_uri, unique):
    """A fresh database on the real FerretDB, dropped after the test."""
    client = make_client(mongo_uri)
    name = f"test_{unique}"
    yield client[name]
    client.drop_database(name)
    client.close()


@pytest.fixture(scope="session")
def token_keys():
    """A key pair for access tokens, generated for this test session (never in code)."""
    return generate_keypair()


@pytest.fixture(scope="session")
def token_issuer(token_keys) -> TokenIssuer:
    return TokenIssuer(token_keys[0], issuer="llr-test-idp", clock=SystemClock())


@pytest.fixture(scope="session")
def token_verifier(token_keys) -> TokenVerifier:
    """A verifier for test servers built directly (``build_server``): accepts the session's tokens,
    which are good for every service (``PLATFORM_AUDIENCES``)."""
    return TokenVerifier(token_keys[1], issuer="llr-test-idp", clock=SystemClock(), audience=PLATFORM_AUDIENCES[0])


@pytest.fixture(scope="session")
def public_key_file(tmp_path_factory, token_keys):
    path = tmp_path_factory.mktemp("keys") / "token-signing.pub.pem"
    path.write_bytes(token_keys[1])
    return path


@pytest.fixture
def token_for(token_issuer):
    def issue(organisation_id: str, role: Role, **kw) -> str:
        kw.setdefault("ttl", timedelta(hours=1))
        return token_issuer.issue(organisation_id, role, **kw)
    return issue
