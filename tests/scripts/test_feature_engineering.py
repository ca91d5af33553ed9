"""feature_engineering.py: the CLI end to end, its outputs and its one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import feature_engineering
from tests.features._support import GOOD_TX
from wallet_monitor.features import (
    FEATURE_NAMES,
)

ROOT = Path(__file__).resolve().parents[2]


GOOD_WALLETS = "wallet_id,kyc_verified,registration_date\nA,true,2025-06-01\n"


def _run(tmp_path, tx_text=GOOD_TX, wallets_text=GOOD_WALLETS, tx_name="transactions.csv",
         logins_text=None):  # fmt: skip
    (tmp_path / tx_name).write_text(tx_text)
    if wallets_text is not None:
        (tmp_path / "wallets.csv").write_text(wallets_text)
    if logins_text is not None:
        (tmp_path / "logins.csv").write_text(logins_text)
    return subprocess.run(
        [sys.executable, str(ROOT / "feature_engineering.py"), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_cli_prototype_format_without_logins(tmp_path):
    result = _run(tmp_path, tx_name="generated_data.csv")
    assert result.returncode == 0, result.stderr
    out = pd.read_csv(tmp_path / "features.csv")
    assert list(out.columns) == ["transaction_id", *FEATURE_NAMES]
    assert list(out["transaction_id"]) == ["t1", "t2"]
    assert "features not computable" in result.stderr


BAD_INPUTS = [
    ("transactions.csv", GOOD_TX.replace(",type,", ",kind,"), "'type'"),
    ("transactions.csv", GOOD_TX.replace("2026-01-01T10:00:00Z", "yesterday"), "line 2 ('yesterday')"),
    ("transactions.csv", GOOD_TX.replace("10.5", "ten"), "column 'amount'"),
    ("transactions.csv", GOOD_TX.replace(",3,", ",-3,"), "line 3"),
    ("transactions.csv", GOOD_TX.replace(",3,", ",0,"), "column 'amount'"),
    ("transactions.csv", GOOD_TX.replace("transfer", "swap"), "at line 3 ('swap')"),
    ("transactions.csv", GOOD_TX.replace("t2,", "t1,"), "column 'transaction_id': duplicate id at line 3 ('t1')"),
    ("wallets.csv", GOOD_WALLETS.replace("true", "maybe"), "column 'kyc_verified'"),
    ("wallets.csv", GOOD_WALLETS.replace("A,", "A,1,2025-01-01\nA,"), "duplicate id at line 3"),
    ("logins.csv", "login_id,wallet_id,timestamp,ip_address,success\nl1,A,2026-01-01,1.1.1.1,2\n", "column 'success'"),
    ("logins.csv", "login_id,wallet_id,timestamp,ip_address\nl1,A,2026-01-01,1.1.1.1\n", "'success'"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "needle"), BAD_INPUTS)
def test_cli_bad_input_gives_one_line_error(tmp_path, name, text, needle):
    files = {"tx_text": GOOD_TX, "wallets_text": GOOD_WALLETS, "logins_text": None}
    files[{"transactions.csv": "tx_text", "wallets.csv": "wallets_text"}.get(name, "logins_text")] = text
    result = _run(tmp_path, **files)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"feature_engineering.py: error: {name}: ")
    assert needle in lines[0]


def test_cli_missing_transactions_file(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "feature_engineering.py"), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "transactions.csv: file not found" in result.stderr


@pytest.fixture(scope="module")
def generated_features(small_data_dir, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("fe_out")
    for name in ("wallets.csv", "transactions.csv", "logins.csv"):
        (out_dir / name).write_bytes((small_data_dir / name).read_bytes())
    assert feature_engineering.main(["--data-dir", str(out_dir)]) == 0
    return out_dir


def test_features_csv_is_numeric_finite_with_id_first(generated_features):
    out = pd.read_csv(generated_features / "features.csv")
    tx = pd.read_csv(generated_features / "transactions.csv")
    assert list(out.columns) == ["transaction_id", *FEATURE_NAMES]
    assert list(out["transaction_id"]) == list(tx["transaction_id"])
    values = out[FEATURE_NAMES]
    assert all(pd.api.types.is_numeric_dtype(values[c]) for c in values.columns)
    assert np.isfinite(values.to_numpy(dtype=float)).all()

