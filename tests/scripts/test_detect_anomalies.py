"""detect_anomalies.py: the batch CLI's outputs per the contract and its one-line errors."""

import json
import shutil

import joblib
import pandas as pd
import pytest

import detect_anomalies
import feature_engineering
import train_model
from tests._episode_support import (
    _detections,
)
from wallet_monitor.delivery import alert_records
from wallet_monitor.features import (
    load_logins,
    load_transactions,
    load_wallets,
)
from wallet_monitor.model import BundleError, load_bundle
from wallet_monitor.schema import DETECTION_COLUMNS
from wallet_monitor.scoring import detect


def test_alert_records_carry_the_alert_fields():
    d = _detections().assign(amount=12.5, type="transfer")
    records = alert_records(d, "iforest-test")
    assert [r["transaction_id"] for r in records] == ["t0", "t1"]
    assert records[0] == {
        "transaction_id": "t0",
        "wallet_id": "w1",
        "fraud_score": 0.9,
        "timestamp": "2026-01-05T00:00:00Z",
        "amount": 12.5,
        "type": "transfer",
        "reasons": "r0",
        "model_version": "iforest-test",
    }


def _detect_args(root, *extra):
    return [
        "--data-dir",
        str(root / "data"),
        "--models-dir",
        str(root / "models"),
        "--reports-dir",
        str(root / "reports"),
        *extra,
    ]


@pytest.fixture(scope="module")
def detected(chain):
    assert detect_anomalies.main(_detect_args(chain, "--no-alerts")) == 0
    return chain


def test_cli_writes_detections_per_the_contract(detected):
    d = pd.read_csv(detected / "data" / "detections.csv", dtype=str, keep_default_na=False)
    new = pd.read_csv(detected / "data" / "new_transactions.csv", dtype=str)
    assert list(d.columns) == DETECTION_COLUMNS
    assert d["transaction_id"].tolist() == new["transaction_id"].tolist()
    assert d["fraud_score"].astype(float).between(0, 1).all()
    assert set(d["is_anomaly"]) <= {"True", "False"}
    assert d["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    flagged = d["is_anomaly"] == "True"
    assert (d.loc[flagged, "reasons"] != "").all() and (d.loc[~flagged, "reasons"] == "").all()


def test_cli_writes_wallet_scores_per_the_contract(detected):
    w = pd.read_csv(detected / "data" / "wallet_scores.csv")
    d = pd.read_csv(detected / "data" / "detections.csv")
    assert list(w.columns) == [
        "wallet_id",
        "wallet_score",
        "n_transactions",
        "n_anomalies",
        "reasons",
    ]
    assert w["n_transactions"].sum() == len(d)
    assert w["wallet_score"].is_monotonic_decreasing


def test_cli_reports_metrics_and_figures_when_labels_exist(detected):
    report = json.loads((detected / "reports" / "metrics.json").read_text())
    assert report["training"]["n_rows"] > 0
    assert report["evaluation"]["rows"] == report["detection"]["rows"]
    assert 0 <= report["evaluation"]["average_precision"] <= 1
    names = {p.name for p in (detected / "reports" / "figures").glob("*.png")}
    assert names == {"score_distribution.png", "alerts_per_hour.png", "scenario_recall.png"}


def test_detect_matches_the_cli(detected):
    bundle = load_bundle(detected / "models" / "fraud_model.pkl")
    data = detected / "data"
    new = load_transactions(data / "new_transactions.csv")
    out = detect(
        bundle,
        new,
        load_transactions(data / "transactions.csv"),
        load_wallets(data / "wallets.csv"),
        load_logins(data / "logins.csv"),
    )
    cli = pd.read_csv(data / "detections.csv")
    assert out["fraud_score"].to_numpy() == pytest.approx(cli["fraud_score"].to_numpy())


def test_detect_refuses_a_model_trained_on_other_features(detected):
    bundle = load_bundle(detected / "models" / "fraud_model.pkl")
    bundle.feature_names = [*bundle.feature_names, "no_such_feature"]
    new = load_transactions(detected / "data" / "new_transactions.csv")
    with pytest.raises(BundleError, match="no_such_feature"):
        detect(bundle, new.head(20))


def test_cli_stale_model_gives_one_line_error(chain, tmp_path, capsys):
    bundle = joblib.load(chain / "models" / "fraud_model.pkl")
    bundle.metadata.format_version = 0
    joblib.dump(bundle, tmp_path / "fraud_model.pkl")
    rc = detect_anomalies.main(
        [
            "--data-dir",
            str(chain / "data"),
            "--models-dir",
            str(tmp_path),
            "--no-alerts",
            "--reports-dir",
            str(tmp_path / "reports"),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert err.startswith("detect_anomalies.py: error: ") and "bundle format 0" in err
    assert "\n" not in err


def test_a_header_only_file_scores_nothing_and_succeeds(chain, tmp_path):
    header = (chain / "data" / "new_transactions.csv").read_text().splitlines()[0]
    empty = tmp_path / "empty.csv"
    empty.write_text(header + "\n")
    out = tmp_path / "out"
    shutil.copytree(chain / "data", out)
    args = ["--data-dir", str(out), "--models-dir", str(chain / "models"),
            "--reports-dir", str(tmp_path / "reports"), "--transactions", str(empty), "--no-alerts"]
    assert detect_anomalies.main(args) == 0
    d = pd.read_csv(out / "detections.csv")
    assert list(d.columns) == DETECTION_COLUMNS and d.empty


def test_the_prototype_format_flags_a_sane_share(small_data_dir, tmp_path):
    """wallets with 3 columns, transactions in generated_data.csv with 6, no logins."""
    data = tmp_path / "proto"
    data.mkdir()
    w = pd.read_csv(small_data_dir / "wallets.csv", dtype=str)
    w[["wallet_id", "kyc_verified", "registration_date"]].to_csv(data / "wallets.csv", index=False)
    cols = ["transaction_id", "wallet_id", "timestamp", "amount", "type", "ip_address"]
    for src, dst in (("transactions.csv", "generated_data.csv"),
                     ("new_transactions.csv", "new_transactions.csv")):
        pd.read_csv(small_data_dir / src, dtype=str)[cols].to_csv(data / dst, index=False)
    dirs = ["--data-dir", str(data), "--models-dir", str(tmp_path / "m"),
            "--reports-dir", str(tmp_path / "r")]
    assert feature_engineering.main(["--data-dir", str(data)]) == 0
    assert train_model.main(dirs) == 0
    assert detect_anomalies.main([*dirs, "--no-alerts", "--no-figures"]) == 0
    d = pd.read_csv(data / "detections.csv")
    # The threshold flags about 2.5% of training-like traffic, and episode links raise more on
    # this small set (8.5% without countries, 8.8% with them located from the IPs, since the
    # generator draws real addresses); a feature that drifts between the periods once made it 29%.
    assert 0.005 < d["is_anomaly"].mean() < 0.10

