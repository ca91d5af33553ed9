"""redeem_count_24h_vs_busiest: the day's redemptions against the wallet's busiest earlier
day, point in time, and the same when streamed."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from tests.features._support import assert_streamed_equals_batch, hours_frame
from wallet_monitor.features import build_features

# Wallet W: 3 redemptions on day 0, then 2 on day 5 (no busier), then 4 on day 10 (busier),
# a deposit on day 10 after them. Wallet V: 1 redemption on day 0, then 3 on
# day 3 (its busiest earlier day is smaller). Wallet O: 5 redemptions on day 0 and 2 on day
# 29.5, when day 0 ended more than 29 days before (outside the look-back: not an earlier day).
# Wallet N: 2 redemptions 20 h apart (the first is less than 24 h back: the same day).
HAND = hours_frame([
    ("w1", "W", 10), ("w2", "W", 11), ("w3", "W", 12),
    ("w4", "W", 5 * 24 + 10), ("w5", "W", 5 * 24 + 10.5),
    ("w6", "W", 10 * 24 + 8), ("w7", "W", 10 * 24 + 9), ("w8", "W", 10 * 24 + 10),
    ("w9", "W", 10 * 24 + 10.5), ("wd", "W", 10 * 24 + 11, "deposit"),
    ("v1", "V", 10), ("v2", "V", 3 * 24 + 1), ("v3", "V", 3 * 24 + 2), ("v4", "V", 3 * 24 + 3),
    ("o1", "O", 0), ("o2", "O", 0.1), ("o3", "O", 0.2), ("o4", "O", 0.3), ("o5", "O", 0.4),
    ("o6", "O", 29.5 * 24 + 1), ("o7", "O", 29.5 * 24 + 2),
    ("n1", "N", 0), ("n2", "N", 20),
])


@pytest.fixture(scope="module")
def hand():
    return build_features(HAND).set_index("transaction_id")


@pytest.mark.parametrize(("tx", "expected"), [
    ("w1", math.log1p(1)),  # no earlier day: against 0
    ("w3", math.log1p(3)),
    ("w4", math.log1p(1) - math.log1p(3)),  # day 0's 3 is the busiest earlier day
    ("w5", math.log1p(2) - math.log1p(3)),
    ("w8", math.log1p(3) - math.log1p(3)),
    ("w9", math.log1p(4) - math.log1p(3)),  # busier than day 0 (3) and day 5 (2)
    ("wd", math.log1p(4) - math.log1p(3)),  # a deposit reads the day's redemptions too
    ("v4", math.log1p(3) - math.log1p(1)),  # the busiest earlier day was smaller
    ("o7", math.log1p(2)),  # day 0 is more than 29 days back: no earlier day
    ("n2", math.log1p(2)),  # n1 is within the 24 h: the same day, not an earlier one
])
def test_the_day_against_the_busiest_earlier_day(hand, tx, expected):
    assert hand.loc[tx, "redeem_count_24h_vs_busiest"] == pytest.approx(expected, abs=1e-12)


def test_later_rows_never_change_the_value():
    """A busier day after the row (w6-w9) is no earlier day of it."""
    early = build_features(HAND[HAND["transaction_id"].isin(["w1", "w2", "w3", "w4", "w5"])])
    full = build_features(HAND).set_index("transaction_id")
    early = early.set_index("transaction_id")
    pd.testing.assert_frame_equal(early, full.loc[early.index])


def test_a_day_ending_more_than_29_days_back_is_not_read():
    """Its 24 h would reach past the LOOKBACK: day 0 of wallet O counts for nothing at o6, o7
    (other features still see it, within their LOOKBACK)."""
    targets = HAND[HAND["wallet_id"] == "O"].iloc[5:]
    with_old = build_features(targets, history=HAND)
    without = build_features(targets, history=HAND[HAND["transaction_id"].isin(["o6"])])
    name = "redeem_count_24h_vs_busiest"
    pd.testing.assert_series_equal(with_old[name], without[name])


@pytest.mark.parametrize("cuts", [[4, 9, 16, 23], [1, 2, 3, 5, 8, 13, 21, 23]])
def test_streaming_equals_batch(cuts):
    got = assert_streamed_equals_batch(HAND, cuts)
    # The rows streamed include days busier and less busy than an earlier one.
    busiest = got.set_index("transaction_id")["redeem_count_24h_vs_busiest"]
    assert (busiest < 0).any() and (busiest > 0).any()
