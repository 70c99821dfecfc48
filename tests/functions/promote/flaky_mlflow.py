"""A tiny HTTP server in front of the real MLflow server: it answers 503 while an outage lasts (as MLflow does while
its Aurora Serverless database resumes), then forwards every request to MLflow as is.

    with FlakyMlflow(upstream=mlflow_tracking_uri, outage_seconds=2) as flaky:
        ...  # point the client at flaky.url
        assert flaky.statuses[:2] == [503, 503]

``clock`` decides when the outage ends (a test may pass a fake one that the client's sleeps advance).
``require_login`` makes it answer 401 unless the request carries that Basic login, as MLflow's basic-auth app
does. Every request's method, path and Authorization header are recorded.
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None
    status: int


class FlakyMlflow:
    def __init__(
        self,
        upstream: str,
        *,
        outage_seconds: float = 0.0,
        outage_status: int = 503,
        clock: Callable[[], float] = time.monotonic,
        require_login: tuple[str, str] | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.outage_status = outage_status
        self.clock = clock
        self.outage_until = clock() + outage_seconds
        self.require_login = require_login
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def statuses(self) -> list[int]:
        with self._lock:
            return [seen.status for seen in self.seen]

    def __enter__(self) -> FlakyMlflow:
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                flaky._serve(self)

            def do_POST(self) -> None:
                flaky._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _answer(self, request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else None
        authorization = request.headers.get("Authorization")
        if self.clock() < self.outage_until:
            status, payload, kind = self.outage_status, b"<html>503 Service Unavailable</html>", "text/html"
        elif self.require_login and authorization != _basic(*self.require_login):
            status, payload, kind = 401, b"You are not authenticated. Please see the documentation.", "text/plain"
        else:
            status, payload, kind = self._forward(request.command, request.path, body, request.headers)
        with self._lock:
            self.seen.append(Seen(request.command, request.path, authorization, status))
        self._answer(request, status, payload, kind)

    def _forward(self, method: str, path: str, body: bytes | None, headers: Any) -> tuple[int, bytes, str]:
        forwarded = urllib.request.Request(self.upstream + path, data=body, method=method)  # noqa: S310 - http only
        if headers.get("Content-Type"):
            forwarded.add_header("Content-Type", headers["Content-Type"])
        try:
            with urllib.request.urlopen(forwarded, timeout=30) as response:  # noqa: S310 - loopback MLflow
                return response.status, response.read(), response.headers.get("Content-Type", "application/json")
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers.get("Content-Type", "application/json")


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
