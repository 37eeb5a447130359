"""Data Integrity proofs with cryptosuite ``eddsa-jcs-2022`` (W3C VC Data Integrity EdDSA
Cryptosuites v1.0, section 3.3).

Create (``add_proof``):

1. ``proofConfig`` = the proof options (type, cryptosuite, created, verificationMethod,
   proofPurpose) plus the document's ``@context``;
2. ``hashData`` = SHA-256(JCS(proofConfig)) || SHA-256(JCS(document without proof));
3. ``proofValue`` = multibase base58btc (``z...``) of the Ed25519 signature of ``hashData``.

Verify (``verify_proof``) removes the proof, checks the options, recomputes ``hashData`` and
checks the signature against the public key registered for ``verificationMethod``; it also
checks that the key belongs to the expected issuer (the part before ``#``).
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from cryptography.exceptions import InvalidSignature

from .encoding import multibase_decode, multibase_encode
from .jcs import canonicalize
from .keys import IssuerKey, PublicKeys, load_public_key

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"


def format_instant(instant: datetime) -> str:
    """XML Schema dateTime in UTC with second precision: ``2025-01-06T09:00:00Z``."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash_data(unsecured: Mapping[str, Any], proof_config: Mapping[str, Any]) -> bytes:
    return hashlib.sha256(canonicalize(proof_config)).digest() + hashlib.sha256(canonicalize(unsecured)).digest()


def add_proof(
    document: Mapping[str, Any], key: IssuerKey, *, created: datetime,
    proof_purpose: str = "assertionMethod",
) -> dict[str, Any]:
    """A copy of ``document`` with an ``eddsa-jcs-2022`` proof (any existing proof is replaced)."""
    unsecured = {k: copy.deepcopy(v) for k, v in document.items() if k != "proof"}
    proof_config: dict[str, Any] = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": format_instant(created),
        "verificationMethod": key.verification_method,
        "proofPurpose": proof_purpose,
    }
    if "@context" in unsecured:
        proof_config["@context"] = copy.deepcopy(unsecured["@context"])
    signature = key.sign(_hash_data(unsecured, proof_config))
    return {**unsecured, "proof": {**proof_config, "proofValue": multibase_encode(signature)}}


@dataclass(frozen=True)
class ProofCheck:
    ok: bool
    reason: str = ""
    code: str = ""                       # INVALID_SIGNATURE, UNKNOWN_KEY, MALFORMED
    verification_method: str | None = None


def _issuer_id(document: Mapping[str, Any]) -> str | None:
    issuer = document.get("issuer")
    if isinstance(issuer, str):
        return issuer
    if isinstance(issuer, Mapping) and isinstance(issuer.get("id"), str):
        return issuer["id"]
    return None


def verify_proof(
    document: Mapping[str, Any], public_keys: PublicKeys, *, expected_purpose: str = "assertionMethod",
) -> ProofCheck:
    proof = document.get("proof")
    if not isinstance(proof, Mapping):
        return ProofCheck(False, "the document has no single proof object", "MALFORMED")
    method = proof.get("verificationMethod")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != CRYPTOSUITE:
        return ProofCheck(False, f"unsupported proof (need {PROOF_TYPE} / {CRYPTOSUITE})", "MALFORMED", method)
    if proof.get("proofPurpose") != expected_purpose:
        return ProofCheck(False, f"proof purpose must be {expected_purpose}", "INVALID_SIGNATURE", method)
    if not isinstance(method, str) or not isinstance(proof.get("proofValue"), str):
        return ProofCheck(False, "proof lacks verificationMethod or proofValue", "MALFORMED", method)
    issuer = _issuer_id(document)
    if issuer is None or method.split("#", 1)[0] != issuer:
        return ProofCheck(False, "the signing key does not belong to the issuer", "UNKNOWN_KEY", method)
    if method not in public_keys:
        return ProofCheck(False, f"unknown issuer key {method}", "UNKNOWN_KEY", method)

    unsecured = {k: v for k, v in document.items() if k != "proof"}
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in options and options["@context"] != unsecured.get("@context"):
        return ProofCheck(False, "proof @context does not match the document", "INVALID_SIGNATURE", method)
    try:
        signature = multibase_decode(proof["proofValue"])
        if not proof["proofValue"].startswith("z"):
            raise ValueError("proofValue must be base58btc")
        load_public_key(public_keys[method]).verify(signature, _hash_data(unsecured, options))
    except (InvalidSignature, ValueError):
        return ProofCheck(False, "the signature does not match the credential", "INVALID_SIGNATURE", method)
    return ProofCheck(True, verification_method=method)
