"""Helpers shared by the feature tests: hand-made frames."""

from __future__ import annotations

import pandas as pd

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

