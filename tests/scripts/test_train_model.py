"""train_model.py: the CLI trains from features.csv without labels; bad input is one line."""

import json

import pytest

import train_model
from tests.model._support import _normal
from wallet_monitor.model import (
    COMBINE,
    load_bundle,
)


def test_cli_trains_from_features_csv_without_labels(tmp_path):
    _normal(800).to_csv(tmp_path / "features.csv", index=False)
    (tmp_path / "labels.csv").write_text("this file must never be read\x00")
    rc = train_model.main(
        [
            "--data-dir",
            str(tmp_path),
            "--models-dir",
            str(tmp_path / "m"),
            "--reports-dir",
            str(tmp_path / "r"),
            "--single",
        ]
    )
    assert rc == 0
    bundle = load_bundle(tmp_path / "m" / "fraud_model.pkl")
    assert bundle.metadata.n_rows == 800
    assert (tmp_path / "r" / "metrics.json").exists()


def test_cli_combine_option_reaches_the_bundle(tmp_path):
    _normal(800).to_csv(tmp_path / "features.csv", index=False)
    args = ["--data-dir", str(tmp_path), "--models-dir", str(tmp_path / "m"),
            "--reports-dir", str(tmp_path / "r")]
    assert train_model.main([*args, "--combine", "top2"]) == 0
    bundle = load_bundle(tmp_path / "m" / "fraud_model.pkl")
    assert bundle.combine == "top2" and bundle.metadata.params["combine"] == "top2"
    assert train_model.main([*args]) == 0
    assert load_bundle(tmp_path / "m" / "fraud_model.pkl").combine == COMBINE


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("transaction_id,a\nt1,1\nt2,x\n", "non-numeric"),
        ("a,b\n1,2\n", "transaction_id"),
    ],
)
def test_cli_bad_features_file_gives_one_line_error(tmp_path, capsys, content, message):
    if content is not None:
        (tmp_path / "features.csv").write_text(content)
    rc = train_model.main(["--data-dir", str(tmp_path), "--models-dir", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert err.startswith("train_model.py: error: ") and message in err
    assert "\n" not in err



def test_train_model_places_the_threshold_with_episodes_linked_and_says_where(chain):
    bundle = load_bundle(chain / "models" / "fraud_model.pkl")
    budget = bundle.metadata.budget
    assert bundle.threshold == budget["threshold"] != 1 - bundle.metadata.contamination
    assert budget["episodes_linked"] and budget["share"] == bundle.metadata.contamination
    metrics = json.loads((chain / "reports" / "metrics.json").read_text())
    assert metrics["training"]["budget"]["threshold"] == bundle.threshold
    assert metrics["training"]["threshold"] == bundle.threshold


def test_without_the_training_transactions_the_threshold_is_own_evidence_only(tmp_path):
    _normal(800).to_csv(tmp_path / "features.csv", index=False)
    assert train_model.main(["--data-dir", str(tmp_path), "--models-dir", str(tmp_path / "m"),
                             "--reports-dir", str(tmp_path / "r")]) == 0
    bundle = load_bundle(tmp_path / "m" / "fraud_model.pkl")
    assert bundle.metadata.budget is None
    assert bundle.threshold == 1 - bundle.metadata.contamination


def test_features_of_other_transactions_leave_the_threshold_own_evidence_only(tmp_path, caplog):
    _normal(800).to_csv(tmp_path / "features.csv", index=False)
    (tmp_path / "transactions.csv").write_text(
        "transaction_id,wallet_id,timestamp,amount,type,ip_address\n"
        "other-1,w1,2026-01-01T00:00:00Z,10.0,deposit,10.0.0.1\n")
    assert train_model.main(["--data-dir", str(tmp_path), "--models-dir", str(tmp_path / "m"),
                             "--reports-dir", str(tmp_path / "r")]) == 0
    bundle = load_bundle(tmp_path / "m" / "fraud_model.pkl")
    assert bundle.threshold == 1 - bundle.metadata.contamination
    assert "episode links not counted" in caplog.text and "no transaction" in caplog.text
