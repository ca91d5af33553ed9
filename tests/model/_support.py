"""Hand-made feature frames shared by the model tests."""

import numpy as np
import pandas as pd

from wallet_monitor.model import (
    train,
)

FAMILIES = {
    "velocity": ["tx_count_1h", "tx_count_24h"],
    "flow": ["forwarded_share"],
    "access": ["failed_logins_1h", "new_country"],
    "amount": ["amount_log", "amount_vs_wallet"],
}


LABELS = {"tx_count_1h": "transactions in the last hour"}


MODELS = [("iforest", False), ("iforest", True), ("ocsvm", False), ("ocsvm", True)]


def _normal(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "tx_count_1h": rng.poisson(1, n).astype(float),
            "tx_count_24h": rng.poisson(6, n).astype(float),
            "forwarded_share": rng.beta(1, 8, n),
            "failed_logins_1h": (rng.random(n) < 0.03).astype(float),
            "new_country": (rng.random(n) < 0.02).astype(float),
            "amount_log": rng.normal(4, 1, n),
            "amount_vs_wallet": rng.lognormal(0, 0.3, n),
        }
    )


def _with_outliers(n: int = 2000) -> pd.DataFrame:
    df = _normal(n)
    # Row 0: a velocity burst; row 1: a takeover-like access pattern with a large amount.
    df.loc[0, ["tx_count_1h", "tx_count_24h"]] = [40, 45]
    df.loc[1, ["failed_logins_1h", "new_country", "amount_log", "amount_vs_wallet"]] = [9, 1, 9, 30]
    return df


def _train(df, model="iforest", single=False, **kw):
    return train(df, model, single=single, families=FAMILIES, labels=LABELS, **kw)




