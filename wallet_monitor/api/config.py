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

# ---- notifications (docs/NOTIFICATIONS.md; the reasons in docs/DECISIONS.md) -----------------
# Waits before retry 1, 2, ... of a failed delivery: the first within ~10 s (a receiver that
# restarts), then spread over ~23.6 h; after the last one the delivery is failed.
RETRY_DELAYS_S = (10, 60, 300, 1800, 7200, 18000, 28800, 28800)
# Each wait is multiplied by a uniform factor in [1 - J, 1 + J]: receivers that come back are
# not hit by every retry at the same instant.
RETRY_JITTER = 0.2
# A receiver must answer (status line and headers) within this long, connection included.
DELIVERY_TIMEOUT_S = 10.0
# How often the sender looks for due deliveries: the first attempt comes within ~this of the
# commit (the issue asks for two seconds); one indexed query that finds nothing costs ~50 us.
SENDER_POLL_S = 0.5
# While a receiver fails, one delivery (a probe) is tried at a time, at most this long apart;
# the others wait for a success: a dead receiver costs one attempt per interval, not one per alert.
PROBE_MAX_S = 300
# A subscription whose deliveries kept failing this long (no success between) is paused.
PAUSE_AFTER_S = 24 * 3600
# Deliveries in flight at once: one hanging receiver must not hold up the others.
MAX_IN_FLIGHT = 32
# Alerts in one digest email at most; the rest go in the next one.
DIGEST_MAX = 500
