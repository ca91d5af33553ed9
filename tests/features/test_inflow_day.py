"""inflow_24h_vs_busiest: the money the wallet received in 24 h (its deposits, the row itself
included, and transfers into it) against its largest earlier day of it, point in time, and the
same when streamed (issue 18m)."""

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

DAY = "inflow_24h_vs_busiest"

# (id, wallet, hours after 2026-01-01, type, counterparty) and the amount of each row.
# Wallet A: deposits 100 at hour 0 and receives 50 from B at hour 1 (its day: 150), sends 30
# on at hour 2 (a transfer out: not inflow); deposits 40 at hour 50 (a day below 150), 200 at
# hour 100 (above), redeems 500 at hour 100.5 (not inflow) and deposits 10 at hour 101 (its own
# day 210). Wallet C: deposits 1000 at hour 0 and 10 at hour 718.5, when the day ending at hour
# 0 lies more than LOOKBACK - 24 h back (not read); wallet D the same at hour 695 (read).
ROWS = [
    ("a1", "A", 0, "deposit", None, 100.0), ("b1", "B", 1, "transfer", "A", 50.0),
    ("a2", "A", 2, "transfer", "X", 30.0), ("a3", "A", 50, "deposit", None, 40.0),
    ("a4", "A", 100, "deposit", None, 200.0), ("a5", "A", 100.5, "redeem", None, 500.0),
    ("a6", "A", 101, "deposit", None, 10.0),
    ("c1", "C", 0, "deposit", None, 1000.0), ("c2", "C", 718.5, "deposit", None, 10.0),
    ("d1", "D", 0, "deposit", None, 1000.0), ("d2", "D", 695, "deposit", None, 10.0),
]
HAND = hours_frame([r[:5] for r in ROWS]).assign(amount=[r[5] for r in ROWS])


@pytest.fixture(scope="module")
def hand():
    return build_features(HAND).set_index("transaction_id")


@pytest.mark.parametrize(("tx", "expected"), [
    ("a1", math.log1p(100)),  # no earlier day: against 0, the deposit itself counted
    ("b1", 0.0),  # B sends: a transfer out is not B's inflow
    ("a2", math.log1p(150)),  # A's day: its deposit and B's transfer in, not the 30 sent on
    ("a3", math.log1p(40) - math.log1p(150)),  # below the largest earlier day (150)
    ("a4", math.log1p(200) - math.log1p(150)),  # above it
    ("a5", math.log1p(200) - math.log1p(150)),  # a redemption receives nothing
    ("a6", math.log1p(210) - math.log1p(150)),  # the row's own day, itself included
    ("c2", math.log1p(10)),  # the day ending at hour 0 ended 718.5 h back: not read
    ("d2", math.log1p(10) - math.log1p(1000)),  # 695 h back: read
])
def test_the_days_inflow_against_the_largest_earlier_day(hand, tx, expected):
    assert hand.loc[tx, DAY] == pytest.approx(expected, abs=1e-12)


def test_later_rows_never_change_the_value():
    """A larger day after the row (a4-a6) is no earlier day of it."""
    assert_later_rows_change_nothing(HAND, ["a1", "b1", "a2", "a3"])


def test_a_day_older_than_the_look_back_is_not_read():
    """c1's day would reach past the LOOKBACK: with it as history c2's value is as without it."""
    targets = HAND[HAND["transaction_id"] == "c2"]
    with_old = build_features(targets, history=HAND[HAND["transaction_id"] == "c1"])
    without = build_features(targets)
    pd.testing.assert_series_equal(with_old[DAY], without[DAY])
    assert with_old[DAY].iloc[0] == pytest.approx(math.log1p(10), abs=1e-12)


@pytest.mark.parametrize("cuts", [[2, 5, 8, 11], [1, 3, 4, 6, 7, 9, 11]])
def test_streaming_equals_batch(cuts):
    got = assert_streamed_equals_batch(HAND, cuts)
    # The streamed rows include days above and below the largest earlier one.
    day = got.set_index("transaction_id")[DAY]
    assert (day < 0).any() and (day > 0).any()
