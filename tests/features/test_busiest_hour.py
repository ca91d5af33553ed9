"""tx_count_1h_vs_busiest and tx_count_24h_vs_busiest: the hour's and the day's own
transactions (any type) against the wallet's busiest earlier hour and day, point in time, and
the same when streamed."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tests.features._support import (
    assert_later_rows_change_nothing,
    assert_streamed_equals_batch,
    hours_frame,
)
from wallet_monitor.features import build_features

HOUR, DAY = "tx_count_1h_vs_busiest", "tx_count_24h_vs_busiest"


# Wallet A: 3 transactions of three types in hour 0, 1 at hour 50 (less busy), 4 at hour 100
# (busier), with a transfer from B into A among them (not A's own: not counted). Wallet C: 2
# in hour 0, then one at hour 719.5, when that hour ended more than LOOKBACK - 1 h before (not
# an earlier hour); wallet D the same with the last one at hour 718.5 (the hour is read, the
# day is not: it ended more than LOOKBACK - 24 h before). Wallet E: 2 within half an hour (the
# first is in the row's own hour, not an earlier one).
HAND = hours_frame([
    ("a1", "A", 0, "deposit"), ("a2", "A", 0.2, "transfer", "X"), ("a3", "A", 0.4, "redeem"),
    ("a4", "A", 50, "deposit"),
    ("a5", "A", 100, "deposit"), ("a6", "A", 100.1, "redeem"), ("a7", "A", 100.2, "deposit"),
    ("b1", "B", 100.25, "transfer", "A"), ("a8", "A", 100.3, "redeem"),
    ("c1", "C", 0, "deposit"), ("c2", "C", 0.1, "redeem"), ("c3", "C", 719.5, "deposit"),
    ("d1", "D", 0, "deposit"), ("d2", "D", 0.1, "redeem"), ("d3", "D", 718.5, "deposit"),
    ("e1", "E", 0, "deposit"), ("e2", "E", 0.5, "redeem"),
])


@pytest.fixture(scope="module")
def hand():
    return build_features(HAND).set_index("transaction_id")


@pytest.mark.parametrize(("name", "tx", "expected"), [
    (HOUR, "a1", math.log1p(1)),  # no earlier hour: against 0
    (HOUR, "a3", math.log1p(3)),
    (HOUR, "a4", math.log1p(1) - math.log1p(3)),  # hour 0's 3 is the busiest earlier hour
    (DAY, "a4", math.log1p(1) - math.log1p(3)),
    (HOUR, "a7", math.log1p(3) - math.log1p(3)),
    (HOUR, "a8", math.log1p(4) - math.log1p(3)),  # B's transfer into A is not A's own
    (DAY, "a8", math.log1p(4) - math.log1p(3)),
    (HOUR, "b1", math.log1p(1)),
    (HOUR, "c3", math.log1p(1)),  # hour 0 ended 719.4 h back: no earlier hour
    (HOUR, "d3", math.log1p(1) - math.log1p(2)),  # 718.4 h back: read
    (DAY, "d3", math.log1p(1)),  # but as a day it ended more than 696 h back
    (HOUR, "e2", math.log1p(2)),  # e1 is within the hour: the same hour, not an earlier one
])
def test_the_window_against_the_busiest_earlier_one(hand, name, tx, expected):
    assert hand.loc[tx, name] == pytest.approx(expected, abs=1e-12)


def test_later_rows_never_change_the_value():
    """A busier hour after the row (a5-a8) is no earlier hour of it."""
    assert_later_rows_change_nothing(HAND, ["a1", "a2", "a3", "a4"])


def test_an_hour_ending_beyond_the_look_back_is_not_read():
    """Its window would reach past the LOOKBACK: hour 0 of wallet C counts for nothing at c3."""
    targets = HAND[HAND["transaction_id"] == "c3"]
    with_old = build_features(targets, history=HAND[HAND["wallet_id"] == "C"].iloc[:2])
    without = build_features(targets)
    for name in (HOUR, DAY):
        pd.testing.assert_series_equal(with_old[name], without[name])


@pytest.mark.parametrize("cuts", [[3, 7, 12, 17], [1, 2, 4, 6, 9, 11, 14, 17]])
def test_streaming_equals_batch(cuts):
    got = assert_streamed_equals_batch(HAND, cuts)
    # The rows streamed include hours busier and less busy than an earlier one.
    busiest = got.set_index("transaction_id")[HOUR]
    assert (busiest < 0).any() and (busiest > 0).any()
