"""Email notifications through a real SMTP server on a loopback port (aiosmtpd): critical
alerts at once, the others in a digest, from the same outbox and with the same retries; STARTTLS
with a verified certificate, and no password in clear to a server that is not local."""

from __future__ import annotations

import ipaddress
import smtplib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from tests.api.helpers import alert, served
from tests.api.receivers import SmtpReceiver, wait_for
from wallet_monitor.api.app import create_app
from wallet_monitor.api.mailer import EmailSettings, send
from wallet_monitor.api.sender import NotifySettings

TO = ("soc@example.org", "lead@example.org")


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver().start()
    yield server
    server.stop()


def _settings(url: str, digest_minutes: float = 0.02) -> NotifySettings:
    return NotifySettings(retry_delays_s=(0.3,) * 4, jitter=0.1, timeout_s=2.0, poll_s=0.05,
                          email=EmailSettings(url, TO, "high", digest_minutes))


def _text(message) -> str:
    return message.get_payload(decode=True).decode()


def test_a_critical_alert_is_emailed_at_once_and_the_others_in_one_digest(db_path, smtp) -> None:
    # digest_minutes 0.02: the digest goes once its oldest alert has waited 1.2 s.
    with served(create_app(db_path, notify=_settings(smtp.url))) as c:
        c.post("/alert", json=alert("CRIT", score=0.999))
        wait_for(lambda: smtp.messages, what="the critical alert's email")
        c.post("/alert", json=[alert("H1", score=0.985), alert("H2", score=0.99),
                               alert("LOW", score=0.5), alert("H3", score=0.981)])
        wait_for(lambda: len(smtp.messages) == 2, what="the digest")
        # Recorded just after the server has taken the email: wait for the record too.
        wait_for(lambda: len(c.get("/deliveries", params={"status": "delivered"}).json()["items"]) == 4,
                 what="four deliveries recorded delivered")
        assert c.get("/webhooks").json()["items"] == []  # the email subscription is not a webhook
    first, digest = smtp.messages
    assert first["Subject"] == "[CRITICAL] wallet alert CRIT"
    assert first["To"] == ", ".join(TO) and "CRIT" in _text(first)
    assert digest["Subject"] == "Wallet monitor digest: 3 alerts"
    assert all(tx in _text(digest) for tx in ("H1", "H2", "H3")) and "LOW" not in _text(digest)


def test_an_smtp_server_down_then_up_gets_the_email_once(db_path, free_port) -> None:
    smtp = SmtpReceiver(port=free_port)
    try:
        with served(create_app(db_path, notify=_settings(smtp.url))) as c:
            c.post("/alert", json=alert("CRIT", score=0.999))
            (item,) = wait_for(lambda: [d for d in c.get("/deliveries").json()["items"]
                                        if d["last_error"]], what="a failed attempt")
            assert item["last_error"].startswith("SMTP:") and item["status"] == "pending"
            smtp.start()
            wait_for(lambda: c.get("/deliveries", params={"status": "delivered"}).json()["items"])
        assert [m["Subject"] for m in smtp.messages] == ["[CRITICAL] wallet alert CRIT"]
    finally:
        smtp.stop()


def test_alert_api_sends_email_with_its_command_line_flags(start_alert_api, smtp) -> None:
    server = start_alert_api(args=("--smtp-url", smtp.url, "--email-to", ",".join(TO),
                                   "--email-min-severity", "critical"))
    requests.post(f"{server.url}/alert", json=alert("HIGH", score=0.985), timeout=10)
    requests.post(f"{server.url}/alert", json=alert("CRIT", score=0.999), timeout=10)
    wait_for(lambda: smtp.messages, what="the email")
    assert [m["Subject"] for m in smtp.messages] == ["[CRITICAL] wallet alert CRIT"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made here with ``openssl``."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def starttls_smtp(certificate: tuple[Path, Path]) -> Iterator[SmtpReceiver]:
    """aiosmtpd on 127.0.0.1 offering STARTTLS with ``certificate``, and AUTH."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    server = SmtpReceiver(tls_context=context, accept_logins=True).start()
    yield server
    server.stop()


def _message() -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = "test", "wallet-monitor@localhost", TO[0]
    msg.set_content("hello\n")
    return msg


def _with_password(url: str) -> EmailSettings:
    return EmailSettings(url.replace("smtp://", "smtp://alerts:s3cret@"), TO)


def test_the_email_and_the_password_go_over_starttls_to_a_trusted_certificate(
        starttls_smtp, certificate, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # read by create_default_context
    send(_with_password(starttls_smtp.url), _message(), timeout=5)
    assert [m["Subject"] for m in starttls_smtp.messages] == ["test"]
    assert starttls_smtp.tls == [True]
    assert starttls_smtp.logins == [("alerts", "s3cret", True)]


def test_an_untrusted_certificate_is_refused_before_the_password(starttls_smtp,
                                                                 monkeypatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)  # the system's CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        send(_with_password(starttls_smtp.url), _message(), timeout=5)
    assert starttls_smtp.messages == [] and starttls_smtp.logins == []


def _non_loopback_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if ipaddress.ip_address(address).is_loopback else address


def test_a_password_goes_in_clear_only_to_a_loopback_server() -> None:
    # The same server, with no STARTTLS and taking any login, on loopback then on this
    # machine's network address: only the loopback one gets the password.
    local = SmtpReceiver(accept_logins=True).start()
    try:
        send(_with_password(local.url), _message(), timeout=5)
    finally:
        local.stop()
    assert local.logins == [("alerts", "s3cret", False)] and local.tls == [False]

    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to run an SMTP server on")
    remote = SmtpReceiver(host=address, accept_logins=True).start()
    try:
        send(EmailSettings(remote.url, TO), _message(), timeout=5)  # reachable, no password
        with pytest.raises(smtplib.SMTPException, match="offers no STARTTLS"):
            send(_with_password(remote.url), _message(), timeout=5)
    finally:
        remote.stop()
    assert len(remote.messages) == 1 and remote.logins == []
