"""bench/gen_payments.py: the data contract, determinism and the injected typologies."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from tests.conftest import load_bench

gen = load_bench("gen_payments")

ARGS = {"n_wallets": 200, "days": 45, "holdout_days": 12, "seed": 3, "fraud_rate": 0.02}
CORE = {"rapid_transfers", "redemption_burst", "account_takeover", "suspicious_deposit"}
TX_COLUMNS = {"transaction_id", "wallet_id", "timestamp", "amount", "type", "ip_address"}


@pytest.fixture(scope="module")
def frames():
    return gen.generate(**ARGS)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, frames):
    path = tmp_path_factory.mktemp("gen_payments")
    gen.write(frames, path)
    return path


@pytest.fixture(scope="module")
def files(data_dir):
    read = {name: pd.read_csv(data_dir / f"{name}.csv", dtype={"counterparty_wallet_id": str})
            for name in ("wallets", "transactions", "new_transactions", "labels")}
    return read


@pytest.fixture(scope="module")
def tx(files):
    """Both periods with parsed times, a holdout flag and the label of each row."""
    t = pd.concat([files["transactions"].assign(holdout=False),
                   files["new_transactions"].assign(holdout=True)], ignore_index=True)
    t["ts"] = pd.to_datetime(t["timestamp"], utc=True)
    t = t.merge(files["labels"], on="transaction_id", how="left")
    t["fraud"] = t["variant"].notna()
    originators = set(t["wallet_id"])
    t["to_merchant"] = (t["type"] == "transfer") & ~t["counterparty_wallet_id"].isin(originators)
    return t


def _legit_median(tx):
    legit = tx[~tx["fraud"] & tx["to_merchant"]]
    return legit.groupby("wallet_id")["amount"].median()


def test_files_and_columns(data_dir, files):
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "labels.csv", "new_transactions.csv", "transactions.csv", "wallets.csv"]
    w = files["wallets"]
    assert list(w.columns) == ["wallet_id", "kyc_verified", "registration_date"]
    assert set(w["kyc_verified"].unique()) == {0, 1}
    assert pd.to_datetime(w["registration_date"], utc=True).notna().all()
    for name in ("transactions", "new_transactions"):
        t = files[name]
        assert TX_COLUMNS <= set(t.columns)
        assert "country" not in t.columns
        assert t["transaction_id"].map(type).eq(str).all()
        assert t["wallet_id"].map(type).eq(str).all()
        assert pd.api.types.is_float_dtype(t["amount"])
        assert (t["amount"] > 0).all()
        assert np.allclose(t["amount"], t["amount"].round(2))
        assert set(t["type"]) <= {"deposit", "transfer", "redeem"}
        assert t["timestamp"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").all()
        assert t["ip_address"].str.match(r"^\d{1,3}(\.\d{1,3}){3}$").all()
        octets = t["ip_address"].str.split(".", expand=True).astype(int)
        assert (octets <= 255).all().all()
        assert t["device_id"].notna().all()
    assert list(files["labels"].columns) == ["transaction_id", "scenario", "variant"]


def test_ids_unique(files, tx):
    assert files["wallets"]["wallet_id"].is_unique
    assert tx["transaction_id"].is_unique
    assert set(tx["wallet_id"]) <= set(files["wallets"]["wallet_id"])


def test_sorted_and_split_by_time(files, tx):
    for name in ("transactions", "new_transactions"):
        ts = pd.to_datetime(files[name]["timestamp"], utc=True)
        assert ts.is_monotonic_increasing
    train, hold = tx[~tx["holdout"]], tx[tx["holdout"]]
    assert train["ts"].max() < hold["ts"].min()
    start = pd.Timestamp(str(gen.START), tz="UTC")
    split = start + pd.Timedelta(days=ARGS["days"] - ARGS["holdout_days"])
    assert train["ts"].min() >= start and train["ts"].max() < split
    assert hold["ts"].min() >= split
    assert hold["ts"].max() < start + pd.Timedelta(days=ARGS["days"])


def test_counterparties(files, tx):
    wallets = set(files["wallets"]["wallet_id"])
    transfers = tx[tx["type"] == "transfer"]
    assert transfers["counterparty_wallet_id"].notna().all()
    assert set(transfers["counterparty_wallet_id"]) <= wallets
    assert (transfers["counterparty_wallet_id"] != transfers["wallet_id"]).all()
    assert tx.loc[tx["type"] != "transfer", "counterparty_wallet_id"].isna().all()
    # almost every row pays a merchant; merchants (listed, verified) originate nothing
    assert tx["to_merchant"].mean() > 0.9
    merchants = set(transfers.loc[transfers["to_merchant"], "counterparty_wallet_id"])
    w = files["wallets"].set_index("wallet_id")
    assert (w.loc[sorted(merchants), "kyc_verified"] == 1).all()
    assert not merchants & set(tx["wallet_id"])
    share = tx["type"].value_counts(normalize=True)
    assert share["deposit"] < 0.05 and share["redeem"] < 0.06


def test_labels(files, tx):
    labels = files["labels"]
    assert labels["transaction_id"].is_unique
    assert set(labels["transaction_id"]) <= set(tx["transaction_id"])
    for s in labels["scenario"].unique():
        assert s in CORE or s.startswith("other_")
    pairs = set(map(tuple, labels[["scenario", "variant"]].to_numpy()))
    assert pairs == {(s, v) for s, vs in gen.VARIANTS.items() for v in vs}
    assert 0.005 < tx["fraud"].mean() < 0.08


def test_every_variant_in_both_periods(tx):
    seen = tx[tx["fraud"]].groupby(["variant", "holdout"]).size().unstack(fill_value=0)
    for variants in gen.VARIANTS.values():
        for v in variants:
            assert seen.loc[v, False] > 0 and seen.loc[v, True] > 0, v


def test_same_seed_same_bytes_other_seed_differs(tmp_path, data_dir):
    again = tmp_path / "again"
    gen.write(gen.generate(**ARGS), again)
    for name in ("wallets", "transactions", "new_transactions", "labels"):
        assert (again / f"{name}.csv").read_bytes() == (data_dir / f"{name}.csv").read_bytes()
    other = tmp_path / "other"
    gen.write(gen.generate(**{**ARGS, "seed": 4}), other)
    assert (other / "transactions.csv").read_bytes() != (data_dir / "transactions.csv").read_bytes()


def test_main_writes_files(tmp_path):
    out = tmp_path / "cli"
    assert gen.main(["--data-dir", str(out), "--wallets", "60", "--days", "20",
                     "--holdout-days", "6", "--seed", "1"]) == 0
    assert (out / "new_transactions.csv").exists() and (out / "labels.csv").exists()


def test_normal_traffic_shape(tx):
    legit = tx[~tx["fraud"]]
    assert (legit["amount"] < 10).mean() > 0.25  # tiny payments are common
    assert legit["amount"].max() > tx.loc[tx["fraud"], "amount"].max()
    per_wallet = legit.groupby("wallet_id").size()
    assert per_wallet.max() > 20 * per_wallet.min()
    # subscriptions: the same amount to the same merchant about a month apart
    pays = legit[legit["to_merchant"]].sort_values("ts")
    nxt = pays.groupby(["wallet_id", "counterparty_wallet_id", "amount"])["ts"].diff()
    assert nxt.between(pd.Timedelta(days=27), pd.Timedelta(days=32)).sum() > 10
    # legitimate new devices and IPs exist after an account's first days
    first = legit.groupby(["wallet_id", "device_id"])["ts"].min()
    start = legit.groupby("wallet_id")["ts"].min()
    late = first > start.reindex(first.index.get_level_values(0)).to_numpy() + pd.Timedelta(days=3)
    assert late.sum() > 5


def _episodes(tx, variant):
    return [g.sort_values("ts") for _, g in tx[tx["variant"] == variant].groupby("wallet_id")]


def test_account_takeover(tx):
    med = _legit_median(tx)
    legit = tx[~tx["fraud"]]
    used = set(zip(legit["wallet_id"], legit["counterparty_wallet_id"], strict=True))
    devices = set(zip(legit["wallet_id"], legit["device_id"], strict=True))
    ratios = []
    for g in _episodes(tx, "spending_spree"):
        wid = g["wallet_id"].iloc[0]
        assert not any((wid, m) in used for m in g["counterparty_wallet_id"])
        assert not any((wid, d) in devices for d in g["device_id"])
        assert g["ts"].max() - g["ts"].min() < pd.Timedelta(hours=4)
        ratios.append(g.loc[g["amount"] >= 10, "amount"].median() / med[wid])
    assert np.median(ratios) > 5
    for g in _episodes(tx, "slow_drain"):
        assert g["ts"].dt.floor("D").nunique() >= 2 or len(g) <= 3


def test_redemption_burst(tx):
    med = _legit_median(tx)
    for g in _episodes(tx, "atm_burst"):
        assert (g["type"] == "redeem").all() and len(g) >= 3
        assert (g["amount"] % 20 == 0).all()
        assert g["ts"].max() - g["ts"].min() < pd.Timedelta(hours=6)
    single = tx[tx["variant"] == "single_outsized"].sort_values("ts").groupby("wallet_id").head(1)
    ratio = single["amount"].to_numpy() / med.reindex(single["wallet_id"]).to_numpy()
    assert np.nanmedian(ratio) > 10
    assert single["amount"].max() < tx.loc[~tx["fraud"], "amount"].max()


def test_rapid_transfers(tx):
    f = tx[tx["variant"] == "mule_chain"]
    hops = f[f["type"] == "transfer"]
    onward = 0
    for _, r in hops.iterrows():
        later = f[(f["wallet_id"] == r["counterparty_wallet_id"]) & (f["ts"] >= r["ts"])
                  & (f["ts"] <= r["ts"] + pd.Timedelta(hours=2))]
        onward += len(later) > 0
    assert onward >= 0.9 * len(hops)
    fans = tx[(tx["variant"] == "fan_out") & (tx["type"] == "transfer")]
    fanned = fans.groupby("wallet_id")["counterparty_wallet_id"].nunique()
    assert fanned.max() >= 4
    collect = tx[(tx["variant"] == "fan_in") & (tx["type"] == "transfer")]
    assert collect.groupby("counterparty_wallet_id")["wallet_id"].nunique().max() >= 4


def test_card_testing(tx):
    for variant in ("probe_only", "probe_then_spend"):
        for g in _episodes(tx, variant):
            probes = g[g["amount"] < 5]
            assert len(probes) >= 4 and probes["counterparty_wallet_id"].nunique() >= 4
            assert probes["ts"].max() - probes["ts"].min() < pd.Timedelta(minutes=40)
            if variant == "probe_then_spend":
                assert g["amount"].max() >= 100
            else:
                assert g["amount"].max() < 5
    bins = tx[tx["variant"] == "bin_attack"]
    per_device = bins.groupby("device_id").agg(w=("wallet_id", "nunique"),
                                               m=("counterparty_wallet_id", "nunique"))
    assert (per_device["w"] >= 3).all() and (per_device["m"] == 1).all()
    assert (bins["amount"] < 3).all()


def test_merchant_collusion(tx):
    for g in _episodes(tx, "refund_cycling"):
        pays = g[g["type"] == "transfer"]
        assert pays["counterparty_wallet_id"].nunique() == 1
        for _, r in g[g["type"] == "redeem"].iterrows():
            before = pays[pays["ts"] < r["ts"]]["amount"]
            assert ((before >= r["amount"]) & (before * 0.94 <= r["amount"])).any()
    for g in _episodes(tx, "funded_ring_payments"):
        assert set(g["type"]) == {"deposit", "transfer"}
    for g in _episodes(tx, "split_sale"):
        assert g["counterparty_wallet_id"].nunique() == 1 and len(g) >= 3
        limit = min(x for x in (300, 500, 1000) if x > g["amount"].max())
        assert ((limit - g["amount"] > 0) & (limit - g["amount"] <= 0.08 * limit)).all()


def test_no_quirky_ids(tx, files):
    pattern = re.compile(r"^acct_[0-9a-f]{10}$")
    assert files["wallets"]["wallet_id"].str.match(pattern).all()
    assert tx["transaction_id"].str.match(r"^tx_[0-9a-f]{12}$").all()
    assert tx["device_id"].str.match(r"^dev_[0-9a-f]{12}$").all()
    # fraud IPs come from the same /16 networks as normal traffic
    p16 = tx["ip_address"].str.rsplit(".", n=2).str[0]
    assert p16[tx["fraud"]].isin(set(p16[~tx["fraud"]])).mean() > 0.95
