"""Loading (and, for development only, generating) the credential issuer's Ed25519 key file."""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..domain.credentials.keys import IssuerKey


def load_issuer_key(path: Path, *, issuer_id: str, key_id: str) -> IssuerKey:
    """The key in ``path``: PEM (PKCS#8), a raw 32-byte seed, the seed as 64 hex characters, or
    a Multikey ``secretKeyMultibase`` (``z3u2...``)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RuntimeError(f"cannot read the credential issuer key {path}: {exc}; "
                           "set LLR_CERTIFICATION_ISSUER_KEY_FILE") from exc
    text = raw.strip()
    secret: bytes | str
    if text.startswith(b"-----BEGIN"):
        secret = raw
    elif len(raw) == 32:
        secret = raw
    elif len(text) == 64 and all(c in b"0123456789abcdefABCDEF" for c in text):
        secret = bytes.fromhex(text.decode())
    elif text.startswith(b"z"):
        secret = text.decode("ascii")
    else:
        raise RuntimeError(f"{path}: not a PEM Ed25519 private key, a 32-byte seed or a secretKeyMultibase")
    try:
        return IssuerKey.from_config(secret, issuer_id=issuer_id, key_id=key_id)
    except ValueError as exc:
        raise RuntimeError(f"{path}: {exc}") from exc


def generate_issuer_key_file(path: Path) -> None:
    """Write a NEW Ed25519 private key (PEM, mode 0600). Development only: production mounts one."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
