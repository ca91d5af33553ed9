"""Sorted-array helpers the feature windows run on: no per-row Python loop anywhere.

Everything works on numpy arrays sorted by (wallet, time): cumulative sums for window sums,
`searchsorted` for window starts, a sparse table for window maxima.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.internals import create_dataframe_from_blocks

NS_PER_S = 1_000_000_000
NS_PER_H = 3600 * NS_PER_S
NS_PER_DAY = 24 * NS_PER_H
NAT = np.iinfo(np.int64).min
# Columns of up to this many values are stripped, cased and coded in Python (`small_str`,
# `small_text`), and a source's rows parsed on lists: a follower's polls, where each pyarrow or
# pandas call (~5-50 us) costs more than the loop (~0.1-1 us a value); the loops measured faster
# up to 150-300 rows (docs/DECISIONS.md); longer ones (a restart's replay) take the vectorised path.
SMALL_ROWS = 200


def utc_ns(values) -> np.ndarray:
    values = values if isinstance(values, pd.Series) else pd.Series(values)
    if values.dtype.kind == "M":  # parsed already (a follower's rows): UTC ns as they are
        return values.array.as_unit("ns").asi8
    ts = pd.to_datetime(values, utc=True, format="ISO8601")
    return pd.DatetimeIndex(ts).as_unit("ns").asi8


def as_str(values: pd.Series) -> pd.Series:
    """`values.astype("string[pyarrow]")`."""
    if values.dtype != object:
        return values.astype("string[pyarrow]")
    return pd.Series(pd.arrays.ArrowStringArray(arrow_str(values)), index=values.index,
                     name=values.name)


def arrow_str(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    """`as_str(values)`'s strings as a pyarrow array. A column of Python strings and None (what
    a follower parses) goes to pyarrow directly: the same strings without pandas' cost per call
    (~50 µs), which a small batch pays for every text column; anything else as pandas casts it.
    A pyarrow array is returned as it is."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    if values.dtype == object:
        v = values.to_numpy()
        if all(x is None or type(x) is str for x in v.tolist()):
            return pa.array(v, type=pa.large_string())
    if values.dtype == "string[pyarrow]":
        return pa.array(values.array)
    return pa.array(values.astype("string[pyarrow]").array)


class ColumnCache:
    """A frame read column by column by several steps, each column made once: pandas 3 builds
    a new Series at every `frame[column]` (~20-40 us on a small frame, an arrow column sliced
    again), and a follower's batch is read ~30 times a poll. Read-only: `[column]`, `in`,
    `len`, `columns`, `index`; `frame` is the frame itself."""

    def __init__(self, frame: pd.DataFrame):
        self.frame, self.columns, self.index = frame, frame.columns, frame.index
        self._read: dict[str, pd.Series] = {}

    def __getitem__(self, column: str) -> pd.Series:
        values = self._read.get(column)
        if values is None:
            values = self._read[column] = self.frame[column]
        return values

    def __contains__(self, column: str) -> bool:
        return column in self.frame

    def __len__(self) -> int:
        return len(self.frame)


def text(df: pd.DataFrame | None, col: str, n: int, upper: bool = False,
         lower: bool = False) -> pd.Series:
    """An optional text column, stripped (and upper- or lower-cased), with "" as missing (all
    missing if absent)."""
    if df is None or col not in df.columns:
        return pd.Series(pd.NA, index=range(n), dtype="string[pyarrow]")
    return pd.Series(pd.arrays.ArrowStringArray(text_arrow(df[col], upper=upper, lower=lower)))


def text_arrow(values: pd.Series, upper: bool = False, lower: bool = False
               ) -> pa.Array | pa.ChunkedArray:
    """`text`'s strings of a present column as a pyarrow array (null where missing or "")."""
    out = trimmed(values, upper=upper, lower=lower)
    return pc.if_else(pc.equal(out, ""), pa.scalar(None, out.type), out)


def trimmed(values: pd.Series, upper: bool = False, lower: bool = False
            ) -> pa.Array | pa.ChunkedArray:
    """`as_str(values).str.strip()` (and `.str.upper()` or `.str.lower()`) as a pyarrow array:
    pyarrow's kernels directly (what pandas calls on this dtype), the same strings without
    pandas' per-call cost, which a follower's small batches feel."""
    out = pc.utf8_trim_whitespace(arrow_str(values))
    if upper:
        return pc.utf8_upper(out)
    return pc.utf8_lower(out) if lower else out


def frame(columns: dict, index: pd.Index) -> pd.DataFrame:
    """A DataFrame of `columns` (arrays, or Series already in `index`'s order) on `index`, built
    from their arrays without aligning indexes. The same frame (values, dtypes) as the
    constructor gives; numeric, time and extension arrays become one block each, as they are
    (~15 us against ~75-270 us for the constructor, which consolidates and copies: a follower
    pays it a few times per batch). A numpy object column (the constructor infers its dtype)
    goes through the constructor."""
    arrays = {k: _array(v) for k, v in columns.items()}
    if not all(_own_block(v, len(index)) for v in arrays.values()):
        return pd.DataFrame(arrays, index=index, copy=False)
    return blocks_frame([(v.reshape(1, -1) if isinstance(v, np.ndarray) else v, [i])
                         for i, v in enumerate(arrays.values())], list(arrays), index)


def _array(values):
    """A column's array: a Series' own, a numeric or time one as numpy's."""
    values = values.array if isinstance(values, pd.Series) else values
    if isinstance(values, pd.arrays.NumpyExtensionArray) and values.dtype.kind in "biufmM":
        return values.to_numpy()
    return values


def _own_block(values, n: int) -> bool:
    """Whether `values` can be a block of its own as it is (numpy objects and pandas' wrapper of
    numpy arrays go through the constructor)."""
    if isinstance(values, np.ndarray):
        return values.ndim == 1 and len(values) == n and values.dtype.kind in "biufmM"
    return (isinstance(values, pd.api.extensions.ExtensionArray) and len(values) == n
            and not isinstance(values, pd.arrays.NumpyExtensionArray))


def blocks_frame(blocks: list, columns: list, index: pd.Index) -> pd.DataFrame:
    """A DataFrame from (values, positions) blocks: a numpy block 2-D (columns x rows), an
    extension array 1-D; together the positions cover `columns` once."""
    return create_dataframe_from_blocks([(v, np.asarray(p, dtype=np.intp)) for v, p in blocks],
                                        index=index, columns=_columns(tuple(columns)))


@functools.lru_cache(maxsize=256)
def _columns(names: tuple) -> pd.Index:
    """The column index of `names`, made once: an Index of strings costs ~70 us to make and its
    hash table is built again at each new one's first lookup (`df[col]`, `col in df.columns`);
    an Index is immutable, so frames share it."""
    return pd.Index(list(names))


def small_str(values) -> list | None:
    """`arrow_str(values).to_pylist()` for a short column (at most SMALL_ROWS) of Python strings
    and None, as a list; None for anything else (the caller takes the pyarrow path)."""
    if len(values) > SMALL_ROWS:
        return None
    if isinstance(values, pd.Series):
        if values.dtype != object:
            return None
        values = values.tolist()
    elif not isinstance(values, list):
        return None
    if all(v is None or type(v) is str for v in values):
        return values
    return None


def small_text(values, upper: bool = False, lower: bool = False, empty: str | None = None
               ) -> list | None:
    """`trimmed` (`empty=""`) or `text_arrow` (`empty=None`: "" is missing) of a short column of
    ASCII strings and None as a list, in Python; None where that does not apply (a longer
    column, other objects, a non-ASCII string: pyarrow's Unicode whitespace and case mapping
    are not Python's; for ASCII they are, tests/features/test_small_paths.py)."""
    out = small_str(values)
    if out is None or not all(v is None or v.isascii() for v in out):
        return None
    if upper:
        return [None if v is None else v.strip().upper() or empty for v in out]
    if lower:
        return [None if v is None else v.strip().lower() or empty for v in out]
    return [None if v is None else v.strip() or empty for v in out]


def flag(values: pd.Series) -> np.ndarray:
    """0/1 from bools, numbers or the strings 0/1/true/false (anything else counts as 0)."""
    if values.dtype.kind in "biuf":  # numpy bools and numbers: only 1 (True) is 1
        return (values.to_numpy() == 1).astype(np.float64)
    codes, uniques = pd.factorize(values.astype("string").str.strip().str.lower())
    lut = np.array([1.0 if u in ("1", "true", "1.0") else 0.0 for u in uniques] + [0.0])
    return lut[codes]


def codes(*parts: pd.Series) -> list:
    """Factorize several columns over one shared vocabulary (-1 for missing)."""
    joined = pd.concat([as_str(p).reset_index(drop=True) for p in parts], ignore_index=True)
    coded, uniques = pd.factorize(joined, use_na_sentinel=True)
    out, start = [], 0
    for p in parts:
        out.append(coded[start : start + len(p)].astype(np.int64))
        start += len(p)
    return out + [np.asarray(uniques, dtype=object)]


def csum(values: np.ndarray) -> np.ndarray:
    out = np.zeros(len(values) + 1, dtype=values.dtype)
    np.cumsum(values, out=out[1:])
    return out


def rank_strings(values) -> np.ndarray:
    """1-based ranks of strings (a Series or an extension array), ascending, ties in order of
    appearance."""
    n = len(values)
    if n == 0:
        return np.zeros(0, np.int64)
    if n <= SMALL_ROWS:  # Python's sort: code point order, which is UTF-8's byte order
        v = values.tolist()
        if all(type(x) is str for x in v):
            rank = np.empty(n, np.int64)
            rank[sorted(range(n), key=v.__getitem__)] = np.arange(1, n + 1)
            return rank
    arr = arrow_str(values if isinstance(values, pd.Series) else pd.Series(values))
    return np.asarray(pc.rank(arr, sort_keys="ascending", tiebreaker="first")).astype(np.int64)


def last_before(mask: np.ndarray, wallet: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index of the last event j < i with mask[j] in the same wallet, for each i in `at`; -1 if none."""
    idx = np.where(mask, np.arange(len(mask)), -1)
    last = np.maximum.accumulate(idx)
    prev = np.where(at > 0, last[np.maximum(at - 1, 0)], -1)
    ok = prev >= 0
    ok[ok] = wallet[prev[ok]] == wallet[at[ok]]
    return np.where(ok, prev, -1)


def window_max(values: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
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


def sorted_unique(values: np.ndarray) -> np.ndarray:
    s = np.sort(values)
    keep = np.ones(len(s), bool)
    keep[1:] = s[1:] != s[:-1]
    return s[keep]


