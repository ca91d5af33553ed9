"""Email notifications: the SMTP server of ``--smtp-url`` and the messages sent through it.

``smtp://[user:pass@]host:port`` upgrades to TLS with STARTTLS whenever the server offers it;
``smtps://`` speaks TLS from the start. A password is never sent over a connection that is
not encrypted, except to a loopback server. Certificates are verified (a private CA: the
standard ``SSL_CERT_FILE`` environment variable). Sending is blocking (smtplib): the sender
runs it in a thread.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import unquote, urlsplit

from wallet_monitor.api.config import LOOPBACK_NAMES

SMTP_PORTS = {"smtp": 25, "smtps": 465}
DEFAULT_FROM = "wallet-monitor@localhost"


@dataclass(frozen=True)
class EmailSettings:
    """Where emails go: the command line's ``--smtp-url``, ``--email-*`` and ``--digest-minutes``."""

    smtp_url: str
    to: tuple[str, ...]
    min_severity: str = "high"
    digest_minutes: float = 15.0
    sender: str = DEFAULT_FROM


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    tls: bool  # smtps: TLS from the first byte
    user: str | None = None
    password: str | None = None


def parse_smtp_url(url: str) -> SmtpServer:
    """``smtp://[user:pass@]host[:port]`` (or ``smtps://``); ``ValueError`` naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in SMTP_PORTS:
        raise ValueError(f"--smtp-url must start with smtp:// or smtps://, got {url!r}")
    try:
        port = parts.port or SMTP_PORTS[parts.scheme]
    except ValueError:
        raise ValueError(f"--smtp-url has a bad port: {url!r}") from None
    if not parts.hostname:
        raise ValueError(f"--smtp-url has no host: {url!r}")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return SmtpServer(parts.hostname, port, parts.scheme == "smtps", user, password)


def parse_addresses(text: str) -> tuple[str, ...]:
    """``a@x,b@y`` -> the addresses; ``ValueError`` for one that is not ``local@domain``."""
    addresses = tuple(a.strip() for a in text.split(",") if a.strip())
    bad = [a for a in addresses if a.count("@") != 1 or a.startswith("@") or a.endswith("@")
           or any(c.isspace() or c in "<>,;" for c in a)]
    if not addresses or bad:
        raise ValueError(f"--email-to needs addresses like a@example.org, got {text!r}")
    return addresses


def _line(alert: dict) -> str:
    return (f"[{alert['severity']}] alert {alert['id']}: transaction {alert['transaction_id']} "
            f"wallet {alert['wallet_id']} score {alert['fraud_score']:.4f}"
            + (f" amount {alert['amount']:.2f}" if alert.get("amount") is not None else "")
            + (f"\n    reasons: {alert['reasons']}" if alert.get("reasons") else ""))


def compose(settings: EmailSettings, payloads: Sequence[str]) -> EmailMessage:
    """One email for one notification (``payloads`` of one), or a digest of several."""
    alerts = [json.loads(p)["data"] for p in payloads]
    msg = EmailMessage()
    if len(alerts) == 1:
        a = alerts[0]
        msg["Subject"] = f"[{a['severity'].upper()}] wallet alert {a['transaction_id']}"
        text = _line(a)
    else:
        msg["Subject"] = f"Wallet monitor digest: {len(alerts)} alerts"
        text = "\n".join(_line(a) for a in alerts)
    msg["From"] = settings.sender
    msg["To"] = ", ".join(settings.to)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain="wallet-monitor")
    msg.set_content(text + "\n\nOpen the dashboard to triage.\n")
    return msg


def send(settings: EmailSettings, msg: EmailMessage, timeout: float) -> None:
    """Deliver ``msg`` to the SMTP server; any failure raises (``OSError``, ``SMTPException``)."""
    server = parse_smtp_url(settings.smtp_url)
    context = ssl.create_default_context()
    if server.tls:
        client: smtplib.SMTP = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout,
                                                context=context)
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=timeout)
    with client:
        client.ehlo()
        encrypted = server.tls
        if not encrypted and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
            encrypted = True
        if server.user is not None:
            if not encrypted and server.host not in LOOPBACK_NAMES:
                raise smtplib.SMTPException(
                    f"{server.host} offers no STARTTLS: the password is not sent in clear")
            client.login(server.user, server.password or "")
        client.send_message(msg)
