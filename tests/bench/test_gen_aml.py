"""Tests of bench/gen_aml.py: the data contract, determinism and the injected typologies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import load_bench

gen = load_bench("gen_aml")

ARGS = {"n_wallets": 300, "days": 30, "holdout_days": 10, "seed": 5, "fraud_rate": 0.02}
TX_COLS = ["transaction_id", "wallet_id", "timestamp", "amount", "type", "counterparty_wallet_id",
           "token", "ip_address", "country", "device_id"]


@pytest.fixture(scope="module")
def frames():
    return gen.generate(**ARGS)


@pytest.fixture(scope="module")
def tx(frames):
    both = pd.concat([frames["transactions"].assign(holdout=False),
                      frames["new_transactions"].assign(holdout=True)], ignore_index=True)
    both["ts"] = pd.to_datetime(both["timestamp"], utc=True)
    lab = frames["labels"]
    return both.merge(lab, on="transaction_id", how="left")


@pytest.fixture(scope="module")
def logins(frames):
    lg = frames["logins"].copy()
    lg["ts"] = pd.to_datetime(lg["timestamp"], utc=True)
    return lg


def _rows(tx, variant):
    return tx[tx["variant"] == variant]


def test_contract_columns_and_types(frames):
    assert set(frames) == {"wallets", "transactions", "new_transactions", "labels", "logins"}
    w = frames["wallets"]
    assert list(w.columns) == ["wallet_id", "kyc_verified", "registration_date", "home_country"]
    assert set(w["kyc_verified"].unique()) <= {0, 1}
    pd.to_datetime(w["registration_date"], utc=True)
    assert w["home_country"].str.fullmatch(r"[A-Z]{2}").all()
    for name in ("transactions", "new_transactions"):
        df = frames[name]
        assert list(df.columns) == TX_COLS
        assert df["timestamp"].str.endswith("Z").all()
        assert pd.api.types.is_float_dtype(df["amount"])
        for col in ("wallet_id", "ip_address", "token", "country", "device_id"):
            assert df[col].notna().all() and (df[col].astype(str) != "").all(), col
        assert df["ip_address"].str.fullmatch(r"\d{1,3}(\.\d{1,3}){3}").all()
    lg = frames["logins"]
    assert list(lg.columns) == ["login_id", "wallet_id", "timestamp", "ip_address", "success",
                                "country", "device_id"]
    assert set(lg["success"].unique()) == {0, 1}
    assert list(frames["labels"].columns) == ["transaction_id", "scenario", "variant"]


def test_ids_unique_and_known(frames, tx):
    assert tx["transaction_id"].is_unique
    assert frames["wallets"]["wallet_id"].is_unique
    assert frames["logins"]["login_id"].is_unique
    known = set(frames["wallets"]["wallet_id"])
    assert set(tx["wallet_id"]) <= known
    assert set(frames["logins"]["wallet_id"]) <= known


def test_amounts_and_types(tx):
    assert (tx["amount"] > 0).all()
    assert np.allclose(tx["amount"], tx["amount"].round(2))
    assert set(tx["type"]) == {"deposit", "transfer", "redeem"}
    assert set(tx["token"]) <= set(gen.TOKENS)


def test_sorted_and_split_by_time(frames):
    train, hold = frames["transactions"], frames["new_transactions"]
    t_train = pd.to_datetime(train["timestamp"], utc=True)
    t_hold = pd.to_datetime(hold["timestamp"], utc=True)
    assert t_train.is_monotonic_increasing and t_hold.is_monotonic_increasing
    assert t_train.max() < t_hold.min()
    start = pd.Timestamp(str(gen.START), tz="UTC")
    split = start + pd.Timedelta(days=ARGS["days"] - ARGS["holdout_days"])
    assert t_train.max() < split <= t_hold.min()
    assert t_hold.max() < start + pd.Timedelta(days=ARGS["days"])


def test_counterparties_are_known_wallets(frames, tx):
    known = set(frames["wallets"]["wallet_id"])
    transfers = tx[tx["type"] == "transfer"]
    assert transfers["counterparty_wallet_id"].notna().all()
    assert set(transfers["counterparty_wallet_id"]) <= known
    assert (transfers["counterparty_wallet_id"] != transfers["wallet_id"]).all()
    assert tx.loc[tx["type"] != "transfer", "counterparty_wallet_id"].isna().all()


def _naive(s: pd.Series) -> np.ndarray:
    return s.dt.tz_convert(None).to_numpy()


def test_activity_after_registration(frames, tx):
    reg = pd.to_datetime(frames["wallets"].set_index("wallet_id")["registration_date"], utc=True)
    assert (_naive(tx["ts"]) >= _naive(reg.reindex(tx["wallet_id"]))).all()
    t = tx[tx["type"] == "transfer"]
    assert (_naive(t["ts"]) >= _naive(reg.reindex(t["counterparty_wallet_id"]))).all()


def test_every_variant_in_both_periods(tx):
    fraud = tx[tx["variant"].notna()]
    for scenario, variants in gen.VARIANTS.items():
        assert scenario in {"rapid_transfers", "redemption_burst", "account_takeover",
                            "suspicious_deposit"} or scenario.startswith("other_")
        for v in variants:
            rows = fraud[fraud["variant"] == v]
            assert (rows["scenario"] == scenario).all()
            assert rows["holdout"].any() and (~rows["holdout"]).any(), v


def test_labels_name_existing_transactions(frames, tx):
    lab = frames["labels"]
    assert lab["transaction_id"].is_unique
    assert set(lab["transaction_id"]) <= set(tx["transaction_id"])
    pairs = {(s, v) for s, vs in gen.VARIANTS.items() for v in vs}
    assert set(map(tuple, lab[["scenario", "variant"]].to_numpy())) <= pairs


@pytest.fixture(scope="module")
def mid():
    """A larger world (about a second): fraud rate near its target, cloud ranges all in use."""
    f = gen.generate(n_wallets=1200, days=40, holdout_days=10, seed=1, fraud_rate=0.015)
    both = pd.concat([f["transactions"], f["new_transactions"]], ignore_index=True)
    return f, both.merge(f["labels"], on="transaction_id", how="left")


def test_fraud_rate_near_target(mid):
    f, _ = mid
    n = len(f["transactions"]) + len(f["new_transactions"])
    assert 0.01 <= len(f["labels"]) / n <= 0.03


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    small = {**ARGS, "n_wallets": 120, "days": 20, "holdout_days": 5}
    gen.write(gen.generate(**small), tmp_path / "a")
    gen.write(gen.generate(**small), tmp_path / "b")
    gen.write(gen.generate(**{**small, "seed": small["seed"] + 1}), tmp_path / "c")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["labels.csv", "logins.csv", "new_transactions.csv", "transactions.csv",
                     "wallets.csv"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert ((tmp_path / "a" / "transactions.csv").read_bytes()
            != (tmp_path / "c" / "transactions.csv").read_bytes())


def test_main_writes_files(tmp_path):
    rc = gen.main(["--data-dir", str(tmp_path), "--wallets", "100", "--days", "15",
                   "--holdout-days", "4", "--seed", "3"])
    assert rc == 0
    assert (tmp_path / "new_transactions.csv").exists() and (tmp_path / "logins.csv").exists()


# ---- normal traffic ------------------------------------------------------------------------

def test_normal_traffic_is_varied(tx):
    legit = tx[tx["variant"].isna()]
    med = legit.groupby("wallet_id")["amount"].median()
    assert med.max() / med.min() > 1000  # account medians span orders of magnitude
    day = legit["ts"].dt.floor("D")
    per_day = legit.groupby(day).size()
    weekend = per_day.index.day_of_week >= 5
    assert per_day[weekend].mean() < per_day[~weekend].mean()
    # legitimate traffic also holds the largest amounts
    fraud = tx[tx["variant"].notna()]
    assert legit["amount"].max() > fraud["amount"].max()
    assert (fraud["amount"] < legit["amount"].quantile(0.99)).mean() > 0.9


# ---- typologies ------------------------------------------------------------------------------

def test_structuring_deposits_sit_under_a_threshold(tx):
    for v in ("smurfing_ring", "single_structurer"):
        dep = _rows(tx, v)
        dep = dep[dep["type"] == "deposit"]
        assert len(dep)
        under = np.zeros(len(dep), dtype=bool)
        for t in gen.THRESHOLDS:
            under |= (dep["amount"] >= 0.8 * t).to_numpy() & (dep["amount"] < t).to_numpy()
        assert under.all(), v


def test_smurfing_ring_consolidates_into_a_collector(tx):
    rows = _rows(tx, "smurfing_ring")
    senders = set(rows.loc[rows["type"] == "deposit", "wallet_id"])
    out = rows[rows["type"] == "transfer"]
    assert set(out["wallet_id"]) == senders
    assert out["counterparty_wallet_id"].nunique() < len(senders)


def test_limit_skirting_withdrawals_just_under_a_limit(tx):
    rows = _rows(tx, "limit_skirting")
    assert (rows["type"] == "redeem").all()
    ok = np.zeros(len(rows), dtype=bool)
    for lim in gen.LIMITS:
        ok |= (rows["amount"] >= 0.85 * lim).to_numpy() & (rows["amount"] < lim).to_numpy()
    assert ok.all()
    assert rows.groupby("wallet_id").size().min() >= 8


def test_dormant_cashout_follows_silence(tx):
    rows = _rows(tx, "dormant_cashout")
    gap = pd.Timedelta(days=max(5.0, min(20.0, 0.3 * ARGS["days"])))
    for w, grp in rows.groupby("wallet_id"):
        t0 = grp["ts"].min()
        own = tx[(tx["wallet_id"] == w) & (tx["ts"] < t0) & (tx["ts"] >= t0 - gap)]
        assert own.empty, w
        assert (grp["type"] == "redeem").all()


def test_peel_chain_hops_forward_to_each_other(tx):
    rows = _rows(tx, "peel_chain")
    hops = set(rows["wallet_id"])
    fwd = rows[rows["type"] == "transfer"]
    assert fwd["counterparty_wallet_id"].isin(hops).mean() > 0.5
    assert (rows["type"] == "deposit").sum() >= 2


def test_fresh_account_passthrough_leaves_within_minutes(frames, tx):
    reg = pd.to_datetime(frames["wallets"].set_index("wallet_id")["registration_date"], utc=True)
    rows = _rows(tx, "fresh_account_passthrough")
    for _, dep in rows[rows["type"] == "deposit"].iterrows():
        assert dep["ts"] - reg[dep["wallet_id"]] <= pd.Timedelta(days=3)
        out = rows[(rows["wallet_id"] == dep["wallet_id"]) & (rows["type"] != "deposit")]
        assert len(out) and (out["ts"] - dep["ts"]).min() <= pd.Timedelta(minutes=30)


def test_sim_swap_new_device_no_failures(tx, logins):
    rows = _rows(tx, "sim_swap")
    victims = 0
    for (w, d), grp in rows.groupby(["wallet_id", "device_id"]):
        lg = logins[(logins["wallet_id"] == w) & (logins["device_id"] == d)]
        t0 = grp["ts"].min()
        before = lg[(lg["ts"] < t0) & (lg["ts"] >= t0 - pd.Timedelta(hours=1))]
        earlier = tx[(tx["wallet_id"] == w) & (tx["ts"] < t0)]
        if before["success"].sum() >= 2 and d not in set(earlier["device_id"]):
            victims += 1
            assert (lg["success"] == 1).all()
    assert victims >= 2


def test_credential_stuffing_follows_failed_logins(tx, logins):
    rows = _rows(tx, "credential_stuffing")
    hit = 0
    for w, grp in rows.groupby("wallet_id"):
        t0 = grp["ts"].min()
        lg = logins[(logins["wallet_id"] == w) & (logins["ts"] < t0)
                    & (logins["ts"] >= t0 - pd.Timedelta(hours=11))]
        if (lg["success"] == 0).sum() >= 8:
            hit += 1
            assert lg["ip_address"][lg["success"] == 0].nunique() >= 4
    assert hit >= 2


def test_api_key_theft_has_no_login_and_common_cloud_ranges(mid):
    f, tx = mid
    logins = f["logins"]
    rows = _rows(tx, "api_key_theft")
    seen = set(zip(logins["wallet_id"], logins["device_id"], strict=True))
    nologin = rows[[(w, d) not in seen for w, d in
                    zip(rows["wallet_id"], rows["device_id"], strict=True)]]
    assert len(nologin) >= 6
    # the thief's IP ranges are ranges that legitimate API traffic uses too
    legit = tx[tx["variant"].isna()]
    legit_nologin = legit[[(w, d) not in seen for w, d in
                           zip(legit["wallet_id"], legit["device_id"], strict=True)]]
    prefix = legit_nologin["ip_address"].str.rsplit(".", n=2).str[0]
    thief = nologin["ip_address"].str.rsplit(".", n=2).str[0]
    assert thief.isin(set(prefix)).mean() > 0.7


def test_round_tripping_returns_to_the_origin(tx):
    rows = _rows(tx, "chain_return")
    assert (rows["type"] == "transfer").all()
    assert set(rows["wallet_id"]) == set(rows["counterparty_wallet_id"])
    back = _rows(tx, "exit_reenter")
    for _, grp in back.groupby("wallet_id"):
        red, dep = grp[grp["type"] == "redeem"], grp[grp["type"] == "deposit"]
        assert len(red) and len(dep)
        assert red["ts"].max() < dep["ts"].min()


def test_wash_trading_goes_both_ways(tx):
    rows = _rows(tx, "ping_pong")
    pairs = set(zip(rows["wallet_id"], rows["counterparty_wallet_id"], strict=True))
    assert all((b, a) in pairs for a, b in pairs)
    ring = _rows(tx, "ring")
    assert set(ring["wallet_id"]) == set(ring["counterparty_wallet_id"])
