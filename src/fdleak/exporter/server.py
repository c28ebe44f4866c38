"""The exporter's HTTP server: /metrics in Prometheus's text format, a tiny page at /, a clean stop.

The stdlib server in a thread: a scrape is one short read of /proc, so nothing more is
needed, and no dependency comes with it.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fdleak.errors import FdleakError, InputError
from fdleak.exporter.collector import Collector
from fdleak.views.prometheus import CONTENT_TYPE, render

_INDEX = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>fdleak exporter</title></head>
<body><h1>fdleak exporter</h1><p><a href="/metrics">Metrics</a></p></body></html>
"""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6) -> (host, port). The host is an IP address or
    ``localhost``: a name that resolves elsewhere must not silently widen who can connect."""
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    hint = "give HOST:PORT, e.g. --listen 127.0.0.1:9464 or --listen [::1]:9464"
    if not sep or not host or not port_text.isdigit():
        raise InputError(f"bad --listen {text!r}: expected HOST:PORT", hint)
    port = int(port_text)
    if not 0 < port < 65536:
        raise InputError(f"bad --listen {text!r}: port {port} is not between 1 and 65535", hint)
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise InputError(
                f"bad --listen {text!r}: {host!r} is not an IP address", f"{hint} (or localhost)"
            ) from None
    return host, port


def is_loopback(host: str) -> bool:
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a slow scraper never holds up the stop

    def __init__(self, address: tuple[str, int], collector: Collector) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.collector = collector
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "fdleak-exporter"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            try:
                processes, exporter = self.server.collector.collect()
                body = render(processes, exporter).encode()
            except FdleakError as error:  # /proc refused us: say why, keep serving
                self._send(500, "text/plain; charset=utf-8", f"fdleak: {error.one_line()}\n".encode())
                return
            self._send(200, CONTENT_TYPE, body)
        elif path == "/":
            self._send(200, "text/html; charset=utf-8", _INDEX)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape would flood a service's journal


class Exporter:
    """Bound at construction (so a port in use fails before anything is announced);
    ``serve()`` answers scrapes in a thread until ``stop()``."""

    def __init__(self, host: str, port: int, collector: Collector) -> None:
        try:
            self._server = _Server((host, port), collector)
        except OSError as error:
            where = _show(host, port)
            raise InputError(f"cannot listen on {where}: {_why(error)}", _fix(error, port)) from None
        self._thread: threading.Thread | None = None
        self._collector = collector

    @property
    def scrapes(self) -> int:
        return self._collector.scrapes

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{_show(str(host), int(port))}/metrics"

    def serve(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fdleak-exporter", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


def _show(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _why(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "address already in use"
    if error.errno == errno.EADDRNOTAVAIL:
        return "no such address on this host"
    if error.errno == errno.EACCES:
        return "permission denied"
    return error.strerror or str(error)


def _fix(error: OSError, port: int) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"stop what listens there (ss -ltnp 'sport = :{port}') or pick another port with --listen"
    if error.errno == errno.EADDRNOTAVAIL:
        return "give an address of this host (ip -brief address), or 127.0.0.1"
    if error.errno == errno.EACCES:
        return "ports below 1024 need root; pick a port such as 9464"
    return "check the --listen address"
