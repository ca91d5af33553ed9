"""The feature tunables in one place; each keeps a one-line reason, the history behind it is
in docs/DECISIONS.md."""

from __future__ import annotations

import pandas as pd

WINDOWS: dict[str, pd.Timedelta] = {
    "30m": pd.Timedelta(minutes=30), "1h": pd.Timedelta(hours=1), "24h": pd.Timedelta(hours=24),
}  # fmt: skip
# The longest look-back of any feature: a wallet's month of behaviour is its baseline.
LOOKBACK: pd.Timedelta = pd.Timedelta(days=30)
# "Is this IP / device / counterparty new" looks back LOOKBACK minus the longest window, so a
# count of new pairs in a window still depends on [t - LOOKBACK, t] only.
PAIR_LOOKBACK: pd.Timedelta = LOOKBACK - max(WINDOWS.values())
# Pseudo-count of prior transactions: n earlier transactions give n / (n + K) of the deviation.
AMOUNT_SHRINK_K = 5.0
# Prior spread of a wallet's log amounts (a factor of e); a constant keeps rows point-in-time.
AMOUNT_PRIOR_LOG_SD = 1.0
AMOUNT_Z_CLIP = 10.0  # a z-score past 10 says nothing more
# A wallet younger than this still gets its rate measured over this span (no 1-minute rates).
MIN_RATE_SPAN = pd.Timedelta(days=1)
MIN_TRAVEL_TIME = pd.Timedelta(minutes=1)  # two events a second apart are not a 1e6 km/h trip
MAX_TRAVEL_KMH = 50_000.0  # anything faster is equally impossible
# Pseudo-count pulling a wallet's 24 h redemption share toward its usual share.
REDEEM_SHARE_PRIOR_K = 4.0
# An IP, country or device first seen this recently is "new": a takeover's session shares one.
NEW_ACCESS_SPAN = pd.Timedelta(hours=6)
# Common cash reporting thresholds (USD); structuring keeps each deposit just under one.
REPORTING_THRESHOLDS: tuple[float, ...] = (3_000.0, 10_000.0, 15_000.0)
NEAR_THRESHOLD_FRACTION = 0.10  # "just under" = within 10% below (20% measured no better)
# The earlier windows a window's count is compared with: those ending one window to LOOKBACK -
# the window back (a day: 24 h to LOOKBACK - 24 h), so each lies inside the LOOKBACK (a row
# depends on [t - LOOKBACK, t] only).
BUSIEST_LOOKBACK: dict[str, pd.Timedelta] = {name: LOOKBACK - span for name, span in WINDOWS.items()}
