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
from pathlib import Path

import numpy as np
import pandas as pd

from wallet_monitor.features.arrays import SMALL_ROWS, blocks_frame, small_text, trimmed
from wallet_monitor.schema import TX_TYPES

_TX_PRESENT = ("transaction_id", "wallet_id", "timestamp", "amount", "type")
_LOGIN_PRESENT = ("login_id", "wallet_id", "timestamp", "success")
_BOOL_TEXT = {"1": 1, "0": 0, "true": 1, "false": 0, "1.0": 1, "0.0": 0}


class RawRows:
    """Rows as a source received them: text values (None where empty), where each came from,
    and the records that could not even be split into fields. A CSV source hands over its rows
    as lists (`header`, `rows`: the frame is made only if asked for); a broker source a frame
    of objects."""

    def __init__(self, name: str, frame: pd.DataFrame | None, where: np.ndarray,
                 bad: list | None = None, *, header: list[str] | None = None,
                 rows: list[list] | None = None):
        self.name, self.where, self.bad = name, where, [] if bad is None else bad
        self._frame, self.header, self.rows = frame, header, rows

    @property
    def frame(self) -> pd.DataFrame:
        """The rows as a frame of objects, one column per header field."""
        if self._frame is None:
            values = np.empty((len(self.rows), len(self.header)), dtype=object)
            if self.rows:
                values[:] = self.rows
            # One 2-D block of objects (half the cost of a frame from a list of rows, the same frame).
            self._frame = pd.DataFrame(values, columns=self.header, dtype=object, copy=False)
        return self._frame

    def lists(self) -> dict[str, list] | None:
        """The values column by column, for a few rows not yet made a frame (None otherwise: the
        frame is parsed with pandas)."""
        if (self._frame is not None or not self.rows or len(self.rows) > SMALL_ROWS
                or len(set(self.header)) < len(self.header)):
            return None
        return dict(zip(self.header, map(list, zip(*self.rows, strict=True)), strict=True))

    def column(self, name: str) -> list:
        """One column's values (KeyError if there is no such column), from the lists while
        no frame was made."""
        if self._frame is not None:
            return self._frame[name].tolist()
        if name not in self.header:
            raise KeyError(name)
        i = self.header.index(name)
        return [r[i] for r in self.rows]

    def __len__(self) -> int:
        return (len(self.rows) if self._frame is None else len(self._frame)) + len(self.bad)


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
    return RawRows(name, None, np.asarray(numbers, dtype=np.int64), bad, header=list(header),
                   rows=rows)


def valid_transactions(raw: RawRows, known_ids) -> tuple[pd.DataFrame, list]:
    """Valid rows as load_transactions would give them, and [(source, where, reason)] for the rest."""
    cols = raw.lists()
    if cols is not None:
        return _valid_lists(raw, cols, known_ids, _TX_PRESENT, "transaction_id", _tx_values)
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
    cols = raw.lists()
    if cols is not None:
        return _valid_lists(raw, cols, known_ids, _LOGIN_PRESENT, "login_id", _login_values)
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


def _valid_lists(raw: RawRows, cols: dict[str, list], known_ids, present: tuple[str, ...],
                 id_col: str, typed) -> tuple[pd.DataFrame, list]:
    """`valid_transactions` / `valid_logins` of a few rows on their lists: the same checks in
    the same order, the same reasons, the same frame (made once, from its columns' arrays,
    where pandas' cost per call was most of a small poll's parse). `typed(cols, reasons)`: the
    typed columns besides the timestamp, their rows' reasons marked."""
    n = len(raw.rows)
    reasons = np.full(n, "", dtype=object)
    for col in present:
        if col not in cols:  # a required column is absent: KeyError, as df[col] raises
            raise KeyError(col)
        missing = np.fromiter((v is None for v in cols[col]), bool, n)
        reasons[missing & (reasons == "")] = f"missing {col}"
    typed = {"timestamp": _list_timestamps(cols["timestamp"], reasons), **typed(cols, reasons)}
    ids = cols[id_col]
    seen, repeated = set(), np.zeros(n, bool)
    for i, v in enumerate(ids):  # in the known ids, or earlier in the batch (as `_duplicates`)
        repeated[i] = v is not None and (v in known_ids or v in seen)
        seen.add(v)
    _mark(reasons, repeated, lambda i: f"duplicate {id_col} {ids[i]!r}")
    ok = reasons == ""
    keep = slice(None) if ok.all() else np.flatnonzero(ok)
    header = raw.header
    text = [i for i, c in enumerate(header)
            if c not in typed or _objects(typed[c])]
    block = np.empty((len(text), n), dtype=object)
    for j, i in enumerate(text):
        block[j] = typed.get(header[i], cols[header[i]])
    blocks = [(block[:, keep], text)]
    for c, v in typed.items():
        if not _objects(v):
            blocks.append((v[keep].reshape(1, -1) if isinstance(v, np.ndarray) else v[keep],
                           [header.index(c)]))
    return blocks_frame(blocks, header, pd.RangeIndex(int(ok.sum()))), _reported(raw, reasons, ok)


def _objects(values) -> bool:
    return isinstance(values, np.ndarray) and values.dtype.kind == "O"


def _tx_values(cols: dict[str, list], reasons: np.ndarray) -> dict:
    raw_amount = cols["amount"]
    a = pd.to_numeric(np.array(raw_amount, dtype=object), errors="coerce").astype(np.float64)
    _mark(reasons, ~(np.isfinite(a) & (a > 0)),
          lambda i: f"amount not a positive number: {raw_amount[i]!r}")
    kind = _list_stripped(cols["type"], lower=True)
    _mark(reasons, np.array([k not in TX_TYPES for k in kind], dtype=bool),
          lambda i: f"unknown type {cols['type'][i]!r}")
    kinds = np.empty(len(kind), dtype=object)
    kinds[:] = kind
    return {"amount": a, "type": kinds}


def _login_values(cols: dict[str, list], reasons: np.ndarray) -> dict:
    raw_success = cols["success"]
    success = [_BOOL_TEXT.get(v) for v in _list_stripped(raw_success, lower=True)]
    _mark(reasons, np.array([v is None and r is not None
                             for v, r in zip(success, raw_success, strict=True)], dtype=bool),
          lambda i: f"success not 0/1 or true/false: {raw_success[i]!r}")
    return {"success": np.array([0 if v is None else v for v in success], dtype=np.int8)}


def _list_stripped(values: list, lower: bool = False) -> list:
    """`_stripped` of a list: in Python for ASCII text, else pyarrow's."""
    out = small_text(values, lower=lower, empty="")
    return out if out is not None else _stripped(pd.Series(values, dtype=object), lower=lower)


def _list_timestamps(text: list, reasons: np.ndarray):
    """`_timestamps` of a list of texts, as a datetime array (UTC, ns)."""
    ns = _plain_utc(text)
    if ns is not None:
        return pd.DatetimeIndex(ns, tz="UTC").array
    return _timestamps(pd.DataFrame({"timestamp": pd.Series(text, dtype=object)}),
                       reasons).array


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
    ns = _plain_utc(values.tolist())
    if ns is None:
        return None
    return pd.Series(pd.DatetimeIndex(ns, tz="UTC"), index=values.index, name=values.name)


def _plain_utc(text: list) -> np.ndarray | None:
    """`_utc_seconds`' times (naive, ns) of a list of texts; None where it does not apply."""
    if not all(isinstance(v, str) and _PLAIN_UTC.fullmatch(v) for v in text):
        return None
    try:
        seconds = np.array([v[:-1] for v in text], dtype="datetime64[s]")
    except ValueError:  # a day, hour, ... out of range: pandas says which rows
        return None
    return seconds.astype("datetime64[ns]")


def _duplicates(ids: pd.Series, known_ids: set) -> np.ndarray:
    # A membership loop over the batch is cheaper than hashing the whole retained set per poll.
    values = ids.tolist()
    seen = np.fromiter((v in known_ids for v in values), bool, len(values))
    if len(set(values)) < len(values):  # a repeat within the batch (rare): as pandas marks it
        seen |= ids.duplicated(keep="first").to_numpy()
    return seen & ~pd.isna(ids.to_numpy())


def _reported(raw: RawRows, reasons: np.ndarray, ok: np.ndarray) -> list:
    """The source's own bad records and the rows refused (not `ok`), as (source, where,
    reason), in the order they came."""
    bad = raw.bad + [(raw.name, int(n), r)
                     for n, r in zip(raw.where[~ok], reasons[~ok], strict=True)]
    bad.sort(key=lambda b: b[1])
    return bad


def _split_bad(raw: RawRows, reasons) -> tuple[pd.DataFrame, list]:
    ok = reasons == ""
    bad = _reported(raw, reasons, ok)
    if ok.all() and raw.frame.index.equals(pd.RangeIndex(len(ok))):
        return raw.frame, bad  # every row good (nearly every batch): the frame as it is
    return raw.frame.loc[ok].reset_index(drop=True), bad


def csv_header(path: Path) -> list[str]:
    """A CSV's header (the columns a stream's messages are read with), [] without the file."""
    if path.suffix != ".csv" or not path.exists():
        return []
    return list(pd.read_csv(path, nrows=0).columns)
