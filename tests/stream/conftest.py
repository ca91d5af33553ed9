"""Fixtures of the streaming tests: the chain's model and the batch path's answer on its holdout."""

from __future__ import annotations

import pytest

from wallet_monitor.features import load_logins, load_transactions, load_wallets
from wallet_monitor.model import load_bundle
from wallet_monitor.scoring import detect


@pytest.fixture(scope="module")
def bundle(chain):
    return load_bundle(chain / "models" / "fraud_model.pkl")


@pytest.fixture(scope="module")
def batch(chain, bundle):
    """detect() over the whole holdout in one call: the answer streaming must give."""
    d = chain / "data"
    out = detect(bundle, load_transactions(d / "new_transactions.csv"),
                 load_transactions(d / "transactions.csv"), load_wallets(d / "wallets.csv"),
                 load_logins(d / "logins.csv"))
    return out.set_index("transaction_id")
