import copy
import json
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.certification.domain.credentials.credential import (
    OB_CONTEXT, IssuerProfile, build_credential, issue_credential,
)
from services.certification.domain.credentials.data_integrity import add_proof, verify_proof
from services.certification.domain.credentials.jcs import canonicalize
from services.certification.domain.credentials.keys import (
    IssuerKey, did_key_verification_method, load_public_key, public_key_multibase,
)
from services.certification.domain.credentials.status_list import StatusPurpose, VC_CONTEXT
from services.certification.domain.credentials.verify import VerificationStatus, nested_deeper_than, verify
from services.certification.domain.values import CredentialType

from .builders import T0, issued_leercoach, issuer_key, policy, status_lists

ISSUER = "did:web:certificering.llr.example"


@pytest.fixture
def setup():
    key = issuer_key(ISSUER)
    profile = IssuerProfile(ISSUER, "Leer- en loopbaanrekening certification")
    org, cand, recs, cert = issued_leercoach(T0)
    rules = policy().credential(CredentialType.LEERCOACH)
    lists = status_lists()
    return key, profile, cert, rules, lists


def signed_lists(key, lists, now=T0):
    return {sl.list_id: add_proof(sl.to_credential(issuer_id=key.issuer_id, valid_from=now), key, created=now)
            for sl in lists.values()}


def test_w3c_eddsa_jcs_2022_test_vector():
    """The eddsa-jcs-2022 example of the W3C VC Data Integrity EdDSA Cryptosuites spec: same key,
    document and proof options must give the spec's proofValue byte for byte."""
    key = IssuerKey.from_config("z3u2en7t5LR2WtQH5PfFqMqwVHBeXouLzo6haApm8XHqvjxq",
                                issuer_id="https://vc.example/issuers/5678")
    assert public_key_multibase(key.public_key) == "z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    document = {
        "@context": ["https://www.w3.org/ns/credentials/v2", "https://www.w3.org/ns/credentials/examples/v2"],
        "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
        "type": ["VerifiableCredential", "AlumniCredential"],
        "name": "Alumni Credential",
        "description": "A minimum viable example of an Alumni Credential.",
        "issuer": "https://vc.example/issuers/5678",
        "validFrom": "2023-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
    }
    signed = add_proof(document, key, created=datetime(2023, 2, 24, 23, 36, 38, tzinfo=timezone.utc))
    assert signed["proof"]["proofValue"] == (
        "z63t83Y53KfzJ5ZosfKTnqfMcKB2dmTrfjSaQjeNNjAD5srBowQfmWqeRb8rRjmeEuCBEsddF9LsVogtuTsijJKh4")
    assert signed["proof"]["@context"] == document["@context"]
    assert verify_proof(signed, key.public_keys()).ok


def test_jcs_canonical_form():
    assert canonicalize({"b": [1.0, 1e21, None, True], "a": "é", "\u20ac": 1, "\r": 2}) == (
        '{"\\r":2,"a":"é","b":[1,1e+21,null,true],"€":1}'.encode())
    with pytest.raises(ValueError):
        canonicalize({"x": float("nan")})


def test_credential_document_shape(setup):
    key, profile, cert, rules, lists = setup
    doc = build_credential(cert, rules, profile)
    assert doc["@context"] == [VC_CONTEXT, OB_CONTEXT]
    assert doc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert doc["issuer"]["id"] == ISSUER and doc["id"] == cert.credential_id
    assert doc["validFrom"] == "2025-03-03T09:00:00Z" and doc["validUntil"] == "2028-03-02T23:59:59Z"
    subject = doc["credentialSubject"]
    assert subject["id"] == f"urn:llr:person:{cert.holder_id}"
    assert subject["achievement"]["name"] == "Leercoach"
    assert "LC-ASSESSMENT" in subject["achievement"]["criteria"]["narrative"]
    assert [s["statusPurpose"] for s in doc["credentialStatus"]] == ["revocation", "suspension"]
    assert all(s["type"] == "BitstringStatusListEntry" for s in doc["credentialStatus"])
    assert json.loads(json.dumps(doc)) == doc


def test_round_trip_verifies(setup):
    key, profile, cert, rules, lists = setup
    credential = issue_credential(cert, rules, profile, key)
    assert credential["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    assert credential["proof"]["proofValue"].startswith("z")
    text = json.dumps(credential, indent=2)          # any formatting: JCS makes it irrelevant
    result = verify(text, signed_lists(key, lists), key.public_keys(), T0 + timedelta(days=1))
    assert result.valid, result.reason
    assert result.status is VerificationStatus.VALID
    assert result.credential_id == cert.credential_id and result.issuer_id == ISSUER
    assert result.subject_id == f"urn:llr:person:{cert.holder_id}"
    assert issue_credential(cert, rules, profile, key) == credential     # deterministic


@pytest.mark.parametrize("mutate", [
    lambda d: d["credentialSubject"].__setitem__("id", "urn:llr:person:someone-else"),
    lambda d: d["credentialSubject"]["achievement"].__setitem__("name", "Mentor"),
    lambda d: d.__setitem__("validUntil", "2099-12-31T23:59:59Z"),
    lambda d: d["credentialStatus"][0].__setitem__("statusListIndex", "1"),
    lambda d: d["issuer"].__setitem__("name", "Someone else"),
    lambda d: d.__setitem__("extra", True),
    lambda d: d["proof"].__setitem__("created", "2030-01-01T00:00:00Z"),
])
def test_tampered_field_fails(setup, mutate):
    key, profile, cert, rules, lists = setup
    credential = issue_credential(cert, rules, profile, key)
    tampered = copy.deepcopy(credential)
    mutate(tampered)
    result = verify(tampered, signed_lists(key, lists), key.public_keys(), T0)
    assert result.status is VerificationStatus.INVALID_SIGNATURE and not result.valid


def test_tampered_proof_value_fails(setup):
    key, profile, cert, rules, lists = setup
    credential = issue_credential(cert, rules, profile, key)
    value = credential["proof"]["proofValue"]
    credential["proof"]["proofValue"] = value[:-2] + ("22" if value[-2:] != "22" else "33")
    assert verify(credential, signed_lists(key, lists), key.public_keys(), T0).status is VerificationStatus.INVALID_SIGNATURE
    credential["proof"]["proofValue"] = "not base58 0OIl"
    assert verify(credential, signed_lists(key, lists), key.public_keys(), T0).status is VerificationStatus.INVALID_SIGNATURE
    del credential["proof"]
    assert verify(credential, signed_lists(key, lists), key.public_keys(), T0).status is VerificationStatus.MALFORMED


def test_wrong_or_unknown_key_fails(setup):
    key, profile, cert, rules, lists = setup
    credential = issue_credential(cert, rules, profile, key)
    impostor = issuer_key(ISSUER)                     # same ids, other key material
    result = verify(credential, signed_lists(key, lists), impostor.public_keys(), T0)
    assert result.status is VerificationStatus.INVALID_SIGNATURE
    result = verify(credential, signed_lists(key, lists), {}, T0)
    assert result.status is VerificationStatus.UNKNOWN_ISSUER_KEY
    other_issuer = issuer_key("did:web:evil.example")
    forged = add_proof({**credential, "issuer": {**credential["issuer"]}}, other_issuer, created=T0)
    keys = {**key.public_keys(), **other_issuer.public_keys()}
    assert verify(forged, signed_lists(key, lists), keys, T0).status is VerificationStatus.UNKNOWN_ISSUER_KEY


def test_revocation_reported_by_verify(setup):
    key, profile, cert, rules, lists = setup
    credential = issue_credential(cert, rules, profile, key)
    later = T0 + timedelta(days=30)
    cert.revoke(reason="fraud", now=later)
    lists[StatusPurpose.REVOCATION].put(cert.revocation_status.index, cert.revocation_bit)
    result = verify(credential, signed_lists(key, lists, later), key.public_keys(), later)
    assert result.status is VerificationStatus.REVOKED and "revoked" in result.reason


def test_suspension_reported_and_lifted(setup):
    key, profile, cert, rules, lists = setup
    credential = issue_credential(cert, rules, profile, key)
    suspension = lists[StatusPurpose.SUSPENSION]
    cert.suspend(reason="investigation", now=T0)
    suspension.put(cert.suspension_status.index, cert.suspension_bit)
    assert verify(credential, signed_lists(key, lists), key.public_keys(), T0).status is VerificationStatus.SUSPENDED
    cert.reinstate(now=T0 + timedelta(days=3))
    suspension.put(cert.suspension_status.index, cert.suspension_bit)
    assert verify(credential, signed_lists(key, lists), key.public_keys(), T0 + timedelta(days=3)).valid


def test_validity_dates_checked(setup):
    key, profile, cert, rules, lists = setup
    credential = issue_credential(cert, rules, profile, key)
    lists_json = signed_lists(key, lists)
    assert verify(credential, lists_json, key.public_keys(), T0 - timedelta(seconds=1)).status is VerificationStatus.NOT_YET_VALID
    end = datetime(2028, 3, 2, 23, 59, 59, tzinfo=timezone.utc)
    assert verify(credential, lists_json, key.public_keys(), end).valid
    expired = verify(credential, lists_json, key.public_keys(), end + timedelta(seconds=1))
    assert expired.status is VerificationStatus.EXPIRED


def test_status_list_must_be_available_and_authentic(setup):
    key, profile, cert, rules, lists = setup
    credential = issue_credential(cert, rules, profile, key)
    assert verify(credential, {}, key.public_keys(), T0).status is VerificationStatus.STATUS_UNAVAILABLE
    rev_id = lists[StatusPurpose.REVOCATION].list_id
    # an empty list swapped in without a valid signature is not trusted
    lists[StatusPurpose.REVOCATION].set(cert.revocation_status.index)
    forged_lists = signed_lists(key, lists)
    forged_lists[rev_id]["credentialSubject"]["encodedList"] = lists[StatusPurpose.SUSPENSION].encode()
    result = verify(credential, forged_lists, key.public_keys(), T0)
    assert result.status is VerificationStatus.STATUS_UNAVAILABLE
    # a genuine list of the wrong purpose is refused too
    swapped = signed_lists(key, lists)
    swapped[rev_id] = swapped[lists[StatusPurpose.SUSPENSION].list_id]
    assert verify(credential, swapped, key.public_keys(), T0).status is VerificationStatus.STATUS_UNAVAILABLE


def test_malformed_input():
    key = issuer_key()
    assert verify("{not json", {}, key.public_keys(), T0).status is VerificationStatus.MALFORMED
    assert verify("[]", {}, key.public_keys(), T0).status is VerificationStatus.MALFORMED
    assert verify({"@context": ["x"]}, {}, key.public_keys(), T0).status is VerificationStatus.MALFORMED
    with pytest.raises(ValueError):
        verify({}, {}, {}, datetime(2025, 1, 1))


@pytest.mark.parametrize("document, reason", [
    ("[" * 100_000 + "]" * 100_000, "nests more than 32 levels deep"),
    ('{"a": ' * 30_000 + "1" + "}" * 30_000, "nests more than 32 levels deep"),
    (b"\xff\xfe", "is not UTF-8"),
    ("1" * 300_000, "longer than"),
    ("9" * 5000, "is not JSON"),   # Python refuses integers of more than 4300 digits
])
def test_documents_too_deep_or_too_large_are_malformed_without_parsing(document, reason):
    result = verify(document, {}, issuer_key().public_keys(), T0)
    assert result.status is VerificationStatus.MALFORMED and reason in result.reason


def test_brackets_inside_strings_do_not_count_as_nesting():
    deep_text = json.dumps({"name": "[" * 1000, "nested": [[[{"a": ["]"]}]]]})
    assert not nested_deeper_than(deep_text, 6) and nested_deeper_than(deep_text, 4)


def test_keys_from_configuration_formats():
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    from_seed = IssuerKey.from_config(seed)
    assert from_seed.issuer_id.startswith("did:key:z6Mk")
    assert from_seed.verification_method == did_key_verification_method(private.public_key())
    encrypted = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"s3cret"))
    from_pem = IssuerKey.from_config(encrypted, password=b"s3cret", issuer_id=ISSUER, key_id="key-2")
    assert from_pem.verification_method == f"{ISSUER}#key-2"
    assert "PRIVATE" not in repr(from_pem) and "private_key" not in repr(from_pem)
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    multikey = public_key_multibase(private.public_key())
    signed = add_proof({"@context": [VC_CONTEXT], "issuer": ISSUER}, from_pem, created=T0)
    for public in (public_pem, multikey, private.public_key()):
        assert verify_proof(signed, {from_pem.verification_method: public}).ok
    assert load_public_key(multikey) == load_public_key(public_pem)
    with pytest.raises(ValueError):
        IssuerKey(ISSUER, "did:web:other.example#k", private)
