"""Settings of the alert API: command-line defaults and the limits every request obeys."""

from __future__ import annotations

from wallet_monitor.paths import DATA_DIR

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DB = DATA_DIR / "alerts.db"
# When set, every endpoint but /health, / and /static needs it in the X-API-Key header.
API_KEY_ENV = "ALERT_API_KEY"
# Host header names always accepted: the loopback names a local browser or client uses.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")

MAX_BATCH = 1000
# A full batch of MAX_BATCH alerts with long `reasons` must still fit under the body limit.
MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_PAGE = 50
MAX_PAGE = 500
HISTOGRAM_BINS = 20
STATS_HOURS = 24
# The latest triage entries an alert carries; the rest is paged at /alerts/{id}/history.
HISTORY_INLINE = 20
# Seconds a client is told to wait after a 503 (a locked or unreachable database).
RETRY_AFTER_S = 1

# ---- the server's limits (alert_api.py flags; docs/SECURITY.md) ----------------------------
# uvicorn's own default: an idle keep-alive connection is closed after this many seconds.
DEFAULT_KEEP_ALIVE_S = 5
# A new (or reused) connection must deliver its request headers within this many seconds.
DEFAULT_HEADERS_TIMEOUT_S = 10
# ... and then its body: a full batch (MAX_BODY_BYTES) over a slow 1 Mbit/s link takes ~34 s.
DEFAULT_BODY_TIMEOUT_S = 60
# Open connections plus running requests above which uvicorn answers 503; far above what the
# detector (one session) and a few dashboards use, far below the usual 1,024 open files.
DEFAULT_LIMIT_CONCURRENCY = 512
# Request line plus headers; browsers and clients send a few KB (431 above it).
MAX_HEADER_BYTES = 64 * 1024
