"""Settings of the alert API: command-line defaults and the limits every request obeys."""

from __future__ import annotations

from wallet_monitor.paths import DATA_DIR

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DB = DATA_DIR / "alerts.db"
# When set, every endpoint but /health, / and /static needs it in the X-API-Key header.
API_KEY_ENV = "ALERT_API_KEY"

MAX_BATCH = 1000
# A full batch of MAX_BATCH alerts with long `reasons` must still fit under the body limit.
MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_PAGE = 50
MAX_PAGE = 500
HISTOGRAM_BINS = 20
STATS_HOURS = 24
