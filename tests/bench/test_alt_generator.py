"""bench/alt_generator.py: contract conformance, determinism, every fraud variant present."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import load_bench

ag = load_bench("alt_generator")

ARGS = ["--wallets", "120", "--days", "10", "--holdout-days", "3", "--seed", "5"]
DAYS, HOLDOUT = 10, 3
START = pd.Timestamp("2025-03-03", tz="UTC")
SPLIT = START + pd.Timedelta(days=DAYS - HOLDOUT)
END = START + pd.Timedelta(days=DAYS)

COLUMNS = {
    "wallets.csv": ["wallet_id", "kyc_verified", "registration_date", "home_country"],
    "transactions.csv": ["transaction_id", "wallet_id", "timestamp", "amount", "type",
                         "ip_address", "counterparty_wallet_id", "token", "country", "device_id"],
    "new_transactions.csv": ["transaction_id", "wallet_id", "timestamp", "amount", "type",
                             "ip_address", "counterparty_wallet_id", "token", "country",
                             "device_id"],
    "logins.csv": ["login_id", "wallet_id", "timestamp", "ip_address", "success", "country",
                   "device_id"],
    "labels.csv": ["transaction_id", "scenario"],
}


def _ts(col: pd.Series) -> pd.Series:
    return pd.to_datetime(col, utc=True, format="ISO8601")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("alt")
    assert ag.main([*ARGS, "--data-dir", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def d(data_dir):
    frames = {name: pd.read_csv(data_dir / name, dtype={"kyc_verified": str})
              for name in COLUMNS}
    for name in ("transactions.csv", "new_transactions.csv", "logins.csv"):
        frames[name]["ts"] = _ts(frames[name]["timestamp"])
    frames["tx"] = pd.concat([frames["transactions.csv"], frames["new_transactions.csv"]],
                             ignore_index=True)
    frames["tx"]["scenario"] = frames["tx"]["transaction_id"].map(
        frames["labels.csv"].set_index("transaction_id")["scenario"])
    frames["tx"]["variant"] = frames["tx"]["transaction_id"].map(
        frames["labels.csv"].set_index("transaction_id")["variant"])
    return frames


@pytest.mark.parametrize("name", list(COLUMNS))
def test_file_has_every_contract_column(d, name):
    assert set(COLUMNS[name]) <= set(d[name].columns)


def test_transaction_ids_unique_across_both_periods(d):
    assert d["tx"]["transaction_id"].is_unique
    assert d["logins.csv"]["login_id"].is_unique
    assert d["wallets.csv"]["wallet_id"].is_unique


def test_amounts_positive_and_types_known(d):
    tx = d["tx"]
    assert (tx["amount"] > 0).all()
    assert set(tx["type"]) == {"deposit", "transfer", "redeem"}
    assert tx.loc[tx["type"] == "transfer", "counterparty_wallet_id"].notna().all()
    assert tx.loc[tx["type"] != "transfer", "counterparty_wallet_id"].isna().all()


def test_holdout_split_by_time(d):
    train, new = d["transactions.csv"]["ts"], d["new_transactions.csv"]["ts"]
    assert train.min() >= START and train.max() < SPLIT
    assert new.min() >= SPLIT and new.max() < END


def test_timestamps_mix_iso_spellings_of_sorted_instants(d):
    raw = d["transactions.csv"]["timestamp"]
    assert raw.str.endswith("Z").any()
    assert raw.str.endswith("+00:00").any()
    assert raw.str.match(r".*T\d\d:\d\d:\d\d$").any()  # no offset: UTC per the spec
    assert raw.str.match(r".*[+-](?!00:00)\d\d:\d\d$").any()  # a real local offset
    assert d["transactions.csv"]["ts"].is_monotonic_increasing


def test_every_wallet_and_counterparty_is_in_wallets(d):
    ids = set(d["wallets.csv"]["wallet_id"])
    assert set(d["tx"]["wallet_id"]) <= ids
    assert set(d["tx"]["counterparty_wallet_id"].dropna()) <= ids
    assert set(d["logins.csv"]["wallet_id"]) <= ids


def test_registration_precedes_every_event(d):
    reg = _ts(d["wallets.csv"].set_index("wallet_id")["registration_date"])
    events = pd.concat([d["tx"][["wallet_id", "ts"]], d["logins.csv"][["wallet_id", "ts"]]])
    first = events.groupby("wallet_id")["ts"].min()
    assert (reg.reindex(first.index) <= first).all()


def test_categorical_columns_are_well_formed(d):
    assert set(d["wallets.csv"]["kyc_verified"]) == {"true", "false"}
    assert set(d["logins.csv"]["success"]) == {0, 1}
    for col in (d["tx"]["country"], d["wallets.csv"]["home_country"], d["logins.csv"]["country"]):
        assert col.str.fullmatch(r"[A-Z]{2}").all()
    assert d["tx"]["ip_address"].str.contains(":").any()  # some IPv6


def test_labels_name_transactions_and_spec_scenarios(d):
    labels = d["labels.csv"]
    assert labels["transaction_id"].is_unique
    assert labels["transaction_id"].isin(d["tx"]["transaction_id"]).all()
    assert set(labels["scenario"]) == set(ag.SCENARIOS)


@pytest.mark.parametrize("period", ["transactions.csv", "new_transactions.csv"])
@pytest.mark.parametrize("scenario,variant",
                         [(s, v) for s, vs in ag.VARIANTS.items() for v in vs])
def test_every_variant_is_in_both_periods(d, period, scenario, variant):
    labels = d["labels.csv"]
    ids = labels.loc[(labels["scenario"] == scenario) & (labels["variant"] == variant),
                     "transaction_id"]
    assert ids.isin(d[period]["transaction_id"]).any()


def test_smurfing_deposits_sit_just_under_a_threshold(d):
    tx = d["tx"]
    dep = tx.loc[(tx["variant"] == "smurfing") & (tx["type"] == "deposit"), "amount"]
    under = np.zeros(len(dep), dtype=bool)
    for threshold in ag.REPORTING_THRESHOLDS:
        under |= (dep >= 0.9 * threshold) & (dep < threshold)
    assert len(dep) > 0 and under.all()


def test_credential_stuffing_follows_failed_logins_from_the_drain_country(d):
    tx, lg = d["tx"], d["logins.csv"]
    drains = tx[tx["variant"] == "credential_stuffing"]
    first = drains.groupby("wallet_id").agg(ts=("ts", "min"), country=("country", "first"))
    for wallet, row in first.iterrows():
        before = lg[(lg["wallet_id"] == wallet) & (lg["ts"] <= row["ts"])
                    & (lg["ts"] > row["ts"] - pd.Timedelta(hours=10))
                    & (lg["country"] == row["country"])]
        assert (before["success"] == 0).sum() >= 3 and (before["success"] == 1).any()


def test_session_hijack_has_no_login_from_its_ip(d):
    tx, lg = d["tx"], d["logins.csv"]
    hijack = tx[tx["variant"] == "session_hijack"]
    assert len(hijack) > 0
    pairs = set(zip(lg["wallet_id"], lg["ip_address"], strict=True))
    assert not any((w, ip) in pairs for w, ip in zip(hijack["wallet_id"], hijack["ip_address"],
                                                     strict=True))


def test_peel_chain_forwards_most_of_each_hop(d):
    tx = d["tx"]
    hops = tx[(tx["variant"] == "peel_chain") & (tx["type"] == "transfer")]
    # Per sending wallet and hop, the forward is the larger transfer and carries 85-95 %.
    big = hops.groupby(["wallet_id", hops["ts"].dt.floor("15min")])["amount"].agg(["max", "sum"])
    share = big["max"] / big["sum"]
    assert len(share) > 0 and (share >= 0.84).mean() > 0.8


def test_normal_traffic_holds_confounders(d):
    tx, lg = d["tx"], d["logins.csv"]
    legit = tx[tx["scenario"].isna()]
    home = d["wallets.csv"].set_index("wallet_id")["home_country"]
    assert (legit["country"] != legit["wallet_id"].map(home)).any()  # travel
    failed = lg[lg["success"] == 0]
    assert failed["wallet_id"].isin(legit["wallet_id"]).any()  # typos
    # Payroll: one wallet paying many distinct counterparties within half an hour.
    tr = legit[legit["type"] == "transfer"]
    fan = tr.groupby(["wallet_id", tr["ts"].dt.floor("30min")])["counterparty_wallet_id"].nunique()
    assert fan.max() >= 8


def test_fraud_rate_near_target_on_a_larger_world():
    frames = ag.generate(400, 20, 5, seed=3, fraud_rate=0.015)
    n = len(frames["transactions"]) + len(frames["new_transactions"])
    assert 0.01 <= len(frames["labels"]) / n <= 0.025


def test_same_seed_same_bytes_other_seed_differs(data_dir, tmp_path):
    ag.main([*ARGS, "--data-dir", str(tmp_path / "a")])
    ag.main([*ARGS[:-1], "6", "--data-dir", str(tmp_path / "b")])
    for name in COLUMNS:
        assert (tmp_path / "a" / name).read_bytes() == (data_dir / name).read_bytes()
    assert (tmp_path / "b" / "transactions.csv").read_bytes() != (
        data_dir / "transactions.csv").read_bytes()


@pytest.mark.parametrize("bad", [["--wallets", "5"], ["--days", "5", "--holdout-days", "4"],
                                 ["--fraud-rate", "0.5"]])
def test_bad_arguments_exit_2(tmp_path, capsys, bad):
    with pytest.raises(SystemExit) as exc:
        ag.main([*bad, "--data-dir", str(tmp_path)])
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err
