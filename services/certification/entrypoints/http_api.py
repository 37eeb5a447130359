"""The public HTTP documents of the certification service: path -> use case -> JSON, nothing else.

Everything a verifier needs that is not in the credential itself, under the public base URL
(``CertificationSettings.public_base_url``; a path in it is the prefix of every route):

==============================================  ==============================================  ===============
path                                            document                                        Cache-Control
==============================================  ==============================================  ===============
``/.well-known/did.json`` (``<path>/did.json``)  the issuer's did:web DID document                max-age=did_document_max_age_s
``/status/{revocation|suspension}/{n}``          the signed BitstringStatusListCredential n      max-age=status_list_max_age_s
``/contexts/``                                   index: context URL -> our copy, digestSRI        max-age=1 day
``/contexts/{host}/{path}``                      a copy of a JSON-LD context we use               1 year, immutable
``/``                                            what is served here                              max-age=1 day
==============================================  ==============================================  ===============

HTTP itself (ETag, 304, CORS, errors) is ``services.common.http_server``.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from services.common.errors import NotFound, quote
from services.common.http_server import Document

from ..adapters.jsonld_contexts import Context
from ..domain.credentials.did_web import did_document_path
from ..service.handlers import CertificationService

DID_JSON = "application/did+ld+json"
VC_JSON = "application/vc"            # VC Data Model 2.0, section 6.3
JSON_LD = "application/ld+json"
JSON = "application/json"
DAY_S = 86_400
STATUS_PREFIX = "/status/"


def _json(value: Any, content_type: str, cache_control: str) -> Document:
    return Document((json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode(), content_type, cache_control)


class PublicDocuments:
    def __init__(self, service: CertificationService, base_url: str, contexts: dict[str, Context], *,
                 status_list_max_age_s: int, did_document_max_age_s: int) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.prefix = urlsplit(self.base_url).path
        self.did_path = did_document_path(self.base_url)[len(self.prefix):]
        self.contexts = contexts
        self.status_cache = f"public, max-age={status_list_max_age_s}"
        self.did_cache = f"public, max-age={did_document_max_age_s}"

    def index(self) -> dict[str, Any]:
        return {
            "issuer": self.service.issuer_view().issuer_id,
            "did_document": self.base_url + self.did_path,
            "status_lists": self.base_url + STATUS_PREFIX + "{revocation|suspension}/{number}",
            "contexts": self.base_url + "/contexts/",
        }

    def context_index(self) -> dict[str, Any]:
        return {"contexts": {c.url: {"href": self.base_url + c.path, "digestSRI": c.digest_sri}
                             for c in self.contexts.values()}}

    def handle(self, path: str) -> Document:
        if self.prefix:
            if not path.startswith(self.prefix + "/"):
                raise NotFound(f"{quote(path)} is not under {self.prefix}/")
            path = path[len(self.prefix):]
        if path == self.did_path:
            return _json(self.service.did_document(), DID_JSON, self.did_cache)
        if path.startswith(STATUS_PREFIX):
            return _json(self.service.status_list_credential(self.base_url + path), VC_JSON, self.status_cache)
        if path in ("/contexts", "/contexts/"):
            return _json(self.context_index(), JSON, f"public, max-age={DAY_S}")
        if path in self.contexts:
            return Document(self.contexts[path].body, JSON_LD, f"public, max-age={365 * DAY_S}, immutable")
        if path == "/":
            return _json(self.index(), JSON, f"public, max-age={DAY_S}")
        raise NotFound(f"nothing is published at {quote(path)}")
