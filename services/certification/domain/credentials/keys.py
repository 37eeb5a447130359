"""Ed25519 issuer keys.

The private key is configuration, never code: ``IssuerKey.from_config`` accepts a PEM (PKCS#8)
private key, a raw 32-byte seed, or a Multikey ``secretKeyMultibase`` (``z3u2...``). The public
key is published as a Multikey (``publicKeyMultibase`` ``z6Mk...``); ``did:key`` ids are derived
from it, and a ``did:web`` issuer simply names its key ``did:web:host#key-id``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .encoding import ED25519_PRIV_MULTICODEC, ED25519_PUB_MULTICODEC, multibase_decode, multibase_encode

PublicKeys = Mapping[str, "Ed25519PublicKey | bytes | str"]


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_multibase(key: Ed25519PublicKey) -> str:
    """Multikey ``publicKeyMultibase``: ``z`` + base58btc(0xed01 + 32-byte key) = ``z6Mk...``."""
    return multibase_encode(ED25519_PUB_MULTICODEC + public_key_bytes(key))


def did_key(key: Ed25519PublicKey) -> str:
    return f"did:key:{public_key_multibase(key)}"


def did_key_verification_method(key: Ed25519PublicKey) -> str:
    fingerprint = public_key_multibase(key)
    return f"did:key:{fingerprint}#{fingerprint}"


def load_public_key(value: "Ed25519PublicKey | bytes | str") -> Ed25519PublicKey:
    """A public key from an object, 32 raw bytes, PEM (SubjectPublicKeyInfo) or a Multikey."""
    if isinstance(value, Ed25519PublicKey):
        return value
    if isinstance(value, str):
        if value.startswith("z"):
            raw = multibase_decode(value)
            if not raw.startswith(ED25519_PUB_MULTICODEC) or len(raw) != 34:
                raise ValueError("not an Ed25519 Multikey")
            return Ed25519PublicKey.from_public_bytes(raw[2:])
        value = value.encode("ascii")
    if len(value) == 32:
        return Ed25519PublicKey.from_public_bytes(value)
    key = serialization.load_pem_public_key(value)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


@dataclass(frozen=True)
class IssuerKey:
    """The signing key of an issuer: ``issuer_id`` (did:web / did:key / https URL) and the
    ``verification_method`` id verifiers look the public key up by."""

    issuer_id: str
    verification_method: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        controller = self.verification_method.split("#", 1)[0]
        if controller != self.issuer_id or "#" not in self.verification_method:
            raise ValueError("verification_method must be '<issuer_id>#<key id>'")

    def __repr__(self) -> str:  # never print key material
        return f"IssuerKey(issuer_id={self.issuer_id!r}, verification_method={self.verification_method!r})"

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    @classmethod
    def from_config(
        cls, secret: bytes | str, *, issuer_id: str | None = None, key_id: str | None = None,
        password: bytes | None = None,
    ) -> "IssuerKey":
        """Load from configuration: PEM, 32-byte seed or ``secretKeyMultibase``.

        Without ``issuer_id`` the issuer is the key's own ``did:key``; ``key_id`` defaults to the
        Multikey fingerprint (``did:web:example.org#z6Mk...``).
        """
        private_key = load_private_key(secret, password=password)
        fingerprint = public_key_multibase(private_key.public_key())
        issuer = issuer_id or f"did:key:{fingerprint}"
        return cls(issuer, f"{issuer}#{key_id or fingerprint}", private_key)

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """``{verification_method: public key}``, the shape ``verify`` expects."""
        return {self.verification_method: self.public_key}


def load_private_key(secret: bytes | str, *, password: bytes | None = None) -> Ed25519PrivateKey:
    if isinstance(secret, str):
        if secret.startswith("z"):
            raw = multibase_decode(secret)
            if not raw.startswith(ED25519_PRIV_MULTICODEC) or len(raw) != 34:
                raise ValueError("not an Ed25519 secretKeyMultibase")
            return Ed25519PrivateKey.from_private_bytes(raw[2:])
        secret = secret.encode("ascii")
    if len(secret) == 32:
        return Ed25519PrivateKey.from_private_bytes(secret)
    key = serialization.load_pem_private_key(secret, password=password)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the issuer key must be an Ed25519 private key")
    return key
