"""Creates the platform's key Secrets in its namespace when they do not exist yet (the Job
``llr-keys`` in deploy/k8s/keys.yaml runs it with the platform image, as the service account
``llr-keys`` that may only read and create Secrets there).

- ``token-signing``: ``public`` is the Ed25519 key every service verifies access tokens with;
  ``private`` signs development tokens. With a real identity provider, create this Secret with
  its public key only (``kubectl create secret generic token-signing --from-file=public=idp.pem``)
  before the first apply: an existing Secret is never touched.
- ``certification-issuer``: ``issuer.pem``, the ONE Ed25519 key every certification pod signs
  credentials and status lists with (a key per pod would make credentials unverifiable).

Only the standard library and the image's ``cryptography`` (no kubectl in the image): it talks to
the API server with the pod's service-account token.
"""
from __future__ import annotations

import base64
import json
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _token_signing() -> dict[str, bytes]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"private": _private_pem(key), "public": public}


def _certification_issuer() -> dict[str, bytes]:
    return {"issuer.pem": _private_pem(Ed25519PrivateKey.generate())}


# Secret name -> a function that makes its data; the keys of that data are what pods may mount.
SECRETS: dict[str, Callable[[], dict[str, bytes]]] = {
    "token-signing": _token_signing,
    "certification-issuer": _certification_issuer,
}

# (method, path, body) -> (HTTP status, parsed JSON body)
Api = Callable[[str, str, dict | None], tuple[int, dict]]


def ensure_secrets(api: Api, namespace: str) -> list[str]:
    """Create each missing Secret; return the names created. Existing ones are left as they are."""
    created = []
    for name, make in SECRETS.items():
        status, _ = api("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}", None)
        if status == 200:
            continue
        if status != 404:
            raise RuntimeError(f"reading Secret {name}: HTTP {status}")
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "llr",
                                                      "app.kubernetes.io/managed-by": "llr-keys"}},
                "data": {k: base64.b64encode(v).decode() for k, v in make().items()}}
        status, _ = api("POST", f"/api/v1/namespaces/{namespace}/secrets", body)
        if status == 409:   # another run created it meanwhile: that is what we wanted
            continue
        if status != 201:
            raise RuntimeError(f"creating Secret {name}: HTTP {status}")
        created.append(name)
    return created


def in_cluster_api(server: str = "https://kubernetes.default.svc") -> Api:
    token = (ACCOUNT / "token").read_text().strip()
    context = ssl.create_default_context(cafile=str(ACCOUNT / "ca.crt"))

    def call(method: str, path: str, body: dict | None) -> tuple[int, dict]:
        request = urllib.request.Request(
            server + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as reply:
                return reply.status, json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, {}

    return call


def main() -> int:
    namespace = (ACCOUNT / "namespace").read_text().strip()
    created = ensure_secrets(in_cluster_api(), namespace)
    print(f"created: {', '.join(created) or 'nothing'}; present: {', '.join(sorted(set(SECRETS) - set(created)))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
