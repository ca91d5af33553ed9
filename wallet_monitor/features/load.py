"""Reading and validating the input files, once, where they enter.

A malformed file stops with an `InputError` naming the file, the column and the first
offending rows (`transactions.csv: column 'amount': not a positive number at line 7 ('-5')`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from wallet_monitor.schema import (
    LOGIN_OPTIONAL,
    LOGIN_REQUIRED,
    TX_OPTIONAL,
    TX_REQUIRED,
    TX_TYPES,
    WALLET_OPTIONAL,
    WALLET_REQUIRED,
    InputError,
)

_MAX_REPORTED_ROWS = 3


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


def _read_csv(path: Path, string_cols: tuple[str, ...]) -> pd.DataFrame:
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
