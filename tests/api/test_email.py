"""Email notifications through a real SMTP server on a loopback port (aiosmtpd): critical
alerts at once, the others in a digest, from the same outbox and with the same retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.api.helpers import alert, served
from tests.api.receivers import SmtpReceiver, wait_for
from wallet_monitor.api.app import create_app
from wallet_monitor.api.mailer import EmailSettings
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
