"""Loading and validating the input files."""

from __future__ import annotations

import pandas as pd

from tests.features._support import GOOD_TX
from wallet_monitor.features import (
    load_logins,
    load_transactions,
)
from wallet_monitor.schema import transactions_file


def test_load_transactions_converts_offsets_to_utc(tmp_path):
    path = tmp_path / "transactions.csv"
    path.write_text(GOOD_TX)
    df = load_transactions(path)
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert df["timestamp"].iloc[1] == pd.Timestamp("2026-01-01T10:00:00Z")


def test_load_logins_returns_none_without_file(tmp_path):
    assert load_logins(tmp_path / "logins.csv") is None


def test_transactions_file_falls_back_to_prototype_name(tmp_path):
    (tmp_path / "generated_data.csv").write_text(GOOD_TX)
    assert transactions_file(tmp_path).name == "generated_data.csv"

