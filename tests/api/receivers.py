"""Real notification receivers on loopback ports: a webhook endpoint that verifies every
signature with the ``standardwebhooks`` library, and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook

from tests.conftest import _free_port


class WebhookReceiver:
    """An HTTP server on 127.0.0.1:``port`` taking POSTs at any path.

    ``secret`` (set it once the subscription exists) verifies each request; every request is
    kept in ``received`` as ``(path, webhook-id, verified, body)``. ``answer`` is the status to
    send (a 3xx carries ``Location: /elsewhere``); ``delay`` seconds are waited before the
    first ``slow_first`` answers. ``stop()`` and ``start()`` take it down and back up on the
    same port.
    """

    def __init__(self, port: int | None = None, start: bool = True) -> None:
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.secret: str | None = None
        self.answer = 204
        self.delay = 0.0
        self.slow_first = 0
        self.received: list[tuple[str, str | None, bool, dict | None]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        if start:
            self.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = False
                try:
                    Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except Exception:  # WebhookVerificationError, or no secret set yet
                    pass
                with receiver._lock:
                    slow = len(receiver.received) < receiver.slow_first
                    receiver.received.append((self.path, headers.get("webhook-id"), verified,
                                              json.loads(body) if body else None))
                if slow:
                    time.sleep(receiver.delay)
                self.send_response(receiver.answer)
                if 300 <= receiver.answer < 400:
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return Handler

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self) -> list[str | None]:
        with self._lock:
            return [r[1] for r in self.received]


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1:``port``: every message it accepts, parsed, in ``messages``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.messages: list[Message] = []
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 OK"

    def start(self) -> SmtpReceiver:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def wait_for(condition: Callable[[], object], timeout: float = 20.0, what: str = "") -> object:
    """Poll ``condition`` until it is truthy (its value), or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what or condition}")
