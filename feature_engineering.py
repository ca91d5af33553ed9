"""Point-in-time features for wallet transactions.

`build_features` turns transactions (plus the wallets table and logins) into one numeric row
per target transaction. Training (this script's `main`) and detection both call it, so the
detector never computes features any other way.

Point-in-time invariant: the features of a transaction at time t depend only on the wallets
table and on this wallet's events (its own transactions, incoming transfers where it is the
counterparty, its logins) with timestamp in [t - LOOKBACK, t] that come before it in
(timestamp, transaction_id) order; logins count when their timestamp is <= t. Hence dropping
events older than t - LOOKBACK, or appending later ones, never changes a row, and a streaming
path that keeps the last LOOKBACK of events reproduces the batch features exactly.

Window conventions: a window W of a transaction at t covers [t - W, t]. Counts and sums of the
wallet's own transactions *include the transaction itself* (three transactions within 40
minutes give a 1 h count of 3 on the third); inflow, incoming transfers and logins are those
strictly before it. Baselines (mean, max, rate) look at the LOOKBACK window strictly before
the transaction, "new" and "known for" at PAIR_LOOKBACK (LOOKBACK minus the longest window, so
that counting new IPs in the last 24 h stays inside LOOKBACK). An IP, country or device is
"new" while the wallet has known it for less than NEW_ACCESS_SPAN (so a takeover's failed
logins, login and drains all count as new, not only the first event of the session). Every window sum is taken over exact integer
(fixed-point) cumulative sums, so a row's value does not depend on how much older history was
loaded.

Everything runs on sorted arrays (sort by wallet and time, `searchsorted` for window starts,
cumulative sums, stable sorts on (wallet, value) pairs); there is no per-row Python loop.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent
logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------- tunables
WINDOWS: dict[str, pd.Timedelta] = {
    "30m": pd.Timedelta(minutes=30), "1h": pd.Timedelta(hours=1), "24h": pd.Timedelta(hours=24),
}  # fmt: skip
LOOKBACK: pd.Timedelta = pd.Timedelta(days=30)
# How far back "is this IP / device / counterparty new" looks. Counts of such events in a window
# (new IPs in 24 h) read the flags of events up to a window earlier, so the flags look back
# LOOKBACK minus the longest window: every row still depends on [t - LOOKBACK, t] only.
PAIR_LOOKBACK: pd.Timedelta = LOOKBACK - max(WINDOWS.values())
TX_TYPES: tuple[str, ...] = ("deposit", "transfer", "redeem")
# Pseudo-count of prior transactions: a wallet with n earlier transactions gets n / (n + K) of its
# own deviation, so a two-transaction history cannot produce a huge z-score.
AMOUNT_SHRINK_K = 5.0
# Prior spread of a wallet's log amounts (a factor of e); blended with the wallet's own variance.
# A population estimate would break the point-in-time invariant (it depends on other wallets and
# on how much data was loaded), so the prior is a constant.
AMOUNT_PRIOR_LOG_SD = 1.0
AMOUNT_Z_CLIP = 10.0
# A wallet younger than this still gets its rate measured over this span (no 1-minute rates).
MIN_RATE_SPAN = pd.Timedelta(days=1)
MIN_TRAVEL_TIME = pd.Timedelta(minutes=1)
MAX_TRAVEL_KMH = 50_000.0
# Pseudo-count (transactions) pulling a wallet's redemption share in 24 h toward its usual share;
# a wallet with no history is assumed to redeem in a third of its transactions.
REDEEM_SHARE_PRIOR_K = 4.0
# An IP, country or device first seen by the wallet this recently (while the wallet itself was
# seen earlier) is "new": a takeover's logins and drains share one fresh session, so "never seen
# before this very event" would only ever mark the first of them.
NEW_ACCESS_SPAN = pd.Timedelta(hours=6)
# Common cash reporting thresholds (USD); a deposit within this fraction below one of them is
# "near a threshold" (structuring keeps each deposit just under the line).
REPORTING_THRESHOLDS: tuple[float, ...] = (3_000.0, 10_000.0, 15_000.0)
NEAR_THRESHOLD_FRACTION = 0.10

_AMOUNT_SCALE = 10_000  # window sums run on amounts in 1/100 cent, as exact int64
_AMOUNT_MAX = 1e11
_LOG_SCALE = float(1 << 28)  # log amounts as exact int64 (error < 4e-9)

TX_REQUIRED = ("transaction_id", "wallet_id", "timestamp", "amount", "type", "ip_address")
TX_OPTIONAL = ("counterparty_wallet_id", "token", "country", "device_id")
LOGIN_REQUIRED = ("login_id", "wallet_id", "timestamp", "ip_address", "success")
LOGIN_OPTIONAL = ("country", "device_id")
WALLET_REQUIRED = ("wallet_id", "kyc_verified", "registration_date")
WALLET_OPTIONAL = ("home_country",)
_MAX_REPORTED_ROWS = 3

# Approximate country centroids (lat, lon) for implied travel speed; unknown codes give no speed.
_CENTROIDS: dict[str, tuple[float, float]] = {
    "US": (39.8, -98.6), "CA": (56.1, -106.3), "MX": (23.6, -102.5), "BR": (-14.2, -51.9),
    "AR": (-38.4, -63.6), "CO": (4.6, -74.3), "CL": (-35.7, -71.5), "PE": (-9.2, -75.0),
    "VE": (6.4, -66.6), "EC": (-1.8, -78.2), "BO": (-16.3, -63.6), "PY": (-23.4, -58.4),
    "UY": (-32.5, -55.8), "CR": (9.7, -83.8), "PA": (8.5, -80.8), "GT": (15.8, -90.2),
    "HN": (15.2, -86.2), "SV": (13.8, -88.9), "NI": (12.9, -85.2), "DO": (18.7, -70.2),
    "CU": (21.5, -77.8), "JM": (18.1, -77.3), "PR": (18.2, -66.6), "TT": (10.7, -61.2),
    "BS": (25.0, -77.4), "HT": (19.0, -72.3), "GB": (55.4, -3.4), "IE": (53.4, -8.2),
    "FR": (46.2, 2.2), "DE": (51.2, 10.5), "NL": (52.1, 5.3), "BE": (50.5, 4.5),
    "LU": (49.8, 6.1), "ES": (40.5, -3.7), "PT": (39.4, -8.2), "IT": (41.9, 12.6),
    "MT": (35.9, 14.4), "CH": (46.8, 8.2), "AT": (47.5, 14.6), "PL": (51.9, 19.1),
    "CZ": (49.8, 15.5), "SK": (48.7, 19.7), "HU": (47.2, 19.5), "SI": (46.2, 15.0),
    "HR": (45.1, 15.2), "BA": (43.9, 17.7), "RS": (44.0, 21.0), "ME": (42.7, 19.4),
    "AL": (41.2, 20.2), "MK": (41.6, 21.7), "GR": (39.1, 21.8), "BG": (42.7, 25.5),
    "RO": (45.9, 25.0), "MD": (47.4, 28.4), "UA": (48.4, 31.2), "BY": (53.7, 28.0),
    "LT": (55.2, 23.9), "LV": (56.9, 24.6), "EE": (58.6, 25.0), "FI": (61.9, 25.7),
    "SE": (60.1, 18.6), "NO": (60.5, 8.5), "DK": (56.3, 9.5), "IS": (64.9, -19.0),
    "CY": (35.1, 33.4), "TR": (39.0, 35.2), "RU": (61.5, 105.3), "GE": (42.3, 43.4),
    "AM": (40.1, 45.0), "AZ": (40.1, 47.6), "KZ": (48.0, 66.9), "UZ": (41.4, 64.6),
    "IR": (32.4, 53.7), "IQ": (33.2, 43.7), "SY": (34.8, 39.0), "LB": (33.9, 35.9),
    "IL": (31.0, 34.9), "JO": (30.6, 36.2), "SA": (23.9, 45.1), "AE": (23.4, 53.8),
    "QA": (25.4, 51.2), "BH": (26.0, 50.6), "KW": (29.3, 47.5), "OM": (21.5, 55.9),
    "YE": (15.6, 48.5), "AF": (33.9, 67.7), "PK": (30.4, 69.3), "IN": (20.6, 79.0),
    "LK": (7.9, 80.8), "NP": (28.4, 84.1), "BD": (23.7, 90.4), "MM": (21.9, 95.9),
    "TH": (15.9, 101.0), "KH": (12.6, 104.9), "LA": (19.9, 102.5), "VN": (14.1, 108.3),
    "MY": (4.2, 102.0), "SG": (1.35, 103.8), "ID": (-0.8, 113.9), "PH": (12.9, 121.8),
    "CN": (35.9, 104.2), "HK": (22.3, 114.2), "MO": (22.2, 113.5), "TW": (23.7, 121.0),
    "MN": (46.9, 103.8), "JP": (36.2, 138.3), "KR": (35.9, 127.8), "AU": (-25.3, 133.8),
    "NZ": (-40.9, 174.9), "EG": (26.8, 30.8), "MA": (31.8, -7.1), "DZ": (28.0, 1.7),
    "TN": (33.9, 9.5), "LY": (26.3, 17.2), "SD": (12.9, 30.2), "ET": (9.1, 40.5),
    "KE": (-0.02, 37.9), "TZ": (-6.4, 34.9), "UG": (1.4, 32.3), "RW": (-1.9, 29.9),
    "NG": (9.1, 8.7), "GH": (7.9, -1.0), "CI": (7.5, -5.5), "SN": (14.5, -14.5),
    "CM": (7.4, 12.4), "CD": (-4.0, 21.8), "AO": (-11.2, 17.9), "ZM": (-13.1, 27.8),
    "ZW": (-19.0, 29.2), "MZ": (-18.7, 35.5), "BW": (-22.3, 24.7), "NA": (-22.9, 18.5),
    "ZA": (-30.6, 22.9), "MG": (-18.8, 46.9), "MU": (-20.3, 57.6),
}  # fmt: skip

FEATURE_FAMILIES: dict[str, list[str]] = {
    "amount": [
        "amount_log", "amount_z", "amount_z_same_type", "amount_vs_typical", "amount_vs_max",
        "amount_unverified_log", "amount_vs_age", "type_deposit", "type_transfer", "type_redeem",
        "amount_out_new_device_log",
    ],
    "velocity": [
        "tx_count_1h_log", "amount_sum_1h_log", "amount_sum_24h_log", "transfer_count_1h_log",
        "transfer_sum_1h_log", "redeem_count_1h_log", "redeem_sum_1h_log", "deposit_count_1h_log",
        "deposit_sum_1h_log", "redeem_count_24h_log", "redeem_sum_24h_log",
        "deposit_count_24h_log", "deposit_sum_24h_log", "near_threshold_deposits_24h_log",
        "near_threshold_24h_vs_rate", "time_since_prev_tx_log", "hour_sin", "hour_cos",
        "dormant_amount", "tx_count_1h_vs_rate", "tx_count_24h_vs_rate",
        "amount_sum_1h_vs_rate", "amount_sum_24h_vs_rate", "transfer_count_24h_vs_rate",
        "redeem_count_1h_vs_rate", "redeem_count_24h_vs_rate", "deposit_count_24h_vs_rate",
        "redeem_share_24h_vs_usual", "redeem_sum_24h_vs_typical", "redeem_sum_1h_vs_max",
    ],
    "flow": [
        "inflow_1h_log", "inflow_24h_log", "incoming_transfers_1h_log", "forward_share",
        "minutes_since_inflow_log", "forwarded_30m_log", "incoming_forward_ratio_1h",
        "counterparty_new", "new_counterparties_24h_log", "new_counterparties_1h_vs_rate",
        "wallet_age_days_log", "kyc_verified",
    ],
    "access": [
        "ip_new", "country_new", "device_new", "access_new_count", "country_changed",
        "travel_speed_log", "country_not_home", "new_ips_24h_log", "failed_logins_1h_log",
        "failed_logins_24h_log", "failed_logins_new_ip_1h_log", "success_logins_1h_log",
        "failed_login_share_1h", "login_unseen", "time_since_success_login_log",
        "ip_known_days_log", "country_known_days_log", "device_known_days_log",
        "new_place_new_device", "failed_logins_new_device_1h_log",
    ],
}  # fmt: skip
FEATURE_NAMES: list[str] = [name for names in FEATURE_FAMILIES.values() for name in names]

FEATURE_LABELS: dict[str, str] = {
    "amount_log": "transaction amount",
    "amount_z": "amount unusual for this wallet",
    "amount_z_same_type": "amount unusual for this wallet and type",
    "amount_vs_typical": "amount vs the wallet's typical amount",
    "amount_vs_max": "amount vs the wallet's largest earlier amount",
    "amount_unverified_log": "amount into or out of a wallet without KYC",
    "amount_vs_age": "amount vs the wallet's age",
    "type_deposit": "deposit",
    "type_transfer": "transfer",
    "type_redeem": "redemption",
    "amount_out_new_device_log": "amount sent or redeemed from a new device",
    "tx_count_1h_log": "transactions in the last hour",
    "amount_sum_1h_log": "amount moved in the last hour",
    "amount_sum_24h_log": "amount moved in the last 24 h",
    "transfer_count_1h_log": "transfers in the last hour",
    "transfer_sum_1h_log": "amount transferred in the last hour",
    "redeem_count_1h_log": "redemptions in the last hour",
    "redeem_sum_1h_log": "amount redeemed in the last hour",
    "deposit_count_1h_log": "deposits in the last hour",
    "deposit_sum_1h_log": "amount deposited in the last hour",
    "redeem_count_24h_log": "redemptions in the last 24 h",
    "redeem_sum_24h_log": "amount redeemed in the last 24 h",
    "deposit_count_24h_log": "deposits in the last 24 h",
    "deposit_sum_24h_log": "amount deposited in the last 24 h",
    "near_threshold_deposits_24h_log": "deposits just under a reporting threshold in 24 h",
    "near_threshold_24h_vs_rate": "deposits just under a threshold in 24 h vs the wallet's usual rate",
    "time_since_prev_tx_log": "time since the previous transaction",
    "hour_sin": "time of day (UTC)",
    "hour_cos": "time of day (UTC)",
    "dormant_amount": "large amount after a long idle spell",
    "tx_count_1h_vs_rate": "hourly activity vs the wallet's usual rate",
    "tx_count_24h_vs_rate": "daily activity vs the wallet's usual rate",
    "amount_sum_1h_vs_rate": "hourly volume vs the wallet's usual volume",
    "amount_sum_24h_vs_rate": "daily volume vs the wallet's usual volume",
    "transfer_count_24h_vs_rate": "transfers in 24 h vs the wallet's usual rate",
    "redeem_count_24h_vs_rate": "redemptions in 24 h vs the wallet's usual rate",
    "deposit_count_24h_vs_rate": "deposits in 24 h vs the wallet's usual rate",
    "redeem_count_1h_vs_rate": "redemptions in the last hour vs the wallet's usual rate",
    "redeem_share_24h_vs_usual": "share of redemptions in 24 h vs the wallet's usual share",
    "redeem_sum_1h_vs_max": "redeemed in the last hour vs the wallet's largest earlier redemption",
    "redeem_sum_24h_vs_typical": "24 h redemptions vs the wallet's typical amount",
    "inflow_1h_log": "funds received in the last hour",
    "inflow_24h_log": "funds received in the last 24 h",
    "incoming_transfers_1h_log": "incoming transfers in the last hour",
    "forward_share": "share of recent inflow sent on",
    "minutes_since_inflow_log": "minutes from receiving funds to sending them on",
    "forwarded_30m_log": "amount sent on within 30 minutes of receiving it",
    "incoming_forward_ratio_1h": "outflow close to a transfer received within the hour",
    "counterparty_new": "new counterparty",
    "new_counterparties_24h_log": "new counterparties in the last 24 h",
    "new_counterparties_1h_vs_rate": "new counterparties in the last hour vs the usual transfer rate",
    "wallet_age_days_log": "wallet age",
    "kyc_verified": "KYC status",
    "ip_new": "new IP address",
    "country_new": "new country",
    "device_new": "new device",
    "access_new_count": "new IP, country and device at once",
    "country_changed": "country changed since the previous event",
    "travel_speed_log": "implied travel speed",
    "country_not_home": "outside the home country",
    "new_ips_24h_log": "new IP addresses in the last 24 h",
    "failed_logins_1h_log": "failed logins in the last hour",
    "failed_logins_24h_log": "failed logins in the last 24 h",
    "login_unseen": "IP or device never used to log in",
    "success_logins_1h_log": "successful logins in the last hour",
    "failed_logins_new_ip_1h_log": "failed logins from a new IP in the last hour",
    "failed_login_share_1h": "share of the last hour's logins that failed",
    "failed_logins_new_device_1h_log": "failed logins from a new device in the last hour",
    "time_since_success_login_log": "time since the last successful login",
    "ip_known_days_log": "how long the IP has been known",
    "country_known_days_log": "how long the country has been known",
    "device_known_days_log": "how long the device has been known",
    "new_place_new_device": "new IP or country on a new device",
}

# Which tail of each feature is suspicious: +1 higher, -1 lower, 0 both (one-sided scoring and
# reasons in train_model use it).
FEATURE_DIRECTIONS: dict[str, int] = {name: 1 for name in FEATURE_NAMES}
FEATURE_DIRECTIONS.update(
    {
        "type_deposit": 0, "type_transfer": 0, "type_redeem": 0,
        "time_since_prev_tx_log": 0, "success_logins_1h_log": 0, "hour_sin": 0, "hour_cos": 0,
        "minutes_since_inflow_log": -1, "wallet_age_days_log": -1, "kyc_verified": -1,
        "ip_known_days_log": -1, "country_known_days_log": -1, "device_known_days_log": -1,
    }
)  # fmt: skip

_KIND_OWN, _KIND_IN, _KIND_LOGIN = 0, 1, 2
_NS_PER_S = 1_000_000_000
_NS_PER_H = 3600 * _NS_PER_S
_NS_PER_DAY = 24 * _NS_PER_H
_NAT = np.iinfo(np.int64).min
_warned: set[str] = set()


class InputError(ValueError):
    """A malformed input file; the message names file, column and first offending rows."""


# ---------------------------------------------------------------------------------- loading


def transactions_file(data_dir, name: str = "transactions.csv") -> Path:
    """Path of the transactions file, falling back to the prototype's generated_data.csv."""
    data_dir = Path(data_dir)
    path = data_dir / name
    legacy = data_dir / "generated_data.csv"
    if not path.exists() and legacy.exists():
        return legacy
    return path


def _read_csv(path: Path, string_cols: tuple[str, ...]) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        with open(path, "rb") as fh:
            header = fh.readline().decode("utf-8-sig").strip()
        present = [c.strip().strip('"') for c in header.split(",")]
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in string_cols if c in present},
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError, OSError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{path.name}: cannot be read as CSV ({reason})") from exc
    df = table.to_pandas()
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _fail(path: Path, col: str, problem: str, values: pd.Series, bad: np.ndarray) -> None:
    rows = np.flatnonzero(bad)[:_MAX_REPORTED_ROWS]
    shown = ", ".join(f"line {r + 2} ({_plain(values.iloc[r])!r})" for r in rows)
    more = f" and {int(bad.sum()) - len(rows)} more" if bad.sum() > len(rows) else ""
    raise InputError(f"{path.name}: column '{col}': {problem} at {shown}{more}")


def _check_columns(df: pd.DataFrame, path: Path, required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(
            f"{path.name}: missing required column(s) {', '.join(repr(c) for c in missing)} "
            f"(found: {', '.join(map(str, df.columns))})"
        )


def _check_present(df: pd.DataFrame, path: Path, cols: tuple[str, ...]) -> None:
    for col in cols:
        bad = df[col].isna().to_numpy()
        if bad.any():
            _fail(path, col, "empty value", df[col], bad)


def _parse_times(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    import pyarrow as pa
    import pyarrow.compute as pc

    raw = df[col]
    try:
        arr = pc.cast(pa.array(raw, type=pa.string()), pa.timestamp("ns", tz="UTC"))
        parsed = pd.Series(arr.to_pandas(), index=df.index)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Slow path: offsets-free timestamps (UTC by contract), dates, or genuinely bad values.
        parsed = pd.to_datetime(raw, utc=True, format="ISO8601", errors="coerce")
        bad = (parsed.isna() & raw.notna()).to_numpy()
        if bad.any():
            _fail(path, col, "unparsable timestamp", raw, bad)
    return parsed.astype("datetime64[ns, UTC]")


def _parse_bool(df: pd.DataFrame, col: str, path: Path) -> pd.Series:
    text = df[col].astype("string").str.strip().str.lower()
    mapped = text.map({"1": 1, "0": 0, "true": 1, "false": 0, "1.0": 1, "0.0": 0})
    bad = mapped.isna().to_numpy()
    if bad.any():
        _fail(path, col, "expected 0/1 or true/false", df[col], bad)
    return mapped.astype(np.int8)


def _check_unique(df: pd.DataFrame, col: str, path: Path) -> None:
    dup = df[col].duplicated(keep="first").to_numpy()
    if dup.any():
        _fail(path, col, "duplicate id", df[col], dup)


def load_transactions(path) -> pd.DataFrame:
    """Read and validate a transactions file; `timestamp` is datetime64[ns, UTC]."""
    path = Path(path)
    df = _read_csv(path, ("transaction_id", "wallet_id", "timestamp", "type", "ip_address") + TX_OPTIONAL)
    _check_columns(df, path, TX_REQUIRED)
    _check_present(df, path, ("transaction_id", "wallet_id", "timestamp", "amount", "type"))
    df["timestamp"] = _parse_times(df, "timestamp", path)
    amount = pd.to_numeric(df["amount"], errors="coerce").astype(np.float64)
    bad = ~(np.isfinite(amount.to_numpy()) & (amount.to_numpy() > 0))
    if bad.any():
        _fail(path, "amount", "not a positive number", df["amount"], bad)
    df["amount"] = amount
    kind = df["type"].astype("string").str.strip().str.lower()
    bad = (~kind.isin(TX_TYPES)).to_numpy()
    if bad.any():
        _fail(path, "type", f"unknown type (expected {'|'.join(TX_TYPES)})", df["type"], bad)
    df["type"] = kind.astype(str)
    _check_unique(df, "transaction_id", path)
    return df


def load_logins(path) -> pd.DataFrame | None:
    """Read and validate logins.csv; None when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    df = _read_csv(path, ("login_id", "wallet_id", "timestamp", "ip_address", "success") + LOGIN_OPTIONAL)
    _check_columns(df, path, LOGIN_REQUIRED)
    _check_present(df, path, ("login_id", "wallet_id", "timestamp", "success"))
    df["timestamp"] = _parse_times(df, "timestamp", path)
    df["success"] = _parse_bool(df, "success", path)
    _check_unique(df, "login_id", path)
    return df


def load_wallets(path) -> pd.DataFrame:
    """Read and validate wallets.csv; `kyc_verified` becomes 0/1, dates UTC."""
    path = Path(path)
    df = _read_csv(path, WALLET_REQUIRED + WALLET_OPTIONAL)
    _check_columns(df, path, WALLET_REQUIRED)
    _check_present(df, path, WALLET_REQUIRED)
    df["kyc_verified"] = _parse_bool(df, "kyc_verified", path)
    df["registration_date"] = _parse_times(df, "registration_date", path)
    _check_unique(df, "wallet_id", path)
    return df


# ------------------------------------------------------------------------- array helpers


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning(message)


def _utc_ns(values) -> np.ndarray:
    ts = pd.to_datetime(pd.Series(values), utc=True, format="ISO8601")
    return pd.DatetimeIndex(ts).as_unit("ns").asi8


def _str(values: pd.Series) -> pd.Series:
    return values.astype("string[pyarrow]")


def _text(df: pd.DataFrame | None, col: str, n: int, upper: bool = False) -> pd.Series:
    """An optional text column, stripped, with "" as missing (all missing if absent)."""
    if df is None or col not in df.columns:
        return pd.Series(pd.NA, index=range(n), dtype="string[pyarrow]")
    out = _str(df[col]).str.strip()
    if upper:
        out = out.str.upper()
    return out.mask(out == "").reset_index(drop=True)


def _flag(values: pd.Series) -> np.ndarray:
    """0/1 from bools, numbers or the strings 0/1/true/false (anything else counts as 0)."""
    codes, uniques = pd.factorize(values.astype("string").str.strip().str.lower())
    lut = np.array([1.0 if u in ("1", "true", "1.0") else 0.0 for u in uniques] + [0.0])
    return lut[codes]


def _codes(*parts: pd.Series) -> list:
    """Factorize several columns over one shared vocabulary (-1 for missing)."""
    joined = pd.concat([_str(p).reset_index(drop=True) for p in parts], ignore_index=True)
    codes, uniques = pd.factorize(joined, use_na_sentinel=True)
    out, start = [], 0
    for p in parts:
        out.append(codes[start : start + len(p)].astype(np.int64))
        start += len(p)
    return out + [np.asarray(uniques, dtype=object)]


def _csum(values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values) + 1, dtype=values.dtype)
    np.cumsum(values, out=out[1:])
    return out


def _rank_strings(values: pd.Series) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(values) == 0:
        return np.zeros(0, np.int64)
    arr = pa.array(_str(values))
    return np.asarray(pc.rank(arr, sort_keys="ascending", tiebreaker="first")).astype(np.int64)


def _last_before(mask: np.ndarray, wallet: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index of the last event j < i with mask[j] in the same wallet, for each i in `at`; -1 if none."""
    idx = np.where(mask, np.arange(len(mask)), -1)
    last = np.maximum.accumulate(idx)
    prev = np.where(at > 0, last[np.maximum(at - 1, 0)], -1)
    ok = prev >= 0
    ok[ok] = wallet[prev[ok]] == wallet[at[ok]]
    return np.where(ok, prev, -1)


def _window_max(values: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """max(values[start:end]) per query (sparse table, one level at a time); -inf when empty."""
    length = end - start
    out = np.full(len(start), -np.inf)
    if len(values) == 0 or length.max(initial=0) <= 0:
        return out
    level = np.zeros(len(start), dtype=np.int64)
    nz = length > 0
    level[nz] = np.floor(np.log2(length[nz])).astype(np.int64)
    table = values.astype(np.float64)
    for k in range(int(level[nz].max()) + 1):
        if k:
            half = 1 << (k - 1)
            table = np.maximum(table[:-half], table[half:])
        sel = nz & (level == k)
        if sel.any():
            out[sel] = np.maximum(table[start[sel]], table[end[sel] - (1 << k)])
    return out


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    s = np.sort(values)
    keep = np.ones(len(s), bool)
    keep[1:] = s[1:] != s[:-1]
    return s[keep]


# ---------------------------------------------------------------------------- the features


class _Events:
    """All events of all wallets in one array, sorted by (wallet, timestamp, order)."""

    def __init__(self, wallet, ts, sub, kind):
        self.uniq = _sorted_unique(ts)
        self.m = len(self.uniq) + 1
        key = wallet * self.m + np.searchsorted(self.uniq, ts)
        n_sub = int(sub.max(initial=0)) + 1
        if float(key.max(initial=0) + 1) * n_sub < 2**62:
            order = np.argsort(key * n_sub + sub)  # the composite key is unique: any sort works
        else:
            order = np.lexsort((sub, key))
        self.order = order
        self.wallet = wallet[order]
        self.ts = ts[order]
        self.kind = kind[order]
        self.key = key[order]
        self.n = len(order)
        self._pair_rank = None

    def take(self, values: np.ndarray) -> np.ndarray:
        return values[self.order]

    def lo_rank(self, bound: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.uniq, bound, side="left")

    def pair_rank(self) -> np.ndarray:
        """lo_rank(ts - PAIR_LOOKBACK) of every event, computed once for all pair statistics."""
        if self._pair_rank is None:
            self._pair_rank = self.lo_rank(self.ts - PAIR_LOOKBACK.value)
        return self._pair_rank

    def start(self, at: np.ndarray, span: pd.Timedelta) -> np.ndarray:
        """First event position of the same wallet with timestamp >= t - span."""
        lo = self.lo_rank(self.ts[at] - span.value)
        return np.searchsorted(self.key, self.wallet[at] * self.m + lo, side="left")


def _pair_stats(ev: _Events, rows: np.ndarray, value: np.ndarray, marked=None):
    """For events `rows` (ascending positions) carrying value codes, per row: was the
    (wallet, value) pair unseen in the PAIR_LOOKBACK before it, and since when it is known; with
    `marked`, also whether an earlier marked row of the pair lies in that PAIR_LOOKBACK."""
    n = len(rows)
    if n == 0:
        return np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0, bool)
    # rows are already in time order within each wallet, so a stable sort keeps it per pair.
    pair = ev.wallet[rows] * (int(value.max()) + 1) + value
    order = np.argsort(pair, kind="stable")
    p_sorted, r_sorted = pair[order], rows[order]
    ts = ev.ts[r_sorted]
    same_prev = np.zeros(n, bool)
    same_prev[1:] = p_sorted[1:] == p_sorted[:-1]
    dense = np.cumsum(~same_prev)
    prev_ts = np.empty(n, np.int64)
    prev_ts[0] = 0
    prev_ts[1:] = ts[:-1]
    new_sorted = ~same_prev | (prev_ts < ts - PAIR_LOOKBACK.value)
    key = dense * ev.m + (ev.key[r_sorted] % ev.m)
    first = np.searchsorted(key, dense * ev.m + ev.pair_rank()[r_sorted], side="left")
    known = ts - ts[first]
    new, known_out = np.empty(n, bool), np.empty(n, np.int64)
    new[order], known_out[order] = new_sorted, known
    seen = np.zeros(n, bool)
    if marked is not None:
        last = np.maximum.accumulate(np.where(marked[order], np.arange(n), -1))
        prev_marked = np.empty(n, np.int64)
        prev_marked[0] = -1
        prev_marked[1:] = last[:-1]
        seen[order] = prev_marked >= first
    return new, known_out, seen


def _haversine_km(lat1, lon1, lat2, lon2):
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _prepare_transactions(df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in TX_REQUIRED if c not in df.columns and c != "ip_address"]
    if missing:
        raise InputError(f"transactions: missing required column(s) {missing}")
    kind_codes, kinds = pd.factorize(_str(df["type"]).str.strip().str.lower())
    lut = np.array([TX_TYPES.index(k) if k in TX_TYPES else -1 for k in kinds] + [-1], np.int8)
    out = pd.DataFrame(
        {
            "transaction_id": _str(df["transaction_id"]).reset_index(drop=True),
            "wallet_id": _str(df["wallet_id"]).reset_index(drop=True),
            "ts": _utc_ns(df["timestamp"]),
            "amount": pd.to_numeric(df["amount"]).to_numpy(dtype=np.float64),
            "tcode": lut[kind_codes],
        }
    )
    for col in ("ip_address", "counterparty_wallet_id", "country", "device_id"):
        out[col] = _text(df, col, len(df), upper=col == "country")
    return out


def build_features(targets, history=None, wallets=None, logins=None) -> pd.DataFrame:
    """Point-in-time features for each target transaction, in the targets' order.

    Context is history ∪ targets (deduplicated by transaction_id, targets win) plus logins and
    the wallets table. Returns `transaction_id` then float columns `FEATURE_NAMES`, no NaN/inf;
    the index is the targets' index.
    """
    tgt = _prepare_transactions(targets)
    if len(tgt) == 0:
        cols = {"transaction_id": pd.Series(dtype=str)}
        cols.update({name: pd.Series(dtype=np.float64) for name in FEATURE_NAMES})
        return pd.DataFrame(cols, index=targets.index)
    tx_columns = set(targets.columns)
    t_lo = int(tgt["ts"].min()) - LOOKBACK.value
    t_hi = int(tgt["ts"].max())
    tx = tgt
    if history is not None and len(history):
        tx_columns |= set(history.columns)
        hist = _prepare_transactions(history)
        # Only events in [min target - LOOKBACK, max target] can matter (the invariant itself).
        hts = hist["ts"].to_numpy()
        tx = pd.concat([hist[(hts >= t_lo) & (hts <= t_hi)], tgt], ignore_index=True)
        tx = tx.drop_duplicates("transaction_id", keep="last").reset_index(drop=True)
    elif tgt["transaction_id"].duplicated().any():
        tx = tgt.drop_duplicates("transaction_id", keep="last").reset_index(drop=True)
    tgt_rows = pd.Index(tx["transaction_id"]).get_indexer(tgt["transaction_id"])

    lg = None
    if logins is not None:
        missing = [c for c in LOGIN_REQUIRED if c not in logins.columns and c != "login_id"]
        if missing:
            raise InputError(f"logins: missing required column(s) {missing}")
        lts = _utc_ns(logins["timestamp"])
        keep = (lts >= t_lo) & (lts <= t_hi)
        lsub = logins[keep]
        lg = pd.DataFrame(
            {
                "login_id": (
                    _str(lsub["login_id"]).reset_index(drop=True)
                    if "login_id" in lsub.columns
                    else pd.Series(np.arange(len(lsub)).astype(str), dtype="string[pyarrow]")
                ),
                "wallet_id": _str(lsub["wallet_id"]).reset_index(drop=True),
                "ts": lts[keep],
                "success": _flag(lsub["success"]).astype(np.int64),
            }
        )
        for col in ("ip_address", "country", "device_id"):
            lg[col] = _text(lsub, col, len(lsub), upper=col == "country")
    login_columns = None if logins is None else set(logins.columns)
    features = _compute(tx, tgt_rows, lg, wallets, tx_columns, login_columns)
    out = pd.DataFrame(features, columns=FEATURE_NAMES, index=targets.index, copy=False)
    out.insert(0, "transaction_id", tx["transaction_id"].to_numpy()[tgt_rows].astype(str))
    return out


def _compute(tx, tgt_rows, lg, wallets, tx_columns, login_columns) -> np.ndarray:
    """Feature matrix (targets x FEATURE_NAMES) for the context `tx` and logins `lg`."""
    n_tx = len(tx)
    n_lg = 0 if lg is None else len(lg)
    has_cp = "counterparty_wallet_id" in tx_columns
    has_country = "country" in tx_columns
    has_device = "device_id" in tx_columns
    has_home = wallets is not None and "home_country" in wallets.columns
    has_logins = login_columns is not None
    _log_missing(has_cp, has_country, has_device, has_logins, wallets is not None, has_home)

    empty = pd.Series([], dtype="string[pyarrow]")
    w_own, w_cp, w_lg, w_tab, wallet_vocab = _codes(
        tx["wallet_id"],
        tx["counterparty_wallet_id"],
        lg["wallet_id"] if lg is not None else empty,
        wallets["wallet_id"] if wallets is not None else empty,
    )
    c_tx, c_lg, c_home, country_vocab = _codes(
        tx["country"],
        lg["country"] if lg is not None else empty,
        _text(wallets, "home_country", 0, upper=True) if has_home else empty,
    )
    ip_tx, ip_lg, _ = _codes(tx["ip_address"], lg["ip_address"] if lg is not None else empty)
    dv_tx, dv_lg, _ = _codes(tx["device_id"], lg["device_id"] if lg is not None else empty)

    # Incoming transfers: a transfer's receiving wallet sees it as an inflow event.
    tcode = tx["tcode"].to_numpy()
    incoming = np.flatnonzero((tcode == 1) & (w_cp >= 0) & (w_cp != w_own))
    n_in = len(incoming)
    tid_rank = _rank_strings(tx["transaction_id"])
    lid_rank = _rank_strings(lg["login_id"]) if lg is not None else np.zeros(0, np.int64)

    def cat(own, inc, login):
        return np.concatenate([own, inc, login])

    kind = cat(np.zeros(n_tx, np.int8), np.ones(n_in, np.int8), np.full(n_lg, 2, np.int8))
    # Logins at the same timestamp come first ("logins with timestamp <= t" are known at t).
    sub = cat(n_lg + tid_rank, n_lg + tid_rank[incoming], lid_rank)
    src = cat(np.arange(n_tx), incoming, np.arange(n_lg))
    tx_ts = tx["ts"].to_numpy()
    lts = lg["ts"].to_numpy() if lg is not None else np.zeros(0, np.int64)
    ev = _Events(cat(w_own, w_cp[incoming], w_lg), cat(tx_ts, tx_ts[incoming], lts), sub, kind)
    del sub, kind
    src = ev.take(src)
    k = ev.kind
    own = k == _KIND_OWN
    pos_of_tx = np.empty(n_tx, np.int64)
    pos_of_tx[src[own]] = np.flatnonzero(own)
    # Work on targets in event order (sorted queries keep searchsorted cache friendly); the
    # rows go back to the targets' order at the end.
    P_target = pos_of_tx[tgt_rows]
    perm = np.argsort(P_target, kind="stable")
    P = P_target[perm]
    t = ev.ts[P]
    w = ev.wallet[P]
    n_out = len(P)

    amount_tx = np.minimum(tx["amount"].to_numpy(), _AMOUNT_MAX)
    amount = np.where(k == _KIND_LOGIN, 0.0, amount_tx[np.where(k == _KIND_LOGIN, 0, src)])
    amt_fx = np.round(amount * _AMOUNT_SCALE).astype(np.int64)
    type_e = np.full(ev.n, -1, np.int8)
    type_e[own] = tcode[src[own]]
    is_type = {name: own & (type_e == i) for i, name in enumerate(TX_TYPES)}
    f = _Matrix(perm)

    s1 = ev.start(P, WINDOWS["1h"])
    s24 = ev.start(P, WINDOWS["24h"])
    sL = ev.start(P, LOOKBACK)

    def wsum(values, start, inclusive):
        cs = _csum(values)
        return cs[P + 1 if inclusive else P] - cs[start]

    own_i = own.astype(np.int64)
    own_amt = np.where(own, amt_fx, 0)
    cnt1, cnt24, cntL = wsum(own_i, s1, True), wsum(own_i, s24, True), wsum(own_i, sL, False)
    cs_amt = _csum(own_amt)
    sum1 = (cs_amt[P + 1] - cs_amt[s1]) / _AMOUNT_SCALE
    sum24 = (cs_amt[P + 1] - cs_amt[s24]) / _AMOUNT_SCALE
    sumL = (cs_amt[P] - cs_amt[sL]) / _AMOUNT_SCALE
    del cs_amt
    by_type = {}
    for name in TX_TYPES:
        m = is_type[name]
        cs_c, cs_a = _csum(m.astype(np.int64)), _csum(np.where(m, amt_fx, 0))
        by_type[name] = {
            "c1": cs_c[P + 1] - cs_c[s1], "c24": cs_c[P + 1] - cs_c[s24], "cL": cs_c[P] - cs_c[sL],
            "a1": (cs_a[P + 1] - cs_a[s1]) / _AMOUNT_SCALE,
            "a24": (cs_a[P + 1] - cs_a[s24]) / _AMOUNT_SCALE,
        }

    # ---- amount family
    x = np.log1p(amount[P])
    logs = np.where(own, np.round(np.log1p(amount) * _LOG_SCALE), 0).astype(np.int64)
    logs2 = np.where(own, np.round(np.log1p(amount) ** 2 * _LOG_SCALE), 0).astype(np.int64)
    sum_log = wsum(logs, sL, False) / _LOG_SCALE
    sum_log2 = wsum(logs2, sL, False) / _LOG_SCALE
    n_l = cntL.astype(np.float64)
    f["amount_log"] = x
    f["amount_z"], mean_log = _shrunk_z(x, n_l, sum_log, sum_log2)
    f["amount_vs_typical"] = np.where(n_l > 0, (x - mean_log) * n_l / (n_l + AMOUNT_SHRINK_K), 0.0)
    z_same = np.zeros(n_out)
    for i, name in enumerate(TX_TYPES):
        m = is_type[name]
        n_t = wsum(m.astype(np.int64), sL, False).astype(np.float64)
        st = wsum(np.where(m, logs, 0), sL, False) / _LOG_SCALE
        st2 = wsum(np.where(m, logs2, 0), sL, False) / _LOG_SCALE
        z_t, _ = _shrunk_z(x, n_t, st, st2)
        sel = type_e[P] == i
        z_same[sel] = z_t[sel]
    f["amount_z_same_type"] = z_same
    del logs, logs2
    own_pos = np.flatnonzero(own)
    o_index = np.cumsum(own) - 1  # position within the own-transaction sub-array
    # sL may point at a login or incoming transfer; take the first own event at or after it.
    sL_own = np.searchsorted(own_pos, sL)
    prev_max = _window_max(amount[own_pos], sL_own, o_index[P])
    f["amount_vs_max"] = np.where(cntL > 0, x - np.log1p(np.maximum(prev_max, 0.0)), 0.0)
    for i, name in enumerate(TX_TYPES):
        f[f"type_{name}"] = (type_e[P] == i).astype(np.float64)

    # ---- velocity family
    f["tx_count_1h_log"] = np.log1p(cnt1)
    f["amount_sum_1h_log"] = np.log1p(sum1)
    f["amount_sum_24h_log"] = np.log1p(sum24)
    f["transfer_count_1h_log"] = np.log1p(by_type["transfer"]["c1"])
    f["transfer_sum_1h_log"] = np.log1p(by_type["transfer"]["a1"])
    f["redeem_count_1h_log"] = np.log1p(by_type["redeem"]["c1"])
    f["redeem_sum_1h_log"] = np.log1p(by_type["redeem"]["a1"])
    f["deposit_count_1h_log"] = np.log1p(by_type["deposit"]["c1"])
    f["deposit_sum_1h_log"] = np.log1p(by_type["deposit"]["a1"])
    near = np.zeros(ev.n, bool)
    for limit in REPORTING_THRESHOLDS:
        near |= (amount >= limit * (1 - NEAR_THRESHOLD_FRACTION)) & (amount < limit)
    near &= is_type["deposit"]
    near24 = wsum(near.astype(np.int64), s24, True)
    f["near_threshold_deposits_24h_log"] = np.log1p(near24)
    nearL = wsum(near.astype(np.int64), sL, False)
    del near
    f["redeem_count_24h_log"] = np.log1p(by_type["redeem"]["c24"])
    f["redeem_sum_24h_log"] = np.log1p(by_type["redeem"]["a24"])
    f["deposit_count_24h_log"] = np.log1p(by_type["deposit"]["c24"])
    f["deposit_sum_24h_log"] = np.log1p(by_type["deposit"]["a24"])
    # Time of day from the UTC timestamp alone (fractional hours on the circle, so 23:59 and
    # 00:01 are neighbours); a local hour would need home_country and break on travel.
    day_angle = (t % _NS_PER_DAY) * (2 * np.pi / _NS_PER_DAY)
    f["hour_sin"] = np.sin(day_angle)
    f["hour_cos"] = np.cos(day_angle)
    del day_angle
    prev_own = _last_before(own, ev.wallet, P)
    f["time_since_prev_tx_log"] = _since_log(prev_own, ev, P, t)
    gap_ns = np.where(prev_own >= 0, t - ev.ts[np.maximum(prev_own, 0)], LOOKBACK.value)

    reg_ns, kyc, home = _wallet_arrays(wallets, w_tab, len(wallet_vocab), c_home)
    reg_w = reg_ns[w]
    listed = reg_w != _NAT
    if listed.all():
        age_ns = t - reg_w
    else:
        # A wallet absent from the table gets the table's median registration, not "brand new".
        known_reg = reg_ns[reg_ns != _NAT]
        fill = np.int64(np.median(known_reg)) if len(known_reg) else t
        age_ns = np.where(listed, t - reg_w, t - fill)
    span_ns = np.where(listed, age_ns, LOOKBACK.value)
    span_h = np.clip(span_ns, MIN_RATE_SPAN.value, LOOKBACK.value) / _NS_PER_H
    typical = np.where(cntL > 0, sumL / np.maximum(cntL, 1), amount[P])
    for wname, cnt, total in (("1h", cnt1, sum1), ("24h", cnt24, sum24)):
        hours = WINDOWS[wname].value / _NS_PER_H
        f[f"tx_count_{wname}_vs_rate"] = np.log(cnt) - np.log1p(cntL / span_h * hours)
        f[f"amount_sum_{wname}_vs_rate"] = np.log1p(total) - np.log1p(
            sumL / span_h * hours + typical
        )
    hours24 = WINDOWS["24h"].value / _NS_PER_H
    for name in ("transfer", "redeem", "deposit"):
        bt = by_type[name]
        f[f"{name}_count_24h_vs_rate"] = np.log1p(bt["c24"]) - np.log1p(bt["cL"] / span_h * hours24)
    red = by_type["redeem"]
    f["redeem_count_1h_vs_rate"] = np.log1p(red["c1"]) - np.log1p(red["cL"] / span_h)
    # A wallet that always deposits near a threshold (its usual amounts sit there) is not
    # structuring; one that starts to is.
    f["near_threshold_24h_vs_rate"] = np.log1p(near24) - np.log1p(nearL / span_h * hours24)
    del near24, nearL
    f["redeem_sum_24h_vs_typical"] = np.log1p(red["a24"] / typical)
    # Redemptions crowding out the wallet's other activity (a cash-out spread over a day).
    usual_share = (red["cL"] / span_h * hours24 + 0.1) / (cntL / span_h * hours24 + 0.3)
    share_now = (red["c24"] + REDEEM_SHARE_PRIOR_K * usual_share) / (cnt24 + REDEEM_SHARE_PRIOR_K)
    f["redeem_share_24h_vs_usual"] = np.where(type_e[P] == 2, np.log(share_now / usual_share), 0.0)
    del usual_share, share_now
    # Redeemed this hour against the largest earlier redemption (or earlier amount of any kind).
    red_pos = np.flatnonzero(is_type["redeem"])
    red_max = _window_max(
        amount[red_pos], np.searchsorted(red_pos, sL), np.searchsorted(red_pos, P)
    )
    base = np.where(np.isfinite(red_max), red_max, np.where(cntL > 0, prev_max, np.nan))
    f["redeem_sum_1h_vs_max"] = np.where(
        (type_e[P] == 2) & np.isfinite(base), np.log1p(red["a1"]) - np.log1p(np.maximum(base, 0.0)), 0.0
    )
    del red_pos, red_max, base
    # Idle time, but never longer than the wallet has existed: a dormant wallet waking up with a
    # large amount scores high, a brand-new wallet's first transaction does not.
    idle_ns = np.minimum(gap_ns, np.maximum(age_ns, 0)) if wallets is not None else gap_ns
    f["dormant_amount"] = np.minimum(idle_ns / LOOKBACK.value, 1.0) * x
    age_days = np.maximum(age_ns, 0) / _NS_PER_DAY
    f["amount_vs_age"] = x - np.log1p(age_days) if wallets is not None else np.zeros(n_out)
    f["amount_unverified_log"] = x * (1.0 - kyc[w])

    # ---- flow family
    inflow = (k == _KIND_IN) | is_type["deposit"]
    in_amt = np.where(inflow, amt_fx, 0)
    cs_in = _csum(in_amt)
    in1 = (cs_in[P] - cs_in[s1]) / _AMOUNT_SCALE
    in24 = (cs_in[P] - cs_in[s24]) / _AMOUNT_SCALE
    del cs_in
    f["inflow_1h_log"] = np.log1p(in1)
    f["inflow_24h_log"] = np.log1p(in24)
    f["incoming_transfers_1h_log"] = np.log1p(wsum((k == _KIND_IN).astype(np.int64), s1, False))
    outgoing = type_e[P] != 0
    a = amount[P]
    f["forward_share"] = np.where(outgoing & (in1 > 0), np.minimum(a, in1) / np.where(in1 > 0, in1, 1), 0.0)
    out_amt = np.where(own & (type_e != 0), amt_fx, 0)
    last_in = _last_before(inflow, ev.wallet, P)
    since_in = np.where(last_in >= 0, t - ev.ts[np.maximum(last_in, 0)], LOOKBACK.value)
    since_in = np.where(outgoing, np.minimum(since_in, LOOKBACK.value), LOOKBACK.value)
    f["minutes_since_inflow_log"] = np.log1p(since_in / (60 * _NS_PER_S))
    s30 = ev.start(P, WINDOWS["30m"])
    in30 = wsum(in_amt, s30, False) / _AMOUNT_SCALE
    out30 = wsum(out_amt, s30, True) / _AMOUNT_SCALE
    f["forwarded_30m_log"] = np.where(outgoing, np.log1p(np.minimum(out30, in30)), 0.0)
    # A mule forwards most of what another wallet just sent it: outflow and incoming transfers of
    # the last hour of about the same size (min/max of the two), 0 without incoming transfers.
    inc1 = wsum(np.where(k == _KIND_IN, amt_fx, 0), s1, False) / _AMOUNT_SCALE
    f["incoming_forward_ratio_1h"] = np.where(
        outgoing & (inc1 > 0), np.minimum(a, inc1) / np.maximum(np.maximum(a, inc1), 1e-9), 0.0
    )
    del in_amt, out_amt, in30, out30, s30, inc1

    other_src = cat(w_cp, w_own[incoming], np.full(n_lg, -1, np.int64))
    other = ev.take(other_src)
    cp_rows = np.flatnonzero((other >= 0) & ((k == _KIND_IN) | is_type["transfer"]))
    cp_new_e = np.zeros(ev.n, bool)
    if len(cp_rows):
        new, _, _ = _pair_stats(ev, cp_rows, other[cp_rows])
        cp_new_e[cp_rows] = new
    cp_new_out = cp_new_e & own & is_type["transfer"]
    f["counterparty_new"] = cp_new_out[P].astype(np.float64)
    cs_new = _csum(cp_new_out.astype(np.int64))
    f["new_counterparties_24h_log"] = np.log1p(cs_new[P + 1] - cs_new[s24])
    # Against the wallet's usual transfer rate (a count of earlier *new* counterparties over the
    # LOOKBACK would read flags that themselves look a further PAIR_LOOKBACK back).
    f["new_counterparties_1h_vs_rate"] = np.log1p(cs_new[P + 1] - cs_new[s1]) - np.log1p(
        by_type["transfer"]["cL"] / span_h
    )
    if not has_cp:
        # Without counterparties the count is 0 and only the rate term would remain: a
        # wallet-activity measure that drifts with the history length, not a neutral value.
        f["new_counterparties_1h_vs_rate"] = np.zeros(len(P))
    del cs_new
    f["wallet_age_days_log"] = (
        np.log1p(np.maximum(age_ns, 0) / _NS_PER_DAY) if wallets is not None else np.zeros(n_out)
    )
    f["kyc_verified"] = kyc[w]

    # ---- access family
    # The matrix already holds what the earlier families computed; free their intermediates
    # before the (wallet, value) pair sorts, which set the peak memory.
    del by_type, red, cnt1, cnt24, cntL, sum1, sum24, sumL, n_l, sum_log, sum_log2, mean_log
    del z_same, z_t, n_t, st, st2, sel, prev_max, typical, x, in1, in24, a, gap_ns, idle_ns
    del age_days, own_i, own_amt, amount, amt_fx, o_index, own_pos, sL_own, sL, last_in
    del since_in, age_ns, span_h, reg_w, cp_new_e, cp_new_out, other, other_src
    access = (k == _KIND_OWN) | (k == _KIND_LOGIN)
    is_login = k == _KIND_LOGIN
    success_e = np.zeros(ev.n, bool)
    if lg is not None:
        success_e[is_login] = lg["success"].to_numpy()[src[is_login]] > 0
    acc_rows = np.flatnonzero(access)
    wallet_known_e = np.zeros(ev.n, np.int64)
    if len(acc_rows):
        wallet_known_e[acc_rows] = _pair_stats(ev, acc_rows, np.zeros(len(acc_rows), np.int64))[1]
    new_at = {}
    login_unseen = np.zeros(n_out)
    for name, v_tx, v_lg in (("ip", ip_tx, ip_lg), ("country", c_tx, c_lg), ("device", dv_tx, dv_lg)):
        val = ev.take(cat(v_tx, np.full(n_in, -1, np.int64), v_lg))
        rows = np.flatnonzero(access & (val >= 0))
        new_e = np.zeros(ev.n, bool)
        known_e = np.zeros(ev.n, np.int64)
        seen_e = np.zeros(ev.n, bool)
        first_e = np.zeros(ev.n, bool)
        if len(rows):
            first, known, seen = _pair_stats(ev, rows, val[rows], success_e[rows])
            new_e[rows] = (known < NEW_ACCESS_SPAN.value) & (wallet_known_e[rows] > known)
            known_e[rows], seen_e[rows], first_e[rows] = known, seen, first
        f[f"{name}_new"] = new_at[name] = new_e[P]
        f[f"{name}_known_days_log"] = np.log1p(known_e[P] / _NS_PER_DAY)
        # A transaction from an IP or device the wallet never logged in from (session hijack);
        # decided by the files' columns, never by which rows happen to be loaded.
        login_col = {"ip": "ip_address", "device": "device_id"}.get(name)
        if has_logins and login_col in login_columns:
            login_unseen = np.maximum(login_unseen, ((val[P] >= 0) & ~seen_e[P]).astype(np.float64))
        if name == "ip":
            f["new_ips_24h_log"] = np.log1p(wsum(first_e.astype(np.int64), s24, True))
            ip_new_e = new_e
        if name == "country":
            country_e = val
        if name == "device":
            device_new_e, device_e = new_e, val
    new_place = np.add(new_at["ip"], new_at["country"], dtype=np.float64)
    f["access_new_count"] = new_place + new_at["device"]
    # Device continuity: a traveller or a VPN user brings a known device to a new place; a
    # takeover arrives on a new device, and its cash-out leaves from it. Without device_id
    # every device is unknown, and a new place counts as it is.
    f["new_place_new_device"] = new_place * new_at["device"] if has_device else new_place
    f["amount_out_new_device_log"] = np.where(
        outgoing & new_at["device"], f.get("amount_log"), 0.0
    )
    del new_place, new_at
    f["login_unseen"] = login_unseen
    f["country_changed"], f["travel_speed_log"] = _travel(ev, P, country_e, access, country_vocab)
    home_w = home[w]
    c_now = country_e[P]
    f["country_not_home"] = ((home_w >= 0) & (c_now >= 0) & (home_w != c_now)).astype(np.float64)

    failed_e = is_login & ~success_e
    failed1 = wsum(failed_e.astype(np.int64), s1, False)
    success1 = wsum(success_e.astype(np.int64), s1, False)
    f["failed_logins_1h_log"] = np.log1p(failed1)
    f["failed_logins_24h_log"] = np.log1p(wsum(failed_e.astype(np.int64), s24, False))
    f["success_logins_1h_log"] = np.log1p(success1)
    # Failures as a share of the hour's logins (one pseudo-login keeps a lone typo at 1/2): a
    # busy wallet's occasional typos add up to counts that only a password guesser reaches
    # when they are the share of its logins.
    f["failed_login_share_1h"] = failed1 / (failed1 + success1 + 1.0)
    f["failed_logins_new_ip_1h_log"] = np.log1p(wsum((failed_e & ip_new_e).astype(np.int64), s1, False))
    # A password guesser fails from a device the wallet does not know; its owner's typos come
    # from the owner's own device. A login without a device is judged by its IP. A wallet seen
    # for less than NEW_ACCESS_SPAN (new, or silent for the whole look-back: a dormant account)
    # has no device to know, so its failures all count.
    unfamiliar = np.where(device_e >= 0, device_new_e, ip_new_e) | (
        wallet_known_e < NEW_ACCESS_SPAN.value
    )
    f["failed_logins_new_device_1h_log"] = np.log1p(
        wsum((failed_e & unfamiliar).astype(np.int64), s1, False)
    )
    if lg is not None:
        f["time_since_success_login_log"] = _since_log(_last_before(success_e, ev.wallet, P), ev, P, t)
    else:
        f["time_since_success_login_log"] = np.zeros(n_out)

    return f.done()


class _Matrix:
    """Feature columns written straight into the output matrix, in the targets' order (keeping
    every feature as a separate column as well would add a full copy to peak memory)."""

    def __init__(self, perm: np.ndarray):
        self.perm = perm
        self.mat = np.empty((len(perm), len(FEATURE_NAMES)), dtype=np.float64, order="F")
        self.col = {name: j for j, name in enumerate(FEATURE_NAMES)}
        self.filled: set[str] = set()

    def __setitem__(self, name: str, values) -> None:
        column = self.mat[:, self.col[name]]
        column[self.perm] = values
        column[~np.isfinite(column)] = 0.0
        self.filled.add(name)

    def get(self, name: str) -> np.ndarray:
        """A filled column, in the order it was written."""
        return self.mat[self.perm, self.col[name]]

    def done(self) -> np.ndarray:
        missing = set(FEATURE_NAMES) - self.filled
        if missing:
            raise RuntimeError(f"features not computed: {sorted(missing)}")
        return self.mat


def _shrunk_z(x, n, s, s2):
    """Deviation of x from the mean of n earlier log amounts, shrunk toward 0 for small n."""
    safe_n = np.maximum(n, 1.0)
    mean = s / safe_n
    var = np.maximum(s2 / safe_n - mean**2, 0.0)
    blended = (n * var + AMOUNT_SHRINK_K * AMOUNT_PRIOR_LOG_SD**2) / (n + AMOUNT_SHRINK_K)
    z = (n / (n + AMOUNT_SHRINK_K)) * (x - mean) / np.sqrt(blended)
    return np.where(n > 0, np.clip(z, -AMOUNT_Z_CLIP, AMOUNT_Z_CLIP), 0.0), mean


def _since_log(prev: np.ndarray, ev: _Events, P: np.ndarray, t: np.ndarray) -> np.ndarray:
    """log1p(seconds since the event at `prev`), capped at LOOKBACK (also when there is none)."""
    dt = np.where(prev >= 0, t - ev.ts[np.maximum(prev, 0)], LOOKBACK.value)
    return np.log1p(np.minimum(dt, LOOKBACK.value) / _NS_PER_S)


def _travel(ev: _Events, P, country_e, access, vocab):
    """Country change vs the previous access event, and km/h implied since the wallet was last
    seen in another country (both within LOOKBACK)."""
    n_out = len(P)
    changed = np.zeros(n_out)
    speed = np.zeros(n_out)
    rows = np.flatnonzero(access & (country_e >= 0))
    if len(rows) == 0:
        return changed, speed
    c = country_e[rows]
    wr = ev.wallet[rows]
    boundary = np.ones(len(rows), bool)
    boundary[1:] = (wr[1:] != wr[:-1]) | (c[1:] != c[:-1])
    run_start = np.maximum.accumulate(np.where(boundary, np.arange(len(rows)), 0))
    where_c = np.full(ev.n, -1, np.int64)
    where_c[rows] = np.arange(len(rows))
    i = where_c[P]
    has = i >= 0
    ii = i[has]
    t = ev.ts[P][has]
    prev = ii - 1
    ok_prev = (prev >= 0) & (wr[np.maximum(prev, 0)] == wr[ii])
    ok_prev &= ev.ts[rows[np.maximum(prev, 0)]] >= t - LOOKBACK.value
    ch = ok_prev & (c[np.maximum(prev, 0)] != c[ii])
    changed[has] = ch.astype(np.float64)
    j = run_start[ii] - 1
    ok = (j >= 0) & (wr[np.maximum(j, 0)] == wr[ii])
    tj = ev.ts[rows[np.maximum(j, 0)]]
    ok &= tj >= t - LOOKBACK.value
    lat = np.array([_CENTROIDS.get(str(code), (np.nan, np.nan))[0] for code in vocab] + [np.nan])
    lon = np.array([_CENTROIDS.get(str(code), (np.nan, np.nan))[1] for code in vocab] + [np.nan])
    ca, cb = c[np.maximum(j, 0)], c[ii]
    km = _haversine_km(lat[ca], lon[ca], lat[cb], lon[cb])
    hours = np.maximum(t - tj, MIN_TRAVEL_TIME.value) / _NS_PER_H
    kmh = np.where(ok & np.isfinite(km), np.minimum(km / hours, MAX_TRAVEL_KMH), 0.0)
    speed[has] = np.log1p(kmh)
    return changed, speed


def _wallet_arrays(wallets, w_tab, n_wallets, c_home):
    reg = np.full(n_wallets, _NAT, np.int64)
    kyc = np.full(n_wallets, 0.5)  # unknown KYC sits between verified (1) and not (0)
    home = np.full(n_wallets, -1, np.int64)
    if wallets is not None and len(wallets):
        reg[w_tab] = _utc_ns(wallets["registration_date"])
        kyc[w_tab] = _flag(wallets["kyc_verified"])
        if len(c_home):
            home[w_tab] = c_home
    return reg, kyc, home


def _log_missing(has_cp, has_country, has_device, has_logins, has_wallets, has_home) -> None:
    gaps = []
    if not has_cp:
        gaps.append(
            "no counterparty_wallet_id: incoming transfers, counterparty_new, "
            "new_counterparties_24h_log, new_counterparties_1h_vs_rate set to 0 "
            "(inflow counts deposits only)"
        )
    if not has_country:
        gaps.append(
            "no transaction country: country_new, country_changed, travel_speed_log, "
            "country_not_home, country_known_days_log set to 0"
        )
    if not has_device:
        gaps.append(
            "no device_id: device_new, device_known_days_log, amount_out_new_device_log set to "
            "0; new_place_new_device counts a new IP or country on any device"
        )
    if not has_logins:
        gaps.append("no logins: login features (failed/success logins, login_unseen) set to 0")
    if not has_wallets:
        gaps.append("no wallets table: wallet_age_days_log 0, kyc_verified 0.5 (unknown)")
    elif not has_home:
        gaps.append("no home_country: country_not_home set to 0")
    for gap in gaps:
        _warn_once(f"features not computable, filled neutrally: {gap}")


# ------------------------------------------------------------------------------------- CLI


def _write_csv(features: pd.DataFrame, path: Path, chunk_rows: int = 100_000) -> None:
    """Write features.csv via pyarrow, formatting row chunks on parallel threads (float
    formatting dominates, and pyarrow releases the GIL); written to a temp file, then renamed."""
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa
    import pyarrow.csv as pacsv

    def render(i: int) -> bytes:
        # Round and convert one chunk at a time: a full rounded copy would double peak memory.
        chunk = features.iloc[i * chunk_rows : (i + 1) * chunk_rows].round(6)
        sink = pa.BufferOutputStream()
        options = pacsv.WriteOptions(include_header=i == 0)
        pacsv.write_csv(pa.Table.from_pandas(chunk, preserve_index=False), sink, write_options=options)
        return sink.getvalue().to_pybytes()

    n_chunks = max(1, -(-len(features) // chunk_rows))
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh, ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, n_chunks, 4):  # a few chunks in flight bounds memory
            for part in pool.map(render, range(start, min(start + 4, n_chunks))):
                fh.write(part)
    tmp.replace(path)


class CliParser(argparse.ArgumentParser):
    """argparse with the chain's error contract: one line on stderr, exit 2, no usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = CliParser(
        prog="feature_engineering.py",
        description="Turn wallets, transactions and logins into data/features.csv (training period).",
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data",
                        help="folder with wallets.csv, transactions.csv (or generated_data.csv), "
                        "logins.csv; features.csv is written there (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    t0 = time.perf_counter()
    try:
        tx_path = transactions_file(args.data_dir)
        transactions = load_transactions(tx_path)
        wallets_path = args.data_dir / "wallets.csv"
        wallets = None
        if wallets_path.exists():
            wallets = load_wallets(wallets_path)
        else:
            logger.warning("%s not found: wallet age and KYC filled neutrally", wallets_path)
        logins = load_logins(args.data_dir / "logins.csv")
        t1 = time.perf_counter()
        logger.info(
            "loaded %d transactions (%s), %d wallets, %d logins in %.2fs",
            len(transactions), tx_path.name, 0 if wallets is None else len(wallets),
            0 if logins is None else len(logins), t1 - t0,
        )
        features = build_features(transactions, wallets=wallets, logins=logins)
    except InputError as exc:
        print(f"feature_engineering.py: error: {exc}", file=sys.stderr)
        return 1
    t2 = time.perf_counter()
    out = args.data_dir / "features.csv"
    _write_csv(features, out)
    t3 = time.perf_counter()
    logger.info(
        "computed %d features for %d transactions in %.2fs; wrote %s in %.2fs (total %.2fs)",
        len(FEATURE_NAMES), len(features), t2 - t1, out, t3 - t2, t3 - t0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
