"""The point-in-time invariant as properties: later events never change a row, events older than the look-back never matter."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.features._support import HAND_WALLETS
from wallet_monitor.features import (
    LOOKBACK,
    build_features,
)
from wallet_monitor.schema import TX_TYPES

_BASE = pd.Timestamp("2026-01-01", tz="UTC")


_event = st.tuples(
    st.integers(0, 45 * 24 * 60),  # minute offset: spans more than LOOKBACK
    st.sampled_from(["A", "B", "C"]),
    st.sampled_from(TX_TYPES),
    st.floats(1, 5000),
    st.sampled_from(["i1", "i2", "i3"]),
    st.sampled_from(["US", "FR", "JP", None]),
    st.sampled_from(["A", "B", "C", None]),
)


_login = st.tuples(
    st.integers(0, 45 * 24 * 60),
    st.sampled_from(["A", "B", "C"]),
    st.sampled_from(["i1", "i2", "i4"]),
    st.booleans(),
    st.sampled_from(["US", "FR", "JP"]),
)


def _frames(events, logins):
    tx = pd.DataFrame(
        {
            "transaction_id": [f"t{i:03d}" for i in range(len(events))],
            "wallet_id": [e[1] for e in events],
            "timestamp": [_BASE + pd.Timedelta(minutes=e[0]) for e in events],
            "amount": [round(e[3], 2) for e in events],
            "type": [e[2] for e in events],
            "ip_address": [e[4] for e in events],
            "country": [e[5] for e in events],
            "counterparty_wallet_id": [e[6] if e[2] == "transfer" else None for e in events],
            "device_id": [e[4] + "d" for e in events],
        }
    )
    lg = pd.DataFrame(
        {
            "login_id": [f"l{i:03d}" for i in range(len(logins))],
            "wallet_id": [x[1] for x in logins],
            "timestamp": pd.to_datetime(
                [_BASE + pd.Timedelta(minutes=x[0]) for x in logins], utc=True
            ),
            "ip_address": [x[2] for x in logins],
            "success": [int(x[3]) for x in logins],
            "country": [x[4] for x in logins],
        },
        columns=["login_id", "wallet_id", "timestamp", "ip_address", "success", "country"],
    )
    return tx, lg


_hyp = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_hyp
@given(st.lists(_event, min_size=2, max_size=25), st.lists(_login, max_size=15), st.data())
def test_appending_later_events_never_changes_earlier_rows(events, logins, data):
    tx, lg = _frames(events, logins)
    cut = data.draw(st.integers(0, 45 * 24 * 60), label="cut minute")
    cut_ts = _BASE + pd.Timedelta(minutes=cut)
    early_tx, early_lg = tx[tx["timestamp"] <= cut_ts], lg[lg["timestamp"] <= cut_ts]
    if early_tx.empty:
        return
    full = build_features(tx, wallets=HAND_WALLETS, logins=lg).set_index("transaction_id")
    early = build_features(early_tx, wallets=HAND_WALLETS, logins=early_lg)
    early = early.set_index("transaction_id")
    pd.testing.assert_frame_equal(early, full.loc[early.index])


@_hyp
@given(st.lists(_event, min_size=2, max_size=25), st.lists(_login, max_size=15), st.data())
def test_dropping_events_older_than_lookback_never_changes_a_row(events, logins, data):
    tx, lg = _frames(events, logins)
    i = data.draw(st.integers(0, len(tx) - 1), label="row")
    t = tx["timestamp"].iloc[i]
    keep_tx = tx[tx["timestamp"] >= t - LOOKBACK]
    keep_lg = lg[lg["timestamp"] >= t - LOOKBACK]
    target = tx.iloc[[i]]
    full = build_features(target, history=tx, wallets=HAND_WALLETS, logins=lg)
    cut = build_features(target, history=keep_tx, wallets=HAND_WALLETS, logins=keep_lg)
    pd.testing.assert_frame_equal(full, cut)

