"""An HTTP server on 127.0.0.1 (a free port) answering from a daemon thread: what the Slack stand-in, its web
page and the local pipeline's interactions endpoint each serve from."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(handler: type[BaseHTTPRequestHandler], name: str, poll_interval: float = 0.05) -> ThreadingHTTPServer:
    """Start serving ``handler`` on loopback; each request gets its own daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": poll_interval}, name=name, daemon=True
    ).start()
    return server


def stop(server: ThreadingHTTPServer | None) -> None:
    """Stop serving and free the port (None: nothing was started)."""
    if server is not None:
        server.shutdown()
        server.server_close()
