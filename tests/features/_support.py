"""Helpers shared by the feature tests: hand-made frames, streaming against batch."""

from __future__ import annotations

import numpy as np
import pandas as pd

from wallet_monitor.features import build_features
from wallet_monitor.stream.state import StreamState

HAND_WALLETS = pd.DataFrame(
    {
        "wallet_id": ["A", "B"],
        "kyc_verified": [1, 0],
        "registration_date": pd.to_datetime(["2025-12-01", "2026-01-01"], utc=True),
        "home_country": ["US", "DE"],
    }
)


GOOD_TX = (
    "transaction_id,wallet_id,timestamp,amount,type,ip_address\n"
    "t1,A,2026-01-01T10:00:00Z,10.5,deposit,1.1.1.1\n"
    "t2,A,2026-01-01T11:00:00+01:00,3,transfer,1.1.1.1\n"
)



def assert_streamed_equals_batch(frame: pd.DataFrame, cuts: list[int]) -> pd.DataFrame:
    """Stream `frame` (in time order) in the chunks between `cuts`, the rows before the first
    cut as history, evicting after each chunk; assert the features equal the batch path's and
    return the streamed ones."""
    tx = frame.sort_values(["timestamp", "transaction_id"], ignore_index=True)
    want = build_features(tx.iloc[cuts[0]:], history=tx.iloc[:cuts[0]])
    state = StreamState({}, None, with_logins=False)
    state.add_history(tx.iloc[:cuts[0]])
    parts = []
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        parts.append(state.features(tx.iloc[lo:hi]))
        state.evict(force=True)
    got = pd.concat(parts)
    assert got["transaction_id"].tolist() == want["transaction_id"].tolist()
    np.testing.assert_array_equal(got.drop(columns="transaction_id").to_numpy(),
                                  want.drop(columns="transaction_id").to_numpy())
    return got


def assert_later_rows_change_nothing(frame: pd.DataFrame, early_ids: list[str]) -> None:
    """The features of the rows `early_ids` alone equal theirs computed with every row of
    `frame` (the later ones change nothing)."""
    early = build_features(frame[frame["transaction_id"].isin(early_ids)])
    full = build_features(frame).set_index("transaction_id")
    early = early.set_index("transaction_id")
    pd.testing.assert_frame_equal(early, full.loc[early.index])


_T0 = pd.Timestamp("2026-01-01", tz="UTC")


def hours_frame(rows, default_type: str = "redeem") -> pd.DataFrame:
    """(id, wallet, hours after 2026-01-01[, type[, counterparty]]) -> a transactions frame of
    50 USD rows from one IP."""
    return pd.DataFrame({
        "transaction_id": [r[0] for r in rows],
        "wallet_id": [r[1] for r in rows],
        "timestamp": [_T0 + pd.Timedelta(hours=r[2]) for r in rows],
        "amount": [50.0] * len(rows),
        "type": [r[3] if len(r) > 3 else default_type for r in rows],
        "ip_address": ["1.1.1.1"] * len(rows),
        "counterparty_wallet_id": [r[4] if len(r) > 4 else None for r in rows],
    })
