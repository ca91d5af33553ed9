"""Sorted-array helpers the feature windows run on: no per-row Python loop anywhere.

Everything works on numpy arrays sorted by (wallet, time): cumulative sums for window sums,
`searchsorted` for window starts, a sparse table for window maxima.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NS_PER_S = 1_000_000_000
NS_PER_H = 3600 * NS_PER_S
NS_PER_DAY = 24 * NS_PER_H
NAT = np.iinfo(np.int64).min


def utc_ns(values) -> np.ndarray:
    ts = pd.to_datetime(pd.Series(values), utc=True, format="ISO8601")
    return pd.DatetimeIndex(ts).as_unit("ns").asi8


def as_str(values: pd.Series) -> pd.Series:
    return values.astype("string[pyarrow]")


def text(df: pd.DataFrame | None, col: str, n: int, upper: bool = False,
         lower: bool = False) -> pd.Series:
    """An optional text column, stripped (and upper- or lower-cased), with "" as missing (all
    missing if absent)."""
    if df is None or col not in df.columns:
        return pd.Series(pd.NA, index=range(n), dtype="string[pyarrow]")
    # pyarrow's kernels directly (what pandas' .str.strip/.str.upper/mask call on this dtype):
    # the same strings, without pandas' per-call cost, which a follower's small batches feel.
    out = pa.array(as_str(df[col]).array)
    out = pc.utf8_trim_whitespace(out)
    if upper:
        out = pc.utf8_upper(out)
    elif lower:
        out = pc.utf8_lower(out)
    out = pc.if_else(pc.equal(out, ""), pa.scalar(None, out.type), out)
    return pd.Series(pd.arrays.ArrowStringArray(out))


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


def rank_strings(values: pd.Series) -> np.ndarray:
    if len(values) == 0:
        return np.zeros(0, np.int64)
    arr = pa.array(as_str(values))
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


