"""Standard Webhooks signing: the secret a subscription is given and the headers of a delivery.

https://www.standardwebhooks.com: ``webhook-id`` (the delivery's id, which is also the
receiver's idempotency key: a retry repeats it), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, keyed by the bytes the
secret's base64 part decodes to. Receivers verify with any Standard Webhooks library
(docs/NOTIFICATIONS.md has an example); the tests verify with the ``standardwebhooks`` one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
# 32 random bytes: the specification asks for 24 to 64.
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh ``whsec_<base64>`` secret."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``msg_id.timestamp.body`` under ``secret``."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The headers of one signed delivery of ``body`` (JSON text)."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, msg_id, timestamp, body),
    }
