"""Reading and validating the input files, once, where they enter.

A malformed file stops with an `InputError` naming the file, the column and the first
offending rows (`transactions.csv: column 'amount': not a positive number at line 7 ('-5')`).
A Parquet input (`NAME.parquet`, a file or a folder of part files) is validated the same way;
its rows are named `row N` (1-based, across the part files in name order).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

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
    """Read and validate a transactions file (CSV or Parquet); `timestamp` is datetime64[ns, UTC]."""
    path = Path(path)
    df = read_table(path, ("transaction_id", "wallet_id", "timestamp", "type", "ip_address") + TX_OPTIONAL)
    return check_transactions(df, Where.of(path))


def check_transactions(df: pd.DataFrame, where: Where, unique: bool = True) -> pd.DataFrame:
    """Validate a read transactions frame in place (the rows `where` names); `unique=False`
    leaves the duplicate check to a caller that sees every part (the Dask engine)."""
    _check_columns(df, where, TX_REQUIRED)
    _check_present(df, where, ("transaction_id", "wallet_id", "timestamp", "amount", "type"))
    df["timestamp"] = _parse_times(df, "timestamp", where)
    amount = pd.to_numeric(df["amount"], errors="coerce").astype(np.float64)
    bad = ~(np.isfinite(amount.to_numpy()) & (amount.to_numpy() > 0))
    if bad.any():
        _fail(where, "amount", "not a positive number", df["amount"], bad)
    df["amount"] = amount
    kind = df["type"].astype("string").str.strip().str.lower()
    bad = (~kind.isin(TX_TYPES)).to_numpy()
    if bad.any():
        _fail(where, "type", f"unknown type (expected {'|'.join(TX_TYPES)})", df["type"], bad)
    df["type"] = kind.astype(str)
    if unique:
        _check_unique(df, "transaction_id", where)
    return df


def load_logins(path) -> pd.DataFrame | None:
    """Read and validate logins (CSV or Parquet); None when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    df = read_table(path, ("login_id", "wallet_id", "timestamp", "ip_address", "success") + LOGIN_OPTIONAL)
    return check_logins(df, Where.of(path))


def check_logins(df: pd.DataFrame, where: Where, unique: bool = True) -> pd.DataFrame:
    """Validate a read logins frame in place, as `check_transactions`."""
    _check_columns(df, where, LOGIN_REQUIRED)
    _check_present(df, where, ("login_id", "wallet_id", "timestamp", "success"))
    df["timestamp"] = _parse_times(df, "timestamp", where)
    df["success"] = _parse_bool(df, "success", where)
    if unique:
        _check_unique(df, "login_id", where)
    return df


def load_wallets(path) -> pd.DataFrame:
    """Read and validate the wallets table (CSV or Parquet); `kyc_verified` becomes 0/1, dates UTC."""
    path = Path(path)
    where = Where.of(path)
    df = read_table(path, WALLET_REQUIRED + WALLET_OPTIONAL)
    _check_columns(df, where, WALLET_REQUIRED)
    _check_present(df, where, WALLET_REQUIRED)
    df["kyc_verified"] = _parse_bool(df, "kyc_verified", where)
    df["registration_date"] = _parse_times(df, "registration_date", where)
    _check_unique(df, "wallet_id", where)
    return df


@dataclass(frozen=True)
class Where:
    """Which rows a frame being checked holds: the file's name, and how its row r is named in a
    message (CSV: `line first + r`, counting the header; Parquet: `row first + r`)."""

    name: str
    word: str = "line"
    first: int = 2

    @classmethod
    def of(cls, path: Path, offset: int = 0) -> Where:
        """The rows of `path` from its data row `offset` (0-based) on."""
        if is_parquet(path):
            return cls(path.name, "row", 1 + offset)
        return cls(path.name, "line", 2 + offset)


def is_parquet(path) -> bool:
    """Whether `path` names a Parquet input (`NAME.parquet`, a file or a folder of parts)."""
    return Path(path).suffix == ".parquet"


def parquet_parts(path) -> list[Path]:
    """The part files of a Parquet input, in name order (the file itself if it is one)."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*.parquet") if p.is_file())
    return [path]


def read_table(path, string_cols: tuple[str, ...]) -> pd.DataFrame:
    """A CSV or Parquet input as read, before validation (`string_cols` kept as text)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if is_parquet(path):
        return read_parquet_part(path, parquet_parts(path), string_cols)
    return _read_csv(path, string_cols)


def read_parquet_part(path: Path, files: list[Path], string_cols: tuple[str, ...],
                      groups: list[int] | None = None) -> pd.DataFrame:
    """Part files `files` of Parquet input `path` as one frame (with `groups`, only those row
    groups of its one file); `string_cols` as text (an id written as integers reads as the CSV
    would read it)."""
    if not files:
        raise InputError(f"{path.name}: no part files (*.parquet) in the folder")
    try:
        tables = [pq.read_table(f) if groups is None else pq.ParquetFile(f).read_row_groups(groups)
                  for f in files]
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, OSError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{path.name}: cannot be read as Parquet ({reason})") from exc
    return parquet_frame(table, string_cols)


def parquet_frame(table: pa.Table, string_cols: tuple[str, ...]) -> pd.DataFrame:
    """A Parquet table as the loaders read it: `string_cols` as text (an id written as
    integers reads as the CSV would read it), timestamps as they are."""
    table = table.rename_columns([str(c).strip() for c in table.column_names])
    for col in string_cols:
        i = table.schema.get_field_index(col)
        kind = table.schema.field(i).type if i >= 0 else None
        if kind is not None and not (pa.types.is_timestamp(kind) or pa.types.is_string(kind)
                                     or pa.types.is_large_string(kind)):
            table = table.set_column(i, col, pc.cast(table.column(i), pa.string()))
    return table.to_pandas()


def _read_csv(path: Path, string_cols: tuple[str, ...], block: tuple[int, int] | None = None
              ) -> pd.DataFrame:
    """The CSV, or with `block` (start, end) only the lines in that byte range, read under the
    file's header (a block starts at a line's start)."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        with open(path, "rb") as fh:
            head = fh.readline()
            present = [c.strip().strip('"') for c in head.decode("utf-8-sig").strip().split(",")]
            if block is None:
                source = path
            else:
                fh.seek(block[0])
                source = pa.BufferReader(head + fh.read(block[1] - block[0]))
        table = pacsv.read_csv(
            source,
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


def read_csv_block(path, start: int, end: int, string_cols: tuple[str, ...]) -> pd.DataFrame:
    """The data lines of CSV `path` in bytes [start, end) (from a line's start to one's end),
    read as `read_table` reads the whole file: the Dask engine's partitions."""
    return _read_csv(Path(path), string_cols, (start, end))


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


class RowsError(InputError):
    """A check that failed on rows: the message names file, column and the first rows; the
    parts are kept so the Dask engine can merge one file's errors from its partitions."""

    def __init__(self, name: str, col: str, problem: str, shown: list[tuple[str, object]],
                 count: int):
        self.name, self.col, self.problem, self.shown, self.count = name, col, problem, shown, count
        rows = ", ".join(f"{label} ({value!r})" for label, value in shown[:_MAX_REPORTED_ROWS])
        more = f" and {count - len(shown[:_MAX_REPORTED_ROWS])} more" if count > _MAX_REPORTED_ROWS else ""
        super().__init__(f"{name}: column '{col}': {problem} at {rows}{more}")

    def __reduce__(self):  # raised on a Dask worker, unpickled on the client
        return (RowsError, (self.name, self.col, self.problem, self.shown, self.count))


def _fail(where: Where, col: str, problem: str, values: pd.Series, bad: np.ndarray) -> None:
    rows = np.flatnonzero(bad)[:_MAX_REPORTED_ROWS]
    shown = [(f"{where.word} {r + where.first}", _plain(values.iloc[r])) for r in rows]
    raise RowsError(where.name, col, problem, shown, int(bad.sum()))


def _check_columns(df: pd.DataFrame, where: Where, required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(
            f"{where.name}: missing required column(s) {', '.join(repr(c) for c in missing)} "
            f"(found: {', '.join(map(str, df.columns))})"
        )


def _check_present(df: pd.DataFrame, where: Where, cols: tuple[str, ...]) -> None:
    for col in cols:
        bad = df[col].isna().to_numpy()
        if bad.any():
            _fail(where, col, "empty value", df[col], bad)


def _parse_times(df: pd.DataFrame, col: str, where: Where) -> pd.Series:
    raw = df[col]
    if pd.api.types.is_datetime64_any_dtype(raw):  # a Parquet timestamp column; naive is UTC
        parsed = raw if getattr(raw.dt, "tz", None) is not None else raw.dt.tz_localize("UTC")
        return parsed.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    try:
        arr = pc.cast(pa.array(raw, type=pa.string()), pa.timestamp("ns", tz="UTC"))
        parsed = pd.Series(arr.to_pandas(), index=df.index)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Slow path: offsets-free timestamps (UTC by contract), dates, or genuinely bad values.
        parsed = pd.to_datetime(raw, utc=True, format="ISO8601", errors="coerce")
        bad = (parsed.isna() & raw.notna()).to_numpy()
        if bad.any():
            _fail(where, col, "unparsable timestamp", raw, bad)
    return parsed.astype("datetime64[ns, UTC]")


def _parse_bool(df: pd.DataFrame, col: str, where: Where) -> pd.Series:
    text = df[col].astype("string").str.strip().str.lower()
    mapped = text.map({"1": 1, "0": 0, "true": 1, "false": 0, "1.0": 1, "0.0": 0})
    bad = mapped.isna().to_numpy()
    if bad.any():
        _fail(where, col, "expected 0/1 or true/false", df[col], bad)
    return mapped.astype(np.int8)


def _check_unique(df: pd.DataFrame, col: str, where: Where) -> None:
    dup = df[col].duplicated(keep="first").to_numpy()
    if dup.any():
        _fail(where, col, "duplicate id", df[col], dup)
