"""The small-batch paths (pyarrow directly, frames from arrays, parsed times read as they are)
give what the pandas calls they replace give, on random text with missing values, Unicode
whitespace and repeats."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from wallet_monitor.features.arrays import as_str, frame, rank_strings, text, utc_ns
from wallet_monitor.features.vocab import Vocabulary
from wallet_monitor.stream.parse import RawRows, valid_logins

_TEXT = st.one_of(st.none(), st.sampled_from(["", " a", "a", "A ", "\u3000b\t", "é", "1", "0"]),
                  st.text(max_size=4))


@settings(max_examples=150, deadline=None)
@given(st.lists(_TEXT, max_size=12))
def test_strings_as_pandas_gives_them(values):
    s = pd.Series(values, dtype=object, index=pd.RangeIndex(len(values)) + 5, name="c")
    pd.testing.assert_series_equal(as_str(s), s.astype("string[pyarrow]"))
    ref = s.astype("string[pyarrow]").str.strip().str.upper()
    got = text(pd.DataFrame({"c": s}), "c", len(s), upper=True)
    expected = ref.mask(ref == "").reset_index(drop=True).rename(None)
    pd.testing.assert_series_equal(got, expected)
    assert rank_strings(s).tolist() == rank_strings(s.astype("string[pyarrow]")).tolist()
    vocab, other = Vocabulary(None, False), Vocabulary(None, False)
    codes = vocab.code_values("ip", as_str(s))
    coded, uniques = pd.factorize(as_str(s), use_na_sentinel=True)
    assert codes.tolist() == coded.tolist() and vocab.names("ip").tolist() == list(uniques)
    assert other.code_values("ip", as_str(s).iloc[::-1]).tolist() == [
        -1 if pd.isna(v) else list(dict.fromkeys(x for x in values[::-1] if x is not None)).index(v)
        for v in values[::-1]]


def test_mixed_objects_still_cast_by_pandas():
    s = pd.Series([1, None, "x", 2.5, float("nan")], dtype=object)
    pd.testing.assert_series_equal(as_str(s), s.astype("string[pyarrow]"))


def test_frame_and_times_as_pandas_gives_them():
    ts = pd.Series(pd.to_datetime(["2026-01-01T00:00:01Z", "2026-03-01T10:00:00Z"], utc=True))
    assert utc_ns(ts).tolist() == utc_ns(ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ")).tolist()
    cols = {"a": as_str(pd.Series(["x", None], dtype=object)), "b": np.array([1, 2]),
            "c": ts}
    pd.testing.assert_frame_equal(frame(cols, pd.RangeIndex(2)), pd.DataFrame(cols))


def test_parsed_logins_as_before():
    rows = pd.DataFrame({"login_id": ["L1", "L2", "L1", None, "L3"],
                         "wallet_id": ["W1", "W2", "W1", "W1", "W2"],
                         "timestamp": ["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z",
                                       "2026-01-01T00:00:03Z", "2026-01-01T00:00:04Z",
                                       "2026-01-01T00:00:05Z"],
                         "success": ["1", " TRUE", "0", "1", "0"]}, dtype=object)
    good, bad = valid_logins(RawRows("x", rows, np.arange(5)), {"L3"})
    assert good["login_id"].tolist() == ["L1", "L2"]
    assert good["timestamp"].dtype == "datetime64[ns, UTC]"
    assert good["success"].tolist() == [1, 1]
    assert [b[2] for b in bad] == ["duplicate login_id 'L1'", "missing login_id",
                                   "duplicate login_id 'L3'"]
