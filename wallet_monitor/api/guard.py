"""``SecurityGuard``: what every request passes before the routes, and every answer carries.

- **Host.** Only this server's own names are answered (the loopback names, the bind address,
  ``--allowed-host``): a page whose DNS name an attacker re-points at 127.0.0.1 (DNS rebinding)
  still sends its own name as Host, and gets 421.
- **Origin.** A write (POST, PUT, PATCH, DELETE) that a browser marks as coming from a page of
  another origin (``Origin``, ``Sec-Fetch-Site``) gets 403. Clients that are not browsers send
  neither header and are not affected; reads need no check, as no CORS header lets another
  origin read an answer.
- **Headers.** Every answer, errors included, carries a Content-Security-Policy (no framing by
  any page: ``frame-ancestors 'none'``), ``nosniff`` and ``no-referrer``.

A plain ASGI class rather than Starlette's TrustedHostMiddleware: that one splits Host at the
first ":" (so ``[::1]:8000`` never matches) and cannot check Origin or add headers in the same
pass; a ``BaseHTTPMiddleware`` would cost every request an extra task.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wallet_monitor.api.config import LOOPBACK_NAMES

# The dashboard and the docs load only their own files, run no inline script and are never
# framed; data: images are the dashboard's inline SVG icons.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
]
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sec-Fetch-Site values a browser sends for a request of the page's own origin, or typed in.
_OWN_SITE = (b"same-origin", b"none")


def _host_name(host: str) -> str:
    """``example.org:8000`` -> ``example.org``; ``[::1]:8000`` -> ``::1``."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class SecurityGuard:
    """ASGI middleware: the Host and Origin checks, the security headers (module docstring)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] = ()) -> None:
        self.app = app
        names = {_host_name(n.strip().lower()) for n in (*LOOPBACK_NAMES, *allowed_hosts)}
        self.any_host = "*" in names
        self.hosts = frozenset(names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        host = origin = site = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1").lower()
            elif name == b"origin":
                origin = value.decode("latin-1").lower()
            elif name == b"sec-fetch-site":
                site = value.lower()
        if not self.any_host and (host is None or _host_name(host) not in self.hosts):
            await _refuse(send, 421, f"Host {host!r} is not a name of this server (--allowed-host)")
            return
        if scope["method"] in _WRITES and (
            (site is not None and site not in _OWN_SITE)
            or (origin is not None and origin.partition("://")[2] != host)
        ):
            await _refuse(send, 403, "Writes from a web page of another origin are refused")
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS],
    })
    await send({"type": "http.response.body", "body": body})
