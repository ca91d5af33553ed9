"""Serving the app: uvicorn with this API's limits (docs/SECURITY.md has the reasons).

uvicorn itself closes an idle keep-alive connection (``timeout_keep_alive``) and answers 503
over ``limit_concurrency``, but it has no deadline for a request to arrive: a connection that
sends nothing, or its headers or body a byte at a time, stays open for ever (20,200 of them used
up every file descriptor). ``TimedHttpToolsProtocol`` adds the two deadlines, and a cap on the
size of the request head, to uvicorn's httptools protocol; an ASGI middleware cannot, since the
app only sees a request once its headers are complete.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

from wallet_monitor.api.config import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADERS_TIMEOUT_S,
    DEFAULT_KEEP_ALIVE_S,
    DEFAULT_LIMIT_CONCURRENCY,
    MAX_HEADER_BYTES,
)
from wallet_monitor.api.metrics import MULTIPROC_ENV


@dataclass(frozen=True)
class ServerLimits:
    """The deadlines (seconds) and limits of every connection; see config.py for the defaults."""

    keep_alive: float = DEFAULT_KEEP_ALIVE_S
    headers: float = DEFAULT_HEADERS_TIMEOUT_S
    body: float = DEFAULT_BODY_TIMEOUT_S
    concurrency: int = DEFAULT_LIMIT_CONCURRENCY


class LimitedConfig(uvicorn.Config):
    """uvicorn's Config carrying the ServerLimits its protocol reads."""

    def __init__(self, app: Any, *, limits: ServerLimits, **kwargs: Any) -> None:
        super().__init__(app, http=TimedHttpToolsProtocol, timeout_keep_alive=limits.keep_alive,
                         limit_concurrency=limits.concurrency, **kwargs)
        self.limits = limits


def _closing_answer(status: int) -> bytes:
    return STATUS_LINE[status] + b"content-length: 0\r\nconnection: close\r\n\r\n"


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus a deadline for each request's headers and body.

    The headers deadline runs from the connection's opening (or a kept-alive request's first
    byte) until the headers are complete; the body deadline from then until the body is. Past
    either, the client gets 408 and the connection is closed; a request head over
    MAX_HEADER_BYTES gets 431. The timer is set after each read, for the phase the request is
    left in: a request that arrives whole in one read (the usual case) costs no timer at all.
    """

    def __init__(self, config: LimitedConfig, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.limits: ServerLimits = config.limits
        self._deadline: asyncio.TimerHandle | None = None
        self._timed: str | None = None  # the phase the deadline is for
        self._phase = "head"  # head -> body -> done (the app answers) -> head ...
        self._head_bytes = 0
        self._tail = b""  # the last bytes of the head so far: its end may straddle two reads

    def _time(self) -> None:
        """Set, keep or drop the deadline for the phase the request is in now."""
        if self._phase == self._timed:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._timed = self._phase if self._phase != "done" else None
        if self._timed is not None:
            seconds = self.limits.headers if self._timed == "head" else self.limits.body
            self._deadline = self.loop.call_later(seconds, self._expired)

    def _close_with(self, status: int) -> None:
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True  # the app, still waiting for the body, sends nothing
            self.transport.write(_closing_answer(status))
        self.transport.close()

    def _expired(self) -> None:
        self._deadline = self._timed = None
        if not self.transport.is_closing():
            self._close_with(408)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._time()

    def connection_lost(self, exc: Exception | None) -> None:
        self._phase = "done"
        self._time()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase != "body":
            # Count the head's bytes only (a body may follow in the same read), up to the blank
            # line that ends it; the parser would buffer a head of any size until it ends.
            seen = self._tail + data
            end = seen.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else max(end + 4 - len(self._tail), 0)
            self._tail = seen[-3:]
            if self._head_bytes > MAX_HEADER_BYTES:
                self._phase = "done"
                self._time()
                self._close_with(431)
                return
        super().data_received(data)
        if not self.transport.is_closing():
            self._time()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = "head"

    def on_headers_complete(self) -> None:
        self._phase = "body"
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._phase, self._head_bytes, self._tail = "done", 0, b""
        super().on_message_complete()


def serve(app: Any, host: str, port: int, limits: ServerLimits, **kwargs: Any) -> None:
    """Run ``app`` until SIGINT or SIGTERM, with ``limits`` on every connection."""
    uvicorn.Server(LimitedConfig(app, host=host, port=port, limits=limits, **kwargs)).run()


def serve_workers(app_factory: Callable[[], Any], workers: int, host: str, port: int,
                  limits: ServerLimits, **kwargs: Any) -> None:
    """Run ``workers`` processes of ``app_factory()`` on one socket until SIGINT or SIGTERM.

    uvicorn's supervisor binds the socket here, spawns the workers (each builds its own app
    from the picklable ``app_factory``), restarts one that dies, and on SIGTERM stops them all.
    Every worker's metrics land in one fresh ``PROMETHEUS_MULTIPROC_DIR``, removed at the end.
    """
    config = LimitedConfig(app_factory, factory=True, host=host, port=port, limits=limits,
                           workers=workers, **kwargs)
    with tempfile.TemporaryDirectory(prefix="alert_api_metrics_") as metrics_dir:
        os.environ[MULTIPROC_ENV] = metrics_dir  # inherited by the workers, read at their import
        Multiprocess(config, sockets=[config.bind_socket()]).run()
