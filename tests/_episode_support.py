"""Hand-made scored rows shared by the episode tests."""


import numpy as np
import pandas as pd

from wallet_monitor.episodes import (
    EPISODE_FOLLOW_WEIGHT,
    EPISODE_SERIES_BAND,
    EPISODE_SERIES_WEIGHT,
)

SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]


def _detections(scores=SCORES, flagged=2):
    n = len(scores)
    return pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "wallet_id": ["w1", "w1", "w2", "w2", "w2", "w3", "w3", "w3", "w3", "w3"][:n],
            "timestamp": pd.date_range("2026-01-05", periods=n, freq="h", tz="UTC"),
            "fraud_score": scores,
            "is_anomaly": [i < flagged for i in range(n)],
            "reasons": [f"r{i}" for i in range(n)],
        }
    )


_T = pd.Timestamp("2026-03-01 12:00", tz="UTC")


_M = pd.Timedelta(minutes=1)


def _rows(spec):
    """spec: (id, wallet, minutes after _T, type, counterparty or None, own score)."""
    return pd.DataFrame({
        "transaction_id": [r[0] for r in spec],
        "wallet_id": [r[1] for r in spec],
        "timestamp": [_T + r[2] * _M for r in spec],
        "type": [r[3] for r in spec],
        "counterparty_wallet_id": [r[4] for r in spec],
        "fraud_score": [r[5] for r in spec],
        "reasons": [f"why {r[0]}: x=1 (typical 0); more" if r[5] >= 0.975 else "" for r in spec],
    })


def _follow(trigger, own):
    e = lambda p: -np.log(1 - p)  # noqa: E731
    w = EPISODE_FOLLOW_WEIGHT
    return 1 - np.exp(-(w * e(trigger) + (1 - w) * e(own)))


def _series(trigger, own):
    e = lambda p: -np.log(1 - p)  # noqa: E731
    w = EPISODE_SERIES_WEIGHT
    return 1 - np.exp(-(w * e(trigger) + (1 - w) * e(own)))


_H = 60  # minutes


_BAND = EPISODE_SERIES_BAND


def _series_rows():
    spec = [
        ("S0", "W", -40 * _H, "deposit", None, 0.9, 9400.0),  # in S1's day, not T's: stays
        ("S1", "W", -20 * _H, "deposit", None, 0.9, 9500.0),  # a similar deposit that day: raised
        ("S2", "W", -3 * _H, "deposit", None, 0.6, 9000.0),   # raised
        ("S3", "W", -25 * _H, "deposit", None, 0.9, 9300.0),  # a day and an hour before: stays
        ("S4", "W", -2 * _H, "deposit", None, 0.9, 500.0),    # not a similar amount: stays
        ("S5", "W", -5 * _H, "deposit", None, 0.4, 9200.0),   # ordinary on its own: stays
        ("S6", "W", -4 * _H, "deposit", None, 0.9, 9300.0 * _BAND),  # the band's edge: raised
        ("S7", "W", -6 * _H, "deposit", None, 0.9, 9300.0 * _BAND + 1),  # just past it: stays
        ("R", "W", -3 * _H, "redeem", None, 0.9, 9300.0),     # not a deposit: stays
        ("V", "V", -3 * _H, "deposit", None, 0.9, 9300.0),    # another wallet: stays
        ("T", "W", 0, "deposit", None, 0.995, 9300.0),        # flagged
        ("S8", "W", 0, "deposit", None, 0.9, 9300.0),         # at the same time: not before it
    ]
    return _rows([r[:6] for r in spec]).assign(amount=[r[6] for r in spec])


def _random_rows(seed, n=300, wallets=6, minutes=400):
    rng = np.random.default_rng(seed)
    rows = _rows([(f"T{i:03d}", f"W{rng.integers(wallets)}", int(rng.integers(0, minutes)),
                   rng.choice(["deposit", "transfer", "redeem"]), f"W{rng.integers(wallets)}",
                   float(rng.choice([0.2, 0.6, 0.9, 0.98, 0.995]))) for i in range(n)])
    rows.loc[rows["type"] != "transfer", "counterparty_wallet_id"] = None
    rows["amount"] = rng.choice([80.0, 100.0, 100.0, 300.0], n)  # some pass most of an inflow on
    return rows

