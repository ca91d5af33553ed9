"""A CSV source's few rows checked on lists (`RawRows` with `header` and `rows`) give the frame
and the bad rows, with the same reasons, that the pandas path gives on the rows' frame: random
rows with missing and malformed values, odd timestamps, repeated and known ids, non-ASCII text,
lines of the wrong width and optional columns left out."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wallet_monitor.features.arrays import SMALL_ROWS
from wallet_monitor.stream.parse import csv_rows, valid_logins, valid_transactions

_TIMES = ["2026-01-01T00:00:01Z", "2026-03-01T10:00:00Z", "2026-01-01T00:00:01.250Z",
          "2026-01-01 00:00:01", "2026-01-01T02:00:01+02:00", "2026-02-30T00:00:00Z",
          "2026-13-01T00:00:00Z", "1850-01-01T00:00:00Z", "20260101", "yesterday", " ", ""]
_VALUES = {
    "transaction_id": ["T1", "T2", "T3", " T4", "T\u00e9", ""],
    "login_id": ["L1", "L2", "L3", "L4 ", ""],
    "wallet_id": ["A", "B", " C", "\u00c9", ""],
    "timestamp": _TIMES,
    "amount": ["12.5", "1e3", " 7 ", "0", "-3", "abc", "inf", "nan", "0.1", "1_000", ""],
    # "DEPOS\u0130T": pyarrow lower-cases it to "deposit", Python does not.
    "type": ["transfer", " Deposit ", "REDEMPTION", "refund", "bogus", "tr\u00e4nsfer",
             "TRANSFER\u00a0", "DEPOS\u0130T", ""],
    "success": ["1", "0", " TRUE", "false", "1.0", "yes", "\u00a01", ""],
    "ip_address": ["8.8.8.8", "abc", ""],
    "counterparty_wallet_id": ["A", "m1 ", ""],
    "country": ["US", " fr", ""],
    "device_id": ["d1", ""],
}
_TX = ("transaction_id", "wallet_id", "timestamp", "amount", "type")
_LOGIN = ("login_id", "wallet_id", "timestamp", "success")


@st.composite
def _batch(draw, required, optional):
    """A header (the required columns, maybe one left out, and some optional ones, in any order),
    CSV lines (some of the wrong width) and the ids already known."""
    columns = list(required) + draw(st.lists(st.sampled_from(optional), unique=True))
    if draw(st.integers(0, 9)) == 0:
        columns.remove(draw(st.sampled_from(required)))
    header = draw(st.permutations(columns))
    lines = []
    for n in range(1, draw(st.integers(1, 20)) + 1):
        values = [draw(st.sampled_from(_VALUES[c])) for c in header]
        if draw(st.integers(0, 11)) == 0:
            values.append("extra")
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(values)
        lines.append((n + 1, out.getvalue()))
    known = draw(st.sets(st.sampled_from(["T1", "L1", "T\u00e9"])))
    return list(header), lines, known


def _both(valid, header, lines, known):
    """`valid` on the lists path and on the pandas path (the rows' frame made first)."""
    out = []
    for frame_first in (False, True):
        raw = csv_rows(lines, header, "new.csv")
        if frame_first:
            raw.frame  # noqa: B018 - a frame made: the rows are parsed with pandas
        else:  # every line of the wrong width: no rows to check, the (empty) frame's path
            assert (raw.lists() is not None) == bool(raw.rows)
        try:
            out.append(valid(raw, set(known)))
        except KeyError as err:
            out.append(err)
    return out


def _assert_same(fast, slow):
    if isinstance(slow, KeyError):
        assert isinstance(fast, KeyError) and fast.args == slow.args
        return
    (got, got_bad), (want, want_bad) = fast, slow
    pd.testing.assert_frame_equal(got, want)
    assert got.columns.dtype == want.columns.dtype
    assert got_bad == want_bad


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_batch(_TX, ["ip_address", "counterparty_wallet_id", "country", "device_id"]))
def test_transactions_checked_on_lists_as_on_the_frame(batch):
    _assert_same(*_both(valid_transactions, *batch))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_batch(_LOGIN, ["ip_address", "country", "device_id"]))
def test_logins_checked_on_lists_as_on_the_frame(batch):
    _assert_same(*_both(valid_logins, *batch))


@pytest.mark.parametrize("n", [0, SMALL_ROWS + 1])
def test_no_rows_or_many_are_parsed_on_the_frame(n):
    lines = [(i + 2, f"T{i},A,2026-01-01T00:00:01Z,1.5,transfer") for i in range(n)]
    raw = csv_rows(lines, list(_TX), "new.csv")
    assert raw.lists() is None
    good, bad = valid_transactions(raw, set())
    assert len(good) == n and bad == []
    assert good["timestamp"].dtype == ("datetime64[ns, UTC]" if n else object)


def test_a_lists_batch_frame_is_the_rows_as_objects():
    lines = [(2, "T1,A,2026-01-01T00:00:01Z,,transfer"), (3, "T2,B,x,2,")]
    raw = csv_rows(lines, list(_TX), "new.csv")
    want = pd.DataFrame(np.array([["T1", "A", "2026-01-01T00:00:01Z", None, "transfer"],
                                  ["T2", "B", "x", "2", None]], dtype=object),
                        columns=list(_TX), dtype=object)
    pd.testing.assert_frame_equal(raw.frame, want)
    assert len(raw) == 2 and raw.where.tolist() == [2, 3]
