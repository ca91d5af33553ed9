"""A follower's few rows stripped, cased, located, coded, ranked and framed in Python (the small
paths) give what the pyarrow and pandas paths give, on random text: ASCII and Unicode
whitespace, case mappings that differ between Python and pyarrow, missing values, other
objects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from wallet_monitor.features import Locator
from wallet_monitor.features.arrays import (
    SMALL_ROWS,
    frame,
    rank_strings,
    small_text,
    text_arrow,
    trimmed,
)
from wallet_monitor.features.compute import _type_codes
from wallet_monitor.features.vocab import Vocabulary

# ASCII letters and every ASCII space or control character, and Unicode text where Python's
# strip and case mappings are not pyarrow's (no-break and em spaces, NEL, sharp s, dotted I).
_CHARS = st.sampled_from([*"aZ9.:-", *(chr(i) for i in range(33)), "\x7f",
                          "\u00a0", "\u2003", "\u0085", "\u00df", "\u0130", "\u00e9"])
_TEXT = st.one_of(st.none(), st.text(_CHARS, max_size=5))
_VALUES = st.lists(st.one_of(_TEXT, _TEXT, st.sampled_from([1, 2.5, float("nan")])),
                   max_size=20)


def test_the_ascii_characters_stripped_are_pyarrows():
    values = [chr(i) + "a" + chr(i) for i in range(128)]
    assert small_text(values) == text_arrow(pd.Series(values, dtype=object)).to_pylist()


@settings(max_examples=300, deadline=None)
@given(_VALUES, st.sampled_from(["upper", "lower", ""]), st.booleans())
def test_small_text_is_text_arrow_or_declines(values, case, keep_empty):
    kw = {case: True} if case else {}
    got = small_text(values, empty="" if keep_empty else None, **kw)
    series = pd.Series(values, dtype=object)
    want = (trimmed(series, **kw) if keep_empty else text_arrow(series, **kw)).to_pylist()
    if got is not None:
        assert got == want
    plain = all(v is None or (type(v) is str and v.isascii()) for v in values)
    assert (got is not None) == plain  # it declines exactly what is not ASCII text or None
    assert small_text(pd.Series(values, dtype=object), empty="" if keep_empty else None,
                      **kw) == got


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_TEXT, max_size=12), min_size=1, max_size=4))
def test_code_list_codes_as_code_values(batches):
    fast, slow = Vocabulary(None, False), Vocabulary(None, False)
    for values in batches:
        arrow = pa.array(values, type=pa.large_string())  # pyarrow input: the dictionary path
        assert fast.code_list("ip", values).tolist() == slow.code_values("ip", arrow).tolist()
        assert fast.code_values("ip", pd.Series(values, dtype=object)).tolist() == \
            slow.code_values("ip", arrow).tolist()
    assert fast.names("ip").tolist() == slow.names("ip").tolist()


_IPS = st.sampled_from(["8.8.8.8", "81.2.69.160", "10.0.0.1", "::ffff:81.2.69.160",
                        "2001:4860:4860::8888", "fe80::1", "abc", "999.1.1.1", None])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_IPS, st.sampled_from(["US", "FR", None])), max_size=12))
def test_fill_list_is_fill_arrow_when_nothing_is_warned(rows):
    ip, given_ = [r[0] for r in rows], [r[1] for r in rows]
    geo = Locator(summary_level=5)  # a summary below DEBUG is not logged: the small path applies
    got = geo.fill_list(ip, given_)
    warned = any(a is None or a in ("abc", "999.1.1.1") for a in ip)
    assert (got is None) == warned
    if got is not None:
        want = geo.fill_arrow(pa.array(ip, pa.large_string()), pa.array(given_, pa.large_string()),
                              pa.array([f"L{i}" for i in range(len(ip))]), "login_id", "logins")
        assert got == want.to_pylist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(_CHARS, max_size=4), max_size=SMALL_ROWS + 10))
def test_small_ranks_are_pyarrows(values):
    arrow = pa.array(values, type=pa.large_string())
    want = np.asarray(pc.rank(arrow, sort_keys="ascending", tiebreaker="first")).astype(np.int64)
    series = pd.Series(values, dtype="string[pyarrow]")
    assert rank_strings(series).tolist() == want.tolist()
    assert rank_strings(series.array).tolist() == want.tolist()


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 6), st.sets(st.sampled_from(["i", "f", "b", "s", "t", "m", "o", "p", "n"]),
                                   min_size=1))
def test_frame_is_the_constructors(n, kinds):
    rng = np.random.default_rng(n)
    make = {
        "i": lambda: rng.integers(-5, 5, n),
        "f": lambda: rng.normal(size=n),
        "b": lambda: rng.integers(0, 2, n).astype(np.int8),
        "s": lambda: pd.array([f"x{i}" for i in range(n)], dtype="string[pyarrow]"),
        "t": lambda: pd.Series(pd.to_datetime(rng.integers(0, 10**9, n), unit="s", utc=True)),
        "m": lambda: rng.integers(0, 10**18, n).astype("datetime64[ns]"),
        "o": lambda: np.array(["a"] * n, dtype=object),
        "p": lambda: pd.Series(["a", None] * (n // 2) + ["b"] * (n % 2), dtype=object),
        "n": lambda: pd.Series(rng.integers(0, 3, n)),
    }
    cols = {k: make[k]() for k in sorted(kinds)}
    got = frame(cols, pd.RangeIndex(n))
    want = pd.DataFrame({k: v.array if isinstance(v, pd.Series) else v for k, v in cols.items()},
                        index=pd.RangeIndex(n))
    pd.testing.assert_frame_equal(got, want)
    assert got.columns.dtype == want.columns.dtype


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.sampled_from(
    ["transfer", " Deposit ", "REDEMPTION", "refund\t", "bogus", "", "DEPOS\u0130T"])),
    max_size=20))
def test_type_codes_of_a_few_rows_are_the_factorized_ones(kinds):
    df = pd.DataFrame({"type": pd.Series(kinds, dtype=object)})
    arrow = pd.DataFrame({"type": pd.Series(kinds, dtype="string[pyarrow]")})  # pandas' path
    assert _type_codes(df).tolist() == _type_codes(arrow).tolist()
    assert _type_codes(df).dtype == _type_codes(arrow).dtype
