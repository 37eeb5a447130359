"""The access-token claims policy (services/common/auth.py) on a FakeClock: every service accepts a
token only from its issuer, for its audience, inside its lifetime; each refusal names the claim."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from services.common import errors
from services.common.auth import PLATFORM_AUDIENCES, Principal, Role, TokenIssuer, TokenVerifier, generate_keypair
from services.common.clock import FakeClock

NOW = datetime(2025, 5, 1, 8, 0, tzinfo=timezone.utc)
KEYS = generate_keypair()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def verifier(clock, audience="llr-enrolments", issuer="idp", leeway_s=30) -> TokenVerifier:
    return TokenVerifier(KEYS[1], issuer, clock, audience=audience, leeway_s=leeway_s)


def signed(claims: dict, key: bytes = KEYS[0]) -> str:
    """A token with exactly ``claims`` (what a foreign or broken identity provider might send)."""
    return jwt.encode(claims, serialization.load_pem_private_key(key, password=None), algorithm="EdDSA")


def claims(**changes) -> dict:
    base = {"iss": "idp", "aud": "llr-enrolments", "sub": "provider:prov-1", "org": "prov-1", "role": "PROVIDER",
            "iat": int(NOW.timestamp()), "exp": int((NOW + timedelta(hours=1)).timestamp())}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(errors.Unauthenticated) as caught:
        verifier.verify(token)
    return caught.value.reason


def test_a_token_of_the_issuer_for_the_service_in_its_lifetime_is_accepted(clock):
    token = TokenIssuer(KEYS[0], "idp", clock).issue("org-1", Role.MENTORING_ORGANISATION, ttl=timedelta(hours=1))
    assert verifier(clock).verify(token) == Principal(subject="mentoring_organisation:org-1", organisation_id="org-1",
                                                      role=Role.MENTORING_ORGANISATION)
    decoded = jwt.decode(token, options={"verify_signature": False})
    assert decoded["aud"] == list(PLATFORM_AUDIENCES)      # a development token: every service
    assert decoded["iat"] == decoded["nbf"] == int(NOW.timestamp())


def test_expiry_follows_the_injected_clock_with_its_leeway(clock):
    token = TokenIssuer(KEYS[0], "idp", clock).issue("org-1", Role.REGISSEUR, ttl=timedelta(hours=1))
    v = verifier(clock, leeway_s=30)
    clock.advance(timedelta(hours=1, seconds=29))
    assert v.verify(token).organisation_id == "org-1"
    clock.advance(timedelta(seconds=1))
    assert refused(v, token).startswith("token expired (exp 2025-05-01T09:00:00+00:00, now 2025-05-01T09:00:30+00:00)")


def test_another_issuer_is_refused_naming_iss(clock):
    token = TokenIssuer(KEYS[0], "someone-else", clock).issue("org-1", Role.REGISSEUR)
    assert refused(verifier(clock), token) == ("token issuer (iss) 'someone-else' is not the issuer this service "
                                              "trusts ('idp')")


def test_another_audience_is_refused_naming_aud(clock):
    issuer = TokenIssuer(KEYS[0], "idp", clock)
    for_accounts = issuer.issue("org-1", Role.REGISSEUR, audience="llr-accounts")
    assert refused(verifier(clock), for_accounts) == ("token audience (aud) 'llr-accounts' does not include this "
                                                     "service ('llr-enrolments')")
    assert verifier(clock, audience="llr-accounts").verify(for_accounts).organisation_id == "org-1"
    both = issuer.issue("org-1", Role.REGISSEUR, audience=["llr-accounts", "llr-enrolments"])
    assert verifier(clock).verify(both).organisation_id == "org-1"


def test_times_in_the_future_are_refused_naming_the_claim(clock):
    v = verifier(clock, leeway_s=30)
    later = int((NOW + timedelta(minutes=5)).timestamp())
    assert refused(v, signed(claims(iat=later))).startswith("token issued in the future (iat 2025-05-01T08:05:00")
    assert refused(v, signed(claims(nbf=later))).startswith("token not valid yet (nbf 2025-05-01T08:05:00")
    within_leeway = int((NOW + timedelta(seconds=20)).timestamp())
    assert v.verify(signed(claims(iat=within_leeway, nbf=within_leeway))).organisation_id == "prov-1"
    backwards = claims(iat=int(NOW.timestamp()) + 20, exp=int(NOW.timestamp()) + 10)
    assert refused(v, signed(backwards)) == "token expires before it was issued (exp not after iat)"


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "iat", "sub", "org", "role"])
def test_a_missing_claim_is_named(clock, claim):
    assert refused(verifier(clock), signed(claims(**{claim: None}))) == f"token lacks the claim(s) {claim}"


def test_malformed_claims_and_foreign_signatures_are_refused(clock):
    v = verifier(clock)
    assert "exp is not a time" in refused(v, signed(claims(exp="tomorrow")))
    assert refused(v, signed(claims(aud={"x": 1}))).startswith("token audience (aud) \"{'x': 1}\" does not include")
    assert "role 'JANITOR' is not a role" in refused(v, signed(claims(role="JANITOR")))
    assert refused(v, signed(claims(), key=generate_keypair()[0])).startswith("invalid token: Signature verification")
    unsigned = jwt.encode(claims(), key="", algorithm="none")
    assert refused(v, unsigned).startswith("invalid token:")
