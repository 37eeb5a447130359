"""The JSON-LD contexts our credentials and DID document use, as copies the service publishes.

A JSON-LD processor dereferences every ``@context`` URL; a verifier that cannot or will not
reach w3.org, w3id.org and purl.imsglobal.org finds the same documents at
``{public base URL}/contexts/{host}/{path}`` (the index at ``{public base URL}/contexts/`` maps
each context URL to its copy and its ``digestSRI``). The copies in ``jsonld/`` come from the
npm packages that ship them (see ``jsonld/SOURCES.md``); the interoperability test checks them
against those packages and expands our credentials with them in JSON-LD safe mode.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..domain.credentials.credential import OB_CONTEXT
from ..domain.credentials.did_web import DID_CONTEXT, MULTIKEY_CONTEXT
from ..domain.credentials.status_list import VC_CONTEXT

FILES = {
    VC_CONTEXT: "credentials-v2.jsonld",
    OB_CONTEXT: "ob-v3p0-context-3.0.3.json",
    DID_CONTEXT: "did-v1.jsonld",
    MULTIKEY_CONTEXT: "multikey-v1.jsonld",
}
DIRECTORY = Path(__file__).with_name("jsonld")


@dataclass(frozen=True)
class Context:
    url: str          # the context's own URL, as written in ``@context``
    path: str         # where we publish the copy, relative to the public base URL
    body: bytes

    @property
    def digest_sri(self) -> str:
        """Subresource Integrity digest of the copy (the form VC 2.0 ``relatedResource`` uses)."""
        return "sha384-" + base64.b64encode(hashlib.sha384(self.body).digest()).decode("ascii")


def copy_path(url: str) -> str:
    """``https://www.w3.org/ns/credentials/v2`` -> ``/contexts/www.w3.org/ns/credentials/v2``."""
    parts = urlsplit(url)
    return f"/contexts/{parts.netloc}{parts.path}"


def load_contexts(directory: Path = DIRECTORY) -> dict[str, Context]:
    """Every published context by its copy's path."""
    contexts = [Context(url, copy_path(url), (directory / name).read_bytes()) for url, name in FILES.items()]
    return {c.path: c for c in contexts}
