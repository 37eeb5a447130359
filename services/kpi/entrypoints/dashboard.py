"""The public web dashboard, a policy maker's page: headline figures against the targets, trends,
the breakdowns, leercoaches, career cheques, budget and providers (``service.policy_page``), as
HTML (``dashboard_html``) and JSON. Stdlib ``http.server`` in a thread. Only published,
disclosure-controlled cells from the board are shown: a suppressed cell is shown as such, never as
a number, and no person-level value is ever at hand here.

Routes: ``/`` the page, ``/api/dashboard.json`` its figures, ``/api/participation.json`` the
participation trends alone, ``/healthz``.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from services.common.tls import serve_https
from services.kpi.domain.definitions import DisclosureConfig

from ..service.board import Board
from ..service.policy_page import Snapshot, build_page, participation_data
from .dashboard_html import render


def snapshot(board: Board, disclosure: DisclosureConfig) -> Snapshot:
    return Snapshot(cells=board.list(), history=board.history(), reference_date=board.reference_date,
                    recording_since=board.recording_since, disclosure=disclosure)


def _handler(board: Board, disclosure: DisclosureConfig):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            path = self.path.split("?", 1)[0]
            if path == "/":
                page = build_page(snapshot(board, disclosure))
                self._send(200, "text/html; charset=utf-8", render(page).encode())
            elif path == "/api/dashboard.json":
                self._send(200, "application/json", json.dumps(build_page(snapshot(board, disclosure))).encode())
            elif path == "/api/participation.json":
                data = participation_data(snapshot(board, disclosure))
                self._send(200, "application/json", json.dumps(data).encode())
            elif path == "/healthz":
                self._send(200, "text/plain", b"ok")
            else:
                self._send(404, "text/plain", b"not found")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # quiet
            pass

    return Handler


class Dashboard:
    """HTTPS with the given certificate and key (the kpi service's gRPC ones), else plain HTTP, which
    the settings only allow on loopback (``ServiceSettings``: no certificate, loopback host)."""

    def __init__(self, board: Board, host: str, port: int, disclosure: DisclosureConfig = DisclosureConfig(), *,
                 tls_cert_file: Path | None = None, tls_key_file: Path | None = None) -> None:
        self.server = ThreadingHTTPServer((host, port), _handler(board, disclosure))
        self.server.daemon_threads = True
        self.scheme = serve_https(self.server, tls_cert_file, tls_key_file)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="kpi-dashboard", daemon=True)

    def start(self) -> "Dashboard":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
