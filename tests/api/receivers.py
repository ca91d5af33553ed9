"""Real notification receivers on loopback ports: a webhook endpoint that verifies every
signature with the ``standardwebhooks`` library, and an SMTP server (aiosmtpd), optionally
offering STARTTLS and AUTH."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Callable
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
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
    """aiosmtpd on ``host``:``port``: every message it accepts, parsed, in ``messages``.

    ``tls_context`` (the server's certificate) makes it offer STARTTLS; ``tls`` says, for each
    message, whether its session was encrypted. ``accept_logins`` makes it offer AUTH even
    without TLS and accept any password: each one it receives is kept in ``logins`` as
    ``(user, password, over_tls)``.
    """

    def __init__(self, port: int | None = None, host: str = "127.0.0.1",
                 tls_context: ssl.SSLContext | None = None, accept_logins: bool = False) -> None:
        self.port = port or _free_port()
        self.host = host
        self.url = f"smtp://{host}:{self.port}"
        self.messages: list[Message] = []
        self.tls: list[bool] = []
        self.logins: list[tuple[str, str, bool]] = []
        self._kwargs: dict = {}
        if tls_context is not None:
            self._kwargs["tls_context"] = tls_context
        if accept_logins:
            self._kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        self.tls.append(session.ssl is not None)
        return "250 OK"

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login.decode(), auth_data.password.decode(),
                            session.ssl is not None))
        return AuthResult(success=True)

    def start(self) -> SmtpReceiver:
        self._controller = Controller(self, hostname=self.host, port=self.port, **self._kwargs)
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
