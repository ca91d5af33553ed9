"""Tests of bench/gen_sparse.py: the data contract, determinism and the typologies' shapes."""

from __future__ import annotations

import filecmp

import numpy as np
import pandas as pd
import pytest

from tests.conftest import load_bench

gen = load_bench("gen_sparse")

ARGS = {"n_wallets": 1500, "days": 20, "holdout_days": 5, "seed": 3, "fraud_rate": 0.02}
TX_COLS = ["transaction_id", "wallet_id", "timestamp", "amount", "type", "ip_address",
           "counterparty_wallet_id"]


@pytest.fixture(scope="module")
def frames():
    return gen.generate(**ARGS)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, frames):
    path = tmp_path_factory.mktemp("gen_sparse")
    gen.write(frames, path)
    return path


@pytest.fixture(scope="module")
def csv(data_dir):
    return {name: pd.read_csv(data_dir / f"{name}.csv")
            for name in ("wallets", "transactions", "new_transactions", "labels")}


@pytest.fixture(scope="module")
def all_tx(csv):
    tx = pd.concat([csv["transactions"], csv["new_transactions"]], ignore_index=True)
    return tx.merge(csv["labels"], on="transaction_id", how="left")


def test_files_and_columns(data_dir, csv):
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "labels.csv", "new_transactions.csv", "transactions.csv", "wallets.csv"]
    assert list(csv["wallets"].columns) == ["wallet_id", "kyc_verified", "registration_date"]
    for name in ("transactions", "new_transactions"):
        assert list(csv[name].columns) == TX_COLS
    assert list(csv["labels"].columns) == ["transaction_id", "scenario", "variant"]


def test_types_and_values(csv, all_tx):
    w = csv["wallets"]
    assert w["wallet_id"].is_unique
    assert set(w["kyc_verified"].unique()) <= {0, 1}
    pd.to_datetime(w["registration_date"], format="%Y-%m-%d")
    assert all_tx["transaction_id"].is_unique
    ts = pd.to_datetime(all_tx["timestamp"], format="%Y-%m-%dT%H:%M:%SZ", utc=True)
    assert ts.notna().all()
    assert pd.api.types.is_float_dtype(all_tx["amount"])
    assert (all_tx["amount"] > 0).all()
    assert np.allclose(all_tx["amount"], all_tx["amount"].round(2))
    assert set(all_tx["type"]) == {"deposit", "transfer", "redeem"}
    assert all_tx["ip_address"].str.fullmatch(r"\d+\.\d+\.\d+\.\d+").all()
    assert all_tx["wallet_id"].isin(w["wallet_id"]).all()


def test_sorted_and_split_by_time(csv):
    old = pd.to_datetime(csv["transactions"]["timestamp"], utc=True)
    new = pd.to_datetime(csv["new_transactions"]["timestamp"], utc=True)
    assert old.is_monotonic_increasing and new.is_monotonic_increasing
    split = gen.START + pd.Timedelta(days=ARGS["days"] - ARGS["holdout_days"])
    assert old.max() < split <= new.min()
    assert new.max() < gen.START + pd.Timedelta(days=ARGS["days"])


def test_counterparties(csv, all_tx):
    xfer = all_tx["type"] == "transfer"
    assert all_tx.loc[xfer, "counterparty_wallet_id"].notna().all()
    assert all_tx.loc[~xfer, "counterparty_wallet_id"].isna().all()
    assert all_tx.loc[xfer, "counterparty_wallet_id"].isin(csv["wallets"]["wallet_id"]).all()
    assert (all_tx.loc[xfer, "counterparty_wallet_id"] != all_tx.loc[xfer, "wallet_id"]).all()


def test_labels_and_variants_in_both_periods(csv):
    labels = csv["labels"]
    assert labels["transaction_id"].is_unique
    old_ids = set(csv["transactions"]["transaction_id"])
    new_ids = set(csv["new_transactions"]["transaction_id"])
    assert labels["transaction_id"].isin(old_ids | new_ids).all()
    pairs = {(s, v) for s, vs in gen.VARIANTS.items() for v in vs}
    assert set(zip(labels["scenario"], labels["variant"], strict=True)) == pairs
    for ids in (old_ids, new_ids):
        in_period = labels[labels["transaction_id"].isin(ids)]
        assert set(zip(in_period["scenario"], in_period["variant"], strict=True)) == pairs
    for s in gen.VARIANTS:
        assert s in {"rapid_transfers", "redemption_burst", "account_takeover",
                     "suspicious_deposit"} or s.startswith("other_")
        assert len(gen.VARIANTS[s]) >= 2


def test_registration_not_after_first_activity(csv, all_tx):
    reg = csv["wallets"].set_index("wallet_id")["registration_date"]
    day = pd.to_datetime(all_tx["timestamp"], utc=True).dt.strftime("%Y-%m-%d")
    assert (all_tx["wallet_id"].map(reg) <= day).all()


def test_same_seed_same_bytes_other_seed_differs(tmp_path, data_dir):
    gen.write(gen.generate(**ARGS), tmp_path / "a")
    for name in ("wallets", "transactions", "new_transactions", "labels"):
        assert filecmp.cmp(tmp_path / "a" / f"{name}.csv", data_dir / f"{name}.csv",
                           shallow=False)
    gen.write(gen.generate(**{**ARGS, "seed": 4}), tmp_path / "b")
    assert not filecmp.cmp(tmp_path / "b" / "transactions.csv", data_dir / "transactions.csv",
                           shallow=False)


def test_sparse_world(all_tx):
    counts = all_tx.groupby("wallet_id").size()
    assert 0.5 < (counts <= 2).mean() < 0.8
    rate = all_tx["scenario"].notna().mean()
    assert 0.01 < rate < 0.06
    # many wallets share a carrier address
    assert all_tx.groupby("ip_address")["wallet_id"].nunique().max() >= 20


def test_default_fraud_rate_is_near_target():
    frames = gen.generate(n_wallets=4000, days=30, holdout_days=7, seed=11, fraud_rate=0.015)
    n = len(frames["transactions"]) + len(frames["new_transactions"])
    assert 0.012 < len(frames["labels"]) / n < 0.03


def _variant(all_tx, variant):
    return all_tx[all_tx["variant"] == variant]


def test_structuring_deposits_sit_under_thresholds(all_tx):
    s = _variant(all_tx, "structuring_split")
    dep = s[s["type"] == "deposit"]["amount"]
    assert ((dep >= 8600) & (dep < 10000)).all()
    u = _variant(all_tx, "under_3k_repeat")
    dep = u[u["type"] == "deposit"]
    assert ((dep["amount"] >= 2600) & (dep["amount"] < 3000)).all()
    assert (dep.groupby("wallet_id").size() >= 3).all()


def test_unverified_in_out_leaves_within_the_hour(csv, all_tx):
    kyc = csv["wallets"].set_index("wallet_id")["kyc_verified"]
    e = _variant(all_tx, "unverified_in_out").copy()
    e["ts"] = pd.to_datetime(e["timestamp"], utc=True)
    dep = e[e["type"] == "deposit"]
    assert (dep["wallet_id"].map(kyc) == 0).all()
    assert (dep["amount"] >= 3000).all()
    for w, d in dep.groupby("wallet_id"):
        out = e[(e["wallet_id"] == w) & (e["type"] != "deposit")]
        assert len(out) >= 1
        assert (out["ts"] - d["ts"].iloc[0]).max() <= pd.Timedelta(hours=1)


def test_fan_out_splits_one_deposit_to_many(all_tx):
    f = _variant(all_tx, "fan_out")
    xfer = f[f["type"] == "transfer"]
    per_hub = xfer.groupby("wallet_id")["counterparty_wallet_id"].nunique()
    assert (per_hub >= 5).all()


def test_rapid_cashouts_are_bursts(all_tx):
    r = _variant(all_tx, "rapid_cashouts").copy()
    r = r[r["type"] == "redeem"]
    r["ts"] = pd.to_datetime(r["timestamp"], utc=True)
    g = r.groupby("wallet_id")["ts"]
    assert (g.size() >= 4).all()
    assert ((g.max() - g.min()) <= pd.Timedelta(hours=4)).all()


def test_outsized_cashout_is_large(all_tx):
    o = _variant(all_tx, "outsized_cashout")
    assert (o[o["type"] == "redeem"]["amount"] >= 5000).all()


def test_fraud_accounts_have_little_history(all_tx):
    counts = all_tx.groupby("wallet_id").size()
    fraud_wallets = all_tx.loc[all_tx["scenario"].notna(), "wallet_id"].unique()
    assert (counts[fraud_wallets] <= 3).mean() > 0.5


def test_main_writes_files(tmp_path):
    assert gen.main(["--data-dir", str(tmp_path), "--wallets", "600", "--days", "12",
                     "--holdout-days", "3", "--seed", "5"]) == 0
    assert (tmp_path / "new_transactions.csv").stat().st_size > 0
