"""A real local webhook receiver (Slack/Discord stand-in) for the alert tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# The path of a Slack webhook URL is its secret; tests check it never reaches a log.
WEBHOOK_SECRET = "hook-secret-b7e2"


class WebhookReceiver:
    """Records every JSON body POSTed to it; answers 200."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.secret = WEBHOOK_SECRET
        self.url = f"http://127.0.0.1:{self._server.server_port}/services/T0/B0/{self.secret}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def received(self) -> list[dict]:
        with self._lock:
            return list(self.bodies)

    def clear(self) -> None:
        with self._lock:
            self.bodies.clear()

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver
