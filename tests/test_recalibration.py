"""Recalibration: the alert budget held on drifted traffic by an explicit, versioned step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import train_model
from wallet_monitor.features import LOOKBACK, build_features
from wallet_monitor.model import load_bundle, train
from wallet_monitor.recalibration import place_threshold, recalibrate
from wallet_monitor.scoring import detect
from wallet_monitor.synth import generate


@pytest.fixture(scope="module")
def trained(small_frames):
    f = small_frames
    return train(build_features(f["transactions"], None, f["wallets"], f["logins"]), seed=0)


def test_the_budget_holds_on_traffic_in_another_amount_scale():
    # Another market: every amount, history included, ten times larger. A world with few frauds,
    # so that the flagged share of half a holdout is mostly the budget, not the fraud it holds.
    f = generate(n_wallets=400, days=20, holdout_days=6, seed=7, fraud_rate=0.005)
    bundle = train(build_features(f["transactions"], None, f["wallets"], f["logins"]), seed=0)
    history = f["transactions"].assign(amount=f["transactions"]["amount"] * 10)
    new = f["new_transactions"].assign(amount=f["new_transactions"]["amount"] * 10)
    half = new["timestamp"].quantile(0.5)
    first, second = new[new["timestamp"] < half], new[new["timestamp"] >= half]
    context = (history, f["wallets"], f["logins"])
    before = detect(bundle, second, *context)["is_anomaly"].mean()
    recal = recalibrate(bundle, build_features(first, *context), first, alert_rate=0.025)
    after = detect(recal, second, *context)["is_anomaly"].mean()
    assert before > 0.05
    assert 0.01 <= after <= 0.03, (before, after)


def test_recalibration_keeps_the_ranking_and_is_a_new_version(small_frames, trained):
    f = small_frames
    context = (f["transactions"], f["wallets"], f["logins"])
    new = f["new_transactions"]
    recal = recalibrate(trained, build_features(new, *context), new, alert_rate=0.02)
    assert recal.model_version.startswith(trained.model_version + "-recal-")
    assert recal.metadata.recalibration["rows"] == len(new)
    assert trained.metadata.recalibration is None  # the input bundle is left as it was
    a = detect(trained, new, *context, link=False)["fraud_score"].to_numpy()
    b = detect(recal, new, *context, link=False)["fraud_score"].to_numpy()
    assert (np.argsort(a, kind="stable") == np.argsort(b, kind="stable")).mean() > 0.999
    assert detect(recal, new, *context)["is_anomaly"].mean() == pytest.approx(0.02, abs=0.002)


def test_the_cli_recalibrates_the_saved_bundle_on_recent_traffic(chain):
    args = ["--data-dir", str(chain / "data"), "--models-dir", str(chain / "models"),
            "--reports-dir", str(chain / "reports")]
    before = load_bundle(chain / "models" / "fraud_model.pkl")
    assert train_model.main([*args, "--recalibrate", "--alert-rate", "0.015"]) == 0
    after = load_bundle(chain / "models" / "fraud_model.pkl")
    assert after.metadata.recalibration["alert_rate"] == 0.015
    assert after.threshold != before.threshold
    with pytest.raises(SystemExit) as bad:
        train_model.main([*args, "--recalibrate", "--alert-rate", "0.9"])
    assert bad.value.code == 2


# ---- the budget on the training period, episode links counted (place_threshold) ------------

def _later(transactions, ts_from):
    return transactions[transactions["timestamp"] >= pd.Timestamp(ts_from)]


def test_the_threshold_placed_on_training_counts_episode_links(small_frames, trained):
    f = small_frames
    tx = f["transactions"]
    features = build_features(tx, None, f["wallets"], f["logins"])
    placed = place_threshold(trained, features, tx)
    budget = placed.metadata.budget
    later = _later(tx, budget["period"][0])
    context = (tx[tx["timestamp"] < later["timestamp"].min()], f["wallets"], f["logins"])
    as_trained = detect(trained, later, *context)["is_anomaly"].mean()
    now = detect(placed, later, *context)["is_anomaly"].mean()
    share = trained.metadata.contamination
    # Episode links raise rows on top of the own-evidence line; placed, they are in the budget.
    assert as_trained > share + 0.005, as_trained
    assert now == pytest.approx(share, abs=0.002), now
    assert budget["rows"] == len(later) and budget["share"] == share
    assert trained.metadata.budget is None and trained.threshold == 1 - share  # input kept


def test_a_repeated_transaction_id_leaves_placing_the_threshold_to_the_last_copy(small_frames,
                                                                                  trained):
    # The batch path keeps a repeated id's last copy; placing the threshold matches features to
    # transactions by id and must do the same, not fail after the whole fit.
    f = small_frames
    tx = f["transactions"]
    features = build_features(tx, None, f["wallets"], f["logins"])
    first = tx.iloc[[len(tx) - 1]].assign(amount=1.0)  # an earlier copy of the last row's id
    repeated = pd.concat([first, tx], ignore_index=True)
    placed = place_threshold(trained, features, repeated)
    assert placed.threshold == place_threshold(trained, features, tx).threshold


def test_the_threshold_is_placed_on_the_later_training_rows(small_frames, trained):
    # The first days' features see a truncated look-back (every counterparty, device and IP
    # new): unlike any scored row, they are left out of the budget.
    f = small_frames
    tx = f["transactions"]
    placed = place_threshold(trained, build_features(tx, None, f["wallets"], f["logins"]), tx)
    start, end = tx["timestamp"].min(), tx["timestamp"].max()
    first = pd.Timestamp(placed.metadata.budget["period"][0])
    assert first >= start + min(LOOKBACK, (end - start) / 2)
    assert first <= start + min(LOOKBACK, (end - start) / 2) + pd.Timedelta(hours=1)

