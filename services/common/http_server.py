"""A small read-only HTTP(S) server for a service's public documents (GET and HEAD only).

The service's entrypoint gives it one function, ``handle(path) -> Document``, which translates a
path into a call of the service; this module does the HTTP around it, the same way for every
document:

* caching: the document's ``Cache-Control``, a strong ``ETag`` (SHA-256 of the body) and
  ``304 Not Modified`` for a matching ``If-None-Match``;
* ``Access-Control-Allow-Origin: *`` (public documents, fetched by browser-based verifiers too)
  and ``X-Content-Type-Options: nosniff``;
* errors from one table: ``NotFound`` -> 404, ``InvalidArgument`` -> 400, an outage of a
  dependency -> 503 with ``Retry-After`` (``services.common.faults``), anything else -> 500
  with a fixed text (logged with its traceback); a request line over ``MAX_TARGET_CHARS`` -> 414;
* HTTPS when a certificate and key (PEM) are configured; the TLS handshake runs in the
  request's own thread, so a slow client never holds up the others; a client that sends
  nothing for ``REQUEST_TIMEOUT_S`` is dropped.

It runs in a thread of the service (``ServiceRuntime.bind_http`` / ``serve_http``), which
watches it like every other part.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from . import errors
from .faults import Fault, fault_of
from .tls import serve_https

log = logging.getLogger(__name__)

MAX_TARGET_CHARS = 2048
REQUEST_TIMEOUT_S = 10.0
RETRY_AFTER_S = 5
POLL_INTERVAL_S = 0.2    # how soon serve_forever notices a shutdown


@dataclass(frozen=True)
class Document:
    body: bytes
    content_type: str
    cache_control: str = "no-store"

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


Handle = Callable[[str], Document]


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or etag in tags or f"W/{etag}" in tags


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class PublicHttpServer:
    """Listening from construction (port 0 picks a free one: ``port``), answering once
    ``handle`` is set and ``serve_forever`` runs."""

    def __init__(self, *, name: str, host: str, port: int, tls_cert_file: Path | None = None,
                 tls_key_file: Path | None = None) -> None:
        if (tls_cert_file is None) != (tls_key_file is None):
            raise ValueError(f"{name}: configure both the TLS certificate and its key, or neither")
        self.name = name
        self.host = host
        self.handle: Handle | None = None
        self._server = _Server((host, port), _request_handler(self))
        self.scheme = serve_https(self._server, tls_cert_file, tls_key_file)
        self.port: int = self._server.server_address[1]
        self._running = threading.Event()

    @property
    def url(self) -> str:
        """This server's own URL (the default public base URL of a local run)."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def serve_forever(self) -> None:
        self._running.set()
        try:
            self._server.serve_forever(poll_interval=POLL_INTERVAL_S)
        finally:
            self._running.clear()

    def shutdown(self) -> None:
        """Stop ``serve_forever`` (a no-op when it does not run)."""
        if self._running.is_set():
            self._server.shutdown()

    def close(self) -> None:
        self._server.server_close()


def _request_handler(app: PublicHttpServer) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        timeout = REQUEST_TIMEOUT_S

        def version_string(self) -> str:   # the Server header: no Python version
            return app.name

        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            self._answer(with_body=True)

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(with_body=False)

        def _answer(self, *, with_body: bool) -> None:
            if len(self.path) > MAX_TARGET_CHARS:
                return self._error(414, f"the request target is longer than {MAX_TARGET_CHARS} characters",
                                   with_body)
            if app.handle is None:
                return self._error(503, "starting", with_body, retry=True)
            path = urlsplit(self.path).path
            try:
                document = app.handle(path)
            except errors.NotFound as exc:
                return self._error(404, errors.cut(exc.reason), with_body)
            except errors.InvalidArgument as exc:
                return self._error(400, errors.cut(exc.reason), with_body)
            except Exception as exc:  # noqa: BLE001 (the one place HTTP failures are translated)
                if fault_of(exc) is Fault.INFRASTRUCTURE:
                    log.warning("%s GET %s: a dependency is unavailable: %s", app.name, errors.cut(path, 200),
                                type(exc).__name__)
                    return self._error(503, "a dependency is unavailable; retry later", with_body, retry=True)
                log.exception("%s GET %s failed unexpectedly", app.name, errors.cut(path, 200))
                return self._error(500, "internal error; the service logged it", with_body)
            etag = document.etag
            not_modified = _matches(self.headers.get("If-None-Match"), etag)
            self.send_response(304 if not_modified else 200)
            self._common_headers()
            self.send_header("Cache-Control", document.cache_control)
            self.send_header("ETag", etag)
            if not not_modified:
                self.send_header("Content-Type", document.content_type)
                self.send_header("Content-Length", str(len(document.body)))
            self.end_headers()
            if with_body and not not_modified:
                self.wfile.write(document.body)

        def _common_headers(self) -> None:
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("X-Content-Type-Options", "nosniff")

        def _error(self, status: int, text: str, with_body: bool, retry: bool = False) -> None:
            body = (text + "\n").encode()
            self.send_response(status)
            self._common_headers()
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if retry:
                self.send_header("Retry-After", str(RETRY_AFTER_S))
            self.end_headers()
            if with_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # access logs stay out of the service log
            pass

    return RequestHandler
