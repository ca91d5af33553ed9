"""The data contract: file names, columns, transaction types and the input error.

The product spec (`SPEC.md`, "Data contract") is the reference; this module is its one copy
in code. Columns marked optional may be absent from a file; extra columns are ignored.
"""

from __future__ import annotations

from pathlib import Path

from wallet_monitor.cli import UserError

TX_TYPES: tuple[str, ...] = ("deposit", "transfer", "redeem")

TX_REQUIRED = ("transaction_id", "wallet_id", "timestamp", "amount", "type", "ip_address")
TX_OPTIONAL = ("counterparty_wallet_id", "token", "country", "device_id")
LOGIN_REQUIRED = ("login_id", "wallet_id", "timestamp", "ip_address", "success")
LOGIN_OPTIONAL = ("country", "device_id")
WALLET_REQUIRED = ("wallet_id", "kyc_verified", "registration_date")
WALLET_OPTIONAL = ("home_country",)
LABEL_COLUMNS = ("transaction_id", "scenario")

DETECTION_COLUMNS = ["transaction_id", "wallet_id", "timestamp", "fraud_score", "is_anomaly",
                     "reasons"]
WALLET_SCORE_COLUMNS = ["wallet_id", "wallet_score", "n_transactions", "n_anomalies", "reasons"]

WALLETS_FILE = "wallets.csv"
TRANSACTIONS_FILE = "transactions.csv"
NEW_TRANSACTIONS_FILE = "new_transactions.csv"
LOGINS_FILE = "logins.csv"
LABELS_FILE = "labels.csv"
FEATURES_FILE = "features.csv"
DETECTIONS_FILE = "detections.csv"
WALLET_SCORES_FILE = "wallet_scores.csv"
# The prototype wrote its transactions here; read when transactions.csv is absent.
PROTOTYPE_TRANSACTIONS_FILE = "generated_data.csv"


class InputError(UserError, ValueError):
    """A malformed input file; the message names file, column and first offending rows."""


def input_file(data_dir, name: str) -> Path:
    """Path of input `name` (e.g. wallets.csv) in `data_dir`: the CSV, else `NAME.parquet` (a
    file or a folder of part files) in its place; the CSV's path when neither exists."""
    path = Path(data_dir) / name
    parquet = path.with_suffix(".parquet")
    if not path.exists() and parquet.exists():
        return parquet
    return path


def transactions_file(data_dir, name: str = TRANSACTIONS_FILE) -> Path:
    """Path of the transactions file (CSV or Parquet), falling back to the prototype's
    generated_data.csv."""
    data_dir = Path(data_dir)
    path = input_file(data_dir, name)
    legacy = data_dir / PROTOTYPE_TRANSACTIONS_FILE
    if not path.exists() and legacy.exists():
        return legacy
    return path
