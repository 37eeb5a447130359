"""What the certification service publishes for verifiers over HTTP, without HTTP: the did:web
name of the issuer derived from the public base URL, its DID document, the signed status lists
and the JSON-LD context copies, each at its path under the base URL."""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest

from services.certification.adapters.jsonld_contexts import FILES, copy_path, load_contexts
from services.certification.adapters.repository import CertificationRepository
from services.certification.domain.credentials.credential import IssuerProfile
from services.certification.domain.credentials.did_web import (
    did_document, did_document_path, did_document_url, did_web,
)
from services.certification.domain.credentials.keys import IssuerKey, public_key_multibase
from services.certification.domain.credentials.verify import VerificationStatus, verify
from services.certification.domain.policy import load_policy_book
from services.certification.entrypoints.http_api import PublicDocuments
from services.certification.service.handlers import CertificationService
from services.common.auth import Principal, Role
from services.common.clock import FakeClock
from services.common.errors import NotFound
from services.common.persistence import InMemoryStores

from .builders import issuer_key

START = datetime(2025, 3, 3, 9, 0, 7, tzinfo=timezone.utc)
REGISSEUR = Principal("vdab-1", "vdab", Role.REGISSEUR)
ORG = Principal("org-a", "org-a", Role.MENTORING_ORGANISATION)


@pytest.mark.parametrize("base_url, did, path", [
    ("https://certificering.leerenloopbaanrekening.example", "did:web:certificering.leerenloopbaanrekening.example",
     "/.well-known/did.json"),
    ("https://Cert.Example/", "did:web:cert.example", "/.well-known/did.json"),
    ("http://127.0.0.1:50072", "did:web:127.0.0.1%3A50072", "/.well-known/did.json"),
    ("https://example.org/llr/cert", "did:web:example.org:llr:cert", "/llr/cert/did.json"),
    ("https://example.org:8443/a/", "did:web:example.org%3A8443:a", "/a/did.json"),
])
def test_the_did_is_the_public_base_url(base_url, did, path):
    assert did_web(base_url) == did
    assert did_document_path(base_url) == path
    scheme = base_url.split(":", 1)[0]
    origin = base_url.split("/")[2].lower()
    assert did_document_url(did, scheme) == f"{scheme}://{origin}{path}", "resolving the DID finds what we serve"


@pytest.mark.parametrize("base_url", ["ftp://example.org", "https://", "https://example.org/?x=1",
                                      "https://example.org/#f", "https://user:pw@example.org", "example.org"])
def test_a_base_url_that_cannot_name_a_did_web_issuer_is_refused(base_url):
    with pytest.raises(ValueError):
        did_web(base_url)


def test_the_did_document_publishes_the_signing_key_for_assertions():
    key = issuer_key(did_web("http://127.0.0.1:50072"))
    document = did_document(key)
    assert document["@context"] == ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]
    assert document["id"] == "did:web:127.0.0.1%3A50072"
    [method] = document["verificationMethod"]
    assert method == {"id": "did:web:127.0.0.1%3A50072#key-1", "type": "Multikey",
                      "controller": "did:web:127.0.0.1%3A50072",
                      "publicKeyMultibase": public_key_multibase(key.public_key)}
    assert document["assertionMethod"] == [method["id"]]
    with pytest.raises(ValueError):
        did_document(IssuerKey.from_config(b"\x01" * 32))   # a did:key issuer has no DID document to serve


def test_every_published_context_is_a_json_ld_context_at_its_own_path():
    contexts = load_contexts()
    assert {c.url for c in contexts.values()} == set(FILES)
    for path, context in contexts.items():
        assert path == copy_path(context.url) and path.startswith("/contexts/")
        assert "@context" in json.loads(context.body)
        assert context.digest_sri == "sha384-" + base64.b64encode(hashlib.sha384(context.body).digest()).decode()
    assert copy_path("https://www.w3.org/ns/credentials/v2") == "/contexts/www.w3.org/ns/credentials/v2"


class Published:
    """The service with one issued mentor certificate, and its public documents at ``base_url``."""

    def __init__(self, base_url: str) -> None:
        self.clock = FakeClock(START)
        self.key = issuer_key(did_web(base_url))
        self.service = CertificationService(
            CertificationRepository(InMemoryStores()), clock=self.clock, policies=load_policy_book(),
            issuer_key=self.key, issuer=IssuerProfile(self.key.issuer_id, "Test issuer"),
            events_topic="llr.certification.v1.events", status_list_base_url=base_url.rstrip("/") + "/status",
            status_list_ttl=timedelta(days=1), status_list_period=timedelta(seconds=300))
        self.documents = PublicDocuments(self.service, base_url, load_contexts(), status_list_max_age_s=300,
                                         did_document_max_age_s=3600)
        self.service.accredit_organisation(REGISSEUR, request_id="acc", organisation_id="org-a", name="Org A")
        cand = self.service.register_candidate(ORG, request_id="reg", organisation_id="org-a", person_id="p-1",
                                               role="MENTOR")
        self.service.record_training(ORG, request_id="tr", candidate_id=cand.candidate_id, module_id="MENTOR-TRAINING",
                                     hours="7", completed_on="2025-02-20", result="NOT_ASSESSED")
        self.stored = self.service.issue_certificate(ORG, request_id="issue", candidate_id=cand.candidate_id)
        self.credential = json.loads(self.stored.credential_json)

    def get(self, path: str):
        return self.documents.handle(path)


def _path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_a_credential_verifies_from_the_published_documents_alone():
    world = Published("http://127.0.0.1:50072")
    assert world.credential["issuer"]["id"] == "did:web:127.0.0.1%3A50072"
    did_doc = json.loads(world.get("/.well-known/did.json").body)
    keys = {m["id"]: m["publicKeyMultibase"] for m in did_doc["verificationMethod"]}
    lists = {}
    for entry in world.credential["credentialStatus"]:
        document = world.get(_path_of(entry["statusListCredential"]))
        assert document.content_type == "application/vc"
        assert document.cache_control == "public, max-age=300"
        lists[entry["statusListCredential"]] = json.loads(document.body)
    assert verify(world.credential, lists, keys, START).status is VerificationStatus.VALID

    world.service.revoke_certificate(ORG, request_id="rev", certificate_id=world.stored.certificate.certificate_id,
                                     reason="fraud")
    lists = {url: json.loads(world.get(_path_of(url)).body) for url in lists}
    assert verify(world.credential, lists, keys, START).status is VerificationStatus.REVOKED


def test_a_status_list_is_the_same_document_throughout_its_cache_period():
    """Every request in one period gets the same signed bytes (one ETag for every replica and
    every cache) until a bit changes; the next period gets a fresh signature."""
    world = Published("http://127.0.0.1:50072")
    path = _path_of(world.credential["credentialStatus"][0]["statusListCredential"])
    first = world.get(path)
    world.clock.advance(timedelta(seconds=100))
    assert world.get(path).body == first.body
    issued = json.loads(first.body)
    assert issued["validFrom"] == "2025-03-03T09:00:00Z" == issued["proof"]["created"]
    assert issued["validUntil"] == "2025-03-04T09:00:00Z"
    world.clock.advance(timedelta(seconds=300))
    assert json.loads(world.get(path).body)["validFrom"] == "2025-03-03T09:05:00Z"


def test_the_documents_are_published_under_the_path_of_the_base_url():
    world = Published("https://example.org/llr/cert")
    assert world.credential["issuer"]["id"] == "did:web:example.org:llr:cert"
    did_doc = world.get("/llr/cert/did.json")
    assert did_doc.content_type == "application/did+ld+json" and did_doc.cache_control == "public, max-age=3600"
    assert json.loads(did_doc.body)["id"] == "did:web:example.org:llr:cert"
    status_url = world.credential["credentialStatus"][1]["statusListCredential"]
    assert status_url.startswith("https://example.org/llr/cert/status/suspension/")
    assert json.loads(world.get(_path_of(status_url)).body)["id"] == status_url
    index = json.loads(world.get("/llr/cert/contexts/").body)["contexts"]
    ob = index["https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
    assert ob["href"] == "https://example.org/llr/cert/contexts/purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
    copy = world.get(_path_of(ob["href"]))
    assert copy.content_type == "application/ld+json" and "immutable" in copy.cache_control
    root = json.loads(world.get("/llr/cert/").body)
    assert root["did_document"] == "https://example.org/llr/cert/did.json"
    for outside in ["/.well-known/did.json", "/status/revocation/1", "/llr/certx/did.json", "/llr/cert"]:
        with pytest.raises(NotFound):
            world.get(outside)


@pytest.mark.parametrize("path", ["/status/revocation/2", "/status/revocation/x", "/status/other/1",
                                  "/status/revocation/1/2", "/contexts/www.w3.org/ns/credentials/v1",
                                  "/did.json", "/../etc/passwd", "/status/" + "9" * 500])
def test_anything_else_is_not_found(path):
    with pytest.raises(NotFound):
        Published("http://127.0.0.1:50072").get(path)
