"""Creates the platform's key Secrets in its namespace when they do not exist yet (the Job
``llr-keys`` in deploy/k8s/keys.yaml runs it with the platform image, as the service account
``llr-keys`` that may only read and create Secrets there).

- ``token-signing``: ``public`` is the Ed25519 key every service verifies access tokens with;
  ``private`` signs development tokens. With a real identity provider, create this Secret with
  its public key only (``kubectl create secret generic token-signing --from-file=public=idp.pem``)
  before the first apply: an existing Secret is never touched.
- ``certification-issuer``: ``issuer.pem``, the ONE Ed25519 key every certification pod signs
  credentials and status lists with (a key per pod would make credentials unverifiable).
- ``grpc-tls``: gRPC over TLS inside the cluster. ``tls.crt`` and ``tls.key`` are the services'
  server certificate (every service's in-cluster DNS names, and 127.0.0.1 for the probes) signed by
  a CA made for this namespace, ``ca.crt`` is that CA (what clients trust; its key is not kept).
  From your own PKI or cert-manager instead: a Secret of that name with the same three keys (a
  cert-manager ``Certificate`` with ``secretName: grpc-tls`` writes exactly these), made before the
  first apply.

Only the standard library, the image's ``cryptography`` and the platform's own
``services.common.tls`` (on the image's PYTHONPATH); no kubectl in the image: it talks to the API
server with the pod's service-account token.
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

from services.common.tls import SERVICES, issue_server_certificate, make_ca

ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _token_signing(namespace: str = "llr") -> dict[str, bytes]:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"private": _private_pem(key), "public": public}


def _certification_issuer(namespace: str = "llr") -> dict[str, bytes]:
    return {"issuer.pem": _private_pem(Ed25519PrivateKey.generate())}


def grpc_tls_names(namespace: str) -> list[str]:
    """Every name a client dials a service by in ``namespace``, and loopback for the probes."""
    names = [f"{s}{suffix}" for s in SERVICES
             for suffix in ("", f".{namespace}", f".{namespace}.svc", f".{namespace}.svc.cluster.local")]
    return names + ["localhost", "127.0.0.1"]


def _grpc_tls(namespace: str = "llr") -> dict[str, bytes]:
    ca_cert, ca_key = make_ca(f"llr {namespace} gRPC CA")
    cert, key = issue_server_certificate(ca_cert, ca_key, grpc_tls_names(namespace))
    return {"tls.crt": cert, "tls.key": key, "ca.crt": ca_cert}


# Secret name -> a function of the namespace that makes its data; the keys of that data are what
# pods may mount.
SECRETS: dict[str, Callable[..., dict[str, bytes]]] = {
    "token-signing": _token_signing,
    "certification-issuer": _certification_issuer,
    "grpc-tls": _grpc_tls,
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
                "data": {k: base64.b64encode(v).decode() for k, v in make(namespace).items()}}
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
