"""Fixtures of the generator's tests, on top of tests/conftest.py's ``small_data_dir``."""

from __future__ import annotations

import pandas as pd
import pytest


@pytest.fixture(scope="module")
def data(small_data_dir):
    """The written CSVs, parsed: timestamps to UTC, amounts to float."""
    wallets = pd.read_csv(small_data_dir / "wallets.csv")
    wallets["registration_date"] = pd.to_datetime(wallets["registration_date"], utc=True)
    parts = []
    for name in ("transactions.csv", "new_transactions.csv"):
        part = pd.read_csv(small_data_dir / name, dtype={"counterparty_wallet_id": str})
        part["file"] = name
        parts.append(part)
    tx = pd.concat(parts, ignore_index=True)
    tx["timestamp"] = pd.to_datetime(tx["timestamp"], utc=True)
    logins = pd.read_csv(small_data_dir / "logins.csv")
    logins["timestamp"] = pd.to_datetime(logins["timestamp"], utc=True)
    labels = pd.read_csv(small_data_dir / "labels.csv")
    tx["fraud"] = tx["transaction_id"].isin(labels["transaction_id"])
    return {"wallets": wallets.set_index("wallet_id"), "tx": tx, "logins": logins,
            "labels": labels, "by_id": tx.set_index("transaction_id")}
