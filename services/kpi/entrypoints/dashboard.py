"""The public web dashboard: participation 4 weeks and 12 months per province over time, against the
targets. Stdlib ``http.server`` in a thread; one self-contained page (inline SVG drawn by inline
JavaScript, no CDN) and its JSON endpoint. Only published, disclosure-controlled cells are shown:
a suppressed point is drawn as a gap, never as a number.

Routes: ``/`` the page, ``/api/participation.json`` the data, ``/healthz``.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.kpi.domain import definitions as d
from services.kpi.domain.disclosure import Cell
from services.kpi.domain.geography import PROVINCES

from ..service.board import Board
from ..service.projection import HISTORY_CELLS, PARTICIPATION

# One colour per series (also checked in the screenshot test).
SERIES_COLOURS = {
    d.FLANDERS: "#008b8b",
    "province=10000": "#e6194b",  # Antwerpen
    "province=20001": "#3cb44b",  # Vlaams-Brabant
    "province=30000": "#4363d8",  # West-Vlaanderen
    "province=40000": "#f58231",  # Oost-Vlaanderen
    "province=70000": "#911eb4",  # Limburg
}
SERIES_NAMES = {d.FLANDERS: "Vlaanderen", **{f"province={code}": name for code, name in PROVINCES.items()}}


def _point(cell: Cell) -> dict[str, Any]:
    if cell.suppressed:
        return {"date": cell.reference_date.isoformat(), "suppressed": True}
    return {"date": cell.reference_date.isoformat(), "suppressed": False, "rate": cell.numerator / cell.denominator,
            "numerator": cell.numerator, "denominator": cell.denominator}


def participation_data(board: Board) -> dict[str, Any]:
    """Series per KPI and cell: the month-end history plus the current reference date."""
    points: dict[tuple[str, str], dict[str, dict]] = {}
    cells = board.history() + [c for c in board.list() if c.kpi in PARTICIPATION and c.cell in HISTORY_CELLS]
    for c in cells:
        points.setdefault((c.kpi, c.cell), {})[c.reference_date.isoformat()] = _point(c)
    return {
        "reference_date": board.reference_date.isoformat() if board.reference_date else None,
        "kpis": {
            kpi: {
                "targets": [{"label": label, "value": float(v)} for label, v in d.TARGETS[kpi].items()],
                "series": [
                    {"cell": cell, "name": SERIES_NAMES[cell], "colour": SERIES_COLOURS[cell],
                     "points": [p for _, p in sorted(points.get((kpi, cell), {}).items())]}
                    for cell in SERIES_COLOURS
                ],
            }
            for kpi in PARTICIPATION
        },
    }


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Leer- en loopbaanrekening: participation</title>
<style>
body{font-family:sans-serif;margin:16px;background:#fff;color:#222}
h1{font-size:20px} h2{font-size:16px;margin:8px 0}
.legend span{display:inline-block;margin-right:14px;font-size:13px}
.legend i{display:inline-block;width:14px;height:4px;margin-right:4px;vertical-align:middle}
svg{background:#fafafa;border:1px solid #ddd}
</style></head><body>
<h1>Participation in learning, ages 25-64 (reference date <span id="ref">-</span>)</h1>
<div class="legend" id="legend"></div>
<h2>Last 4 weeks (targets 15% and 30%)</h2><svg id="chart-participation_4w" width="1100" height="330"></svg>
<h2>Last 12 months (target 60%)</h2><svg id="chart-participation_12m" width="1100" height="330"></svg>
<p style="font-size:12px">Cells with fewer than the disclosure thresholds are suppressed and drawn as gaps.</p>
<script>
var NS = "http://www.w3.org/2000/svg";
function el(name, attrs, parent) {
  var e = document.createElementNS(NS, name);
  for (var k in attrs) e.setAttribute(k, attrs[k]);
  parent.appendChild(e); return e;
}
function draw(kpi, spec) {
  var svg = document.getElementById("chart-" + kpi);
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  var W = 1100, H = 330, L = 50, R = 20, T = 15, B = 35;
  var dates = {};
  spec.series.forEach(function (s) { s.points.forEach(function (p) { dates[p.date] = 1; }); });
  dates = Object.keys(dates).sort();
  var ymax = 0.05;
  spec.targets.forEach(function (t) { ymax = Math.max(ymax, t.value); });
  spec.series.forEach(function (s) { s.points.forEach(function (p) { if (!p.suppressed) ymax = Math.max(ymax, p.rate); }); });
  ymax = Math.ceil(ymax * 10 + 0.5) / 10;
  function x(date) { var i = dates.indexOf(date); return L + (dates.length < 2 ? 0.5 : i / (dates.length - 1)) * (W - L - R); }
  function y(v) { return T + (1 - v / ymax) * (H - T - B); }
  el("line", {x1: L, y1: y(0), x2: W - R, y2: y(0), stroke: "#999"}, svg);
  for (var g = 0; g <= ymax + 1e-9; g += 0.1) {
    el("text", {x: 5, y: y(g) + 4, "font-size": 11, fill: "#555"}, svg).textContent = Math.round(g * 100) + "%";
  }
  dates.forEach(function (dt, i) {
    if (dates.length > 8 && i % 2) return;
    el("text", {x: x(dt) - 28, y: H - 12, "font-size": 10, fill: "#555"}, svg).textContent = dt;
  });
  spec.targets.forEach(function (t) {
    el("line", {x1: L, y1: y(t.value), x2: W - R, y2: y(t.value), stroke: "#999", "stroke-dasharray": "6 4", "class": "target"}, svg);
    el("text", {x: W - R - 190, y: y(t.value) - 4, "font-size": 11, fill: "#555"}, svg).textContent = "target " + t.label + " " + Math.round(t.value * 100) + "%";
  });
  spec.series.forEach(function (s) {
    var d = "", pen = "M";
    s.points.forEach(function (p) {
      if (p.suppressed) { pen = "M"; return; }
      d += pen + x(p.date).toFixed(1) + " " + y(p.rate).toFixed(1) + " "; pen = "L";
    });
    if (d) el("path", {d: d, fill: "none", stroke: s.colour, "stroke-width": 3, "class": "series", "data-cell": s.cell}, svg);
    s.points.forEach(function (p) {
      if (p.suppressed) return;
      var c = el("circle", {cx: x(p.date), cy: y(p.rate), r: 5, fill: s.colour, "class": "point", "data-cell": s.cell}, svg);
      el("title", {}, c).textContent = s.name + " " + p.date + ": " + (p.rate * 100).toFixed(1) + "% (" + p.numerator + "/" + p.denominator + ")";
    });
  });
}
function render(data) {
  document.getElementById("ref").textContent = data.reference_date || "-";
  var legend = document.getElementById("legend"); legend.innerHTML = "";
  data.kpis.participation_4w.series.forEach(function (s) {
    var span = document.createElement("span");
    span.innerHTML = '<i style="background:' + s.colour + '"></i>' + s.name; legend.appendChild(span);
  });
  for (var kpi in data.kpis) draw(kpi, data.kpis[kpi]);
}
function load(async) {
  var xhr = new XMLHttpRequest();
  xhr.open("GET", "/api/participation.json", async);
  xhr.onload = function () { if (xhr.status === 200) render(JSON.parse(xhr.responseText)); };
  xhr.send();
}
load(false);  /* the first drawing is complete when the page has loaded */
setInterval(function () { load(true); }, 10000);
</script></body></html>
"""


def _handler(board: Board):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(200, "text/html; charset=utf-8", PAGE.encode())
            elif path == "/api/participation.json":
                self._send(200, "application/json", json.dumps(participation_data(board)).encode())
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
    def __init__(self, board: Board, host: str, port: int) -> None:
        self.server = ThreadingHTTPServer((host, port), _handler(board))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="kpi-dashboard", daemon=True)

    def start(self) -> "Dashboard":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
