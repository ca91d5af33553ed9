"""Rows from a live source, checked as the batch loader checks files.

A source hands over `RawRows`: text values as they arrived (None where empty) with where
each came from (a line number, a message sequence). `valid_transactions` / `valid_logins`
return the rows `load_transactions` / `load_logins` would accept, typed the same way, and a
(source, where, reason) entry for each one they refuse: a bad row is skipped and reported,
never the end of the follower.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from wallet_monitor.features.arrays import trimmed
from wallet_monitor.schema import TX_TYPES

_TX_PRESENT = ("transaction_id", "wallet_id", "timestamp", "amount", "type")
_LOGIN_PRESENT = ("login_id", "wallet_id", "timestamp", "success")
_BOOL_TEXT = {"1": 1, "0": 0, "true": 1, "false": 0, "1.0": 1, "0.0": 0}


@dataclass
class RawRows:
    """Rows as a source received them: text values (None where empty), where each came from,
    and the records that could not even be split into fields."""

    name: str
    frame: pd.DataFrame
    where: np.ndarray
    bad: list = field(default_factory=list)  # (name, where, reason)

    def __len__(self) -> int:
        return len(self.frame) + len(self.bad)


def split_header(raw: bytes) -> list[str]:
    text = raw.decode("utf-8-sig", errors="replace").rstrip("\r\n")
    return [c.strip().strip('"') for c in next(csv.reader([text]))]


def csv_rows(lines: list[tuple[int, str]], header: list[str], name: str) -> RawRows:
    """CSV data lines (line number, text) as RawRows; a line of the wrong width is bad."""
    rows, numbers, bad = [], [], []
    width = len(header)
    for (n, _), values in zip(lines, csv.reader(text for _, text in lines), strict=True):
        if len(values) != width:
            bad.append((name, n, f"expected {width} fields, got {len(values)}"))
            continue
        rows.append([v if v != "" else None for v in values])
        numbers.append(n)
    # One 2-D block of objects (half the cost of a frame from a list of rows, the same frame).
    values = np.empty((len(rows), width), dtype=object)
    if rows:
        values[:] = rows
    df = pd.DataFrame(values, columns=header, dtype=object, copy=False)
    return RawRows(name, df, np.asarray(numbers, dtype=np.int64), bad)


def valid_transactions(raw: RawRows, known_ids) -> tuple[pd.DataFrame, list]:
    """Valid rows as load_transactions would give them, and [(source, where, reason)] for the rest."""
    df, reasons = raw.frame, _missing(raw.frame, _TX_PRESENT)
    if len(df):
        df["timestamp"] = _timestamps(df, reasons)
        amount = pd.to_numeric(df["amount"], errors="coerce").astype(np.float64)
        a = amount.to_numpy()
        _mark(reasons, ~(np.isfinite(a) & (a > 0)),
              lambda i: f"amount not a positive number: {df['amount'].iloc[i]!r}")
        df["amount"] = amount
        kind = _stripped(df["type"], lower=True)
        _mark(reasons, np.array([k not in TX_TYPES for k in kind], dtype=bool),
              lambda i: f"unknown type {df['type'].iloc[i]!r}")
        df["type"] = pd.Series(kind, index=df.index, dtype=object)
        ids = df["transaction_id"]
        _mark(reasons, _duplicates(ids, known_ids),
              lambda i: f"duplicate transaction_id {ids.iloc[i]!r}")
    return _split_bad(raw, reasons)


def valid_logins(raw: RawRows, known_ids) -> tuple[pd.DataFrame, list]:
    df, reasons = raw.frame, _missing(raw.frame, _LOGIN_PRESENT)
    if len(df):
        df["timestamp"] = _timestamps(df, reasons)
        success = [_BOOL_TEXT.get(v) for v in _stripped(df["success"], lower=True)]
        _mark(reasons, np.array([v is None for v in success]) & ~pd.isna(df["success"].to_numpy()),
              lambda i: f"success not 0/1 or true/false: {df['success'].iloc[i]!r}")
        df["success"] = np.array([0 if v is None else v for v in success], dtype=np.int8)
        ids = df["login_id"]
        _mark(reasons, _duplicates(ids, known_ids), lambda i: f"duplicate login_id {ids.iloc[i]!r}")
    return _split_bad(raw, reasons)


def _stripped(values: pd.Series, lower: bool = False) -> list:
    """The values as `values.astype("string").str.strip()` (and `.str.lower()`) gives them, as
    Python strings (None where missing)."""
    return trimmed(values, lower=lower).to_pylist()


def _missing(df: pd.DataFrame, present: tuple[str, ...]) -> np.ndarray:
    """Per row: the first required value it lacks, or ""."""
    reasons = np.full(len(df), "", dtype=object)
    # Series.isna's answer for every required column at once, without a Series per column
    # (a source's frame is one block of objects: its values are a view).
    columns = df.columns.tolist()
    for col in present:
        if col not in columns:  # a required column is absent: KeyError, as df[col] raises
            df[col]
    missing = pd.isna(df.to_numpy(dtype=object)[:, [columns.index(c) for c in present]])
    for k, col in enumerate(present):
        reasons[missing[:, k] & (reasons == "")] = f"missing {col}"
    return reasons


def _mark(reasons, bad_mask, text):
    sel = bad_mask & (reasons == "")
    if sel.any():
        reasons[sel] = [text(i) for i in np.flatnonzero(sel)]


def _timestamps(df, reasons):
    ts = _utc_seconds(df["timestamp"])
    if ts is not None:  # every row parsed: none to mark
        return ts
    ts = pd.to_datetime(df["timestamp"], utc=True, format="ISO8601", errors="coerce")
    _mark(reasons, (ts.isna() & df["timestamp"].notna()).to_numpy(),
          lambda i: f"unparsable timestamp {df['timestamp'].iloc[i]!r}")
    return ts.astype("datetime64[ns, UTC]")


# The form a writer usually gives (whole seconds, UTC as "Z", a year pandas' nanoseconds reach).
_PLAIN_UTC = re.compile(r"(19|20)\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _utc_seconds(values: pd.Series) -> pd.Series | None:
    """`values` parsed as pandas' ISO 8601 parser parses them, where every one has the plain
    form YYYY-MM-DDTHH:MM:SSZ and is a valid time (numpy's parser, without pandas' cost per
    call); None otherwise (the caller parses with pandas)."""
    text = values.tolist()
    if not all(isinstance(v, str) and _PLAIN_UTC.fullmatch(v) for v in text):
        return None
    try:
        seconds = np.array([v[:-1] for v in text], dtype="datetime64[s]")
    except ValueError:  # a day, hour, ... out of range: pandas says which rows
        return None
    return pd.Series(pd.DatetimeIndex(seconds.astype("datetime64[ns]"), tz="UTC"),
                     index=values.index, name=values.name)


def _duplicates(ids: pd.Series, known_ids: set) -> np.ndarray:
    # A membership loop over the batch is cheaper than hashing the whole retained set per poll.
    values = ids.tolist()
    seen = np.fromiter((v in known_ids for v in values), bool, len(values))
    if len(set(values)) < len(values):  # a repeat within the batch (rare): as pandas marks it
        seen |= ids.duplicated(keep="first").to_numpy()
    return seen & ~pd.isna(ids.to_numpy())


def _split_bad(raw: RawRows, reasons) -> tuple[pd.DataFrame, list]:
    ok = reasons == ""
    bad = raw.bad + [(raw.name, int(n), r)
                     for n, r in zip(raw.where[~ok], reasons[~ok], strict=True)]
    bad.sort(key=lambda b: b[1])
    if ok.all() and raw.frame.index.equals(pd.RangeIndex(len(ok))):
        return raw.frame, bad  # every row good (nearly every batch): the frame as it is
    return raw.frame.loc[ok].reset_index(drop=True), bad


def csv_header(path: Path) -> list[str]:
    """A CSV's header (the columns a stream's messages are read with), [] without the file."""
    if path.suffix != ".csv" or not path.exists():
        return []
    return list(pd.read_csv(path, nrows=0).columns)
