"""The issuer as a ``did:web`` DID (W3C CCG did:web method) and its DID document.

The DID is derived from the public base URL the service is reached at, never configured
separately, so the name in every credential and the place its key is published cannot drift:

=====================================  ================================  =================================
public base URL                        DID                               DID document at
=====================================  ================================  =================================
``https://cert.example``               ``did:web:cert.example``          ``https://cert.example/.well-known/did.json``
``http://127.0.0.1:50072``             ``did:web:127.0.0.1%3A50072``     ``http://127.0.0.1:50072/.well-known/did.json``
``https://example.org/llr/cert``       ``did:web:example.org:llr:cert``  ``https://example.org/llr/cert/did.json``
=====================================  ================================  =================================

A port is part of the host and its colon is percent-encoded (``%3A``); path segments become
``:``-separated parts. The method resolves a DID over HTTPS; plain HTTP is for loopback runs
only and a verifier has to allow it explicitly (the README's step-by-step says how).

The DID document publishes the issuer's Ed25519 key as a ``Multikey`` (Controlled Identifiers
v1.0) and lists it under ``assertionMethod``, which is the proof purpose of our credentials.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote, urlsplit

from .keys import IssuerKey, public_key_multibase

DID_CONTEXT = "https://www.w3.org/ns/did/v1"
MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
WELL_KNOWN_PATH = "/.well-known/did.json"


def _split_base_url(base_url: str) -> tuple[str, str, list[str]]:
    parts = urlsplit(base_url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"public base URL {base_url!r} must be an http(s) URL with a host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"public base URL {base_url!r} must not carry a query, fragment or credentials")
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    segments = [s for s in parts.path.split("/") if s]
    return parts.scheme, host, segments


def did_web(base_url: str) -> str:
    """The ``did:web`` DID of the issuer reached at ``base_url``."""
    _, host, segments = _split_base_url(base_url)
    return ":".join(["did:web", quote(host, safe=""), *(quote(s, safe="") for s in segments)])


def did_document_path(base_url: str) -> str:
    """The path (under the base URL's host) where the DID document of ``did_web(base_url)`` lives."""
    _, _, segments = _split_base_url(base_url)
    return "/" + "/".join(segments) + "/did.json" if segments else WELL_KNOWN_PATH


def did_document_url(did: str, scheme: str = "https") -> str:
    """Where a resolver fetches the DID document of a ``did:web`` DID (the method's read operation)."""
    if not did.startswith("did:web:") or "#" in did or "?" in did:
        raise ValueError(f"{did!r} is not a did:web DID")
    host, *segments = did[len("did:web:"):].split(":")
    if not host:
        raise ValueError(f"{did!r} names no host")
    path = "/" + "/".join(unquote(s) for s in segments) + "/did.json" if segments else WELL_KNOWN_PATH
    return f"{scheme}://{unquote(host)}{path}"


def did_document(key: IssuerKey) -> dict[str, Any]:
    """The DID document of the issuer: its current key as a Multikey, usable for ``assertionMethod``."""
    did = key.issuer_id
    if not did.startswith("did:web:"):
        raise ValueError("the issuer is not a did:web DID")
    return {
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT],
        "id": did,
        "verificationMethod": [{
            "id": key.verification_method,
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": public_key_multibase(key.public_key),
        }],
        "assertionMethod": [key.verification_method],
    }
