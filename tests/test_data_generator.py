"""Tests for data_generator.py: contract, determinism, injected fraud and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import data_generator as dg
from tests.conftest import SMALL_ARGS

ROOT = Path(dg.__file__).resolve().parent
START = pd.Timestamp(dg.DEFAULT_START)
END = START + pd.Timedelta(days=SMALL_ARGS["days"])
HOLDOUT = END - pd.Timedelta(days=SMALL_ARGS["holdout_days"])
ISO_Z = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
COLUMNS = {
    "wallets.csv": dg.WALLET_COLUMNS,
    "transactions.csv": dg.TRANSACTION_COLUMNS,
    "new_transactions.csv": dg.TRANSACTION_COLUMNS,
    "logins.csv": dg.LOGIN_COLUMNS,
    "labels.csv": dg.LABEL_COLUMNS,
}
VARIANTS = [(s, v) for s, vs in dg.SCENARIOS.items() for v in vs]


def _raw(data_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(data_dir / name, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def data(small_data_dir):
    """The written CSVs, parsed: timestamps to UTC, amounts to float."""
    wallets = pd.read_csv(small_data_dir / "wallets.csv")
    wallets["registration_date"] = pd.to_datetime(wallets["registration_date"], utc=True)
    parts = []
    for name in ("transactions.csv", "new_transactions.csv"):
        part = pd.read_csv(small_data_dir / name, dtype={"counterparty_wallet_id": str})
        part["file"] = name
        parts.append(part)
    tx = pd.concat(parts, ignore_index=True)
    tx["timestamp"] = pd.to_datetime(tx["timestamp"], utc=True)
    logins = pd.read_csv(small_data_dir / "logins.csv")
    logins["timestamp"] = pd.to_datetime(logins["timestamp"], utc=True)
    labels = pd.read_csv(small_data_dir / "labels.csv")
    tx["fraud"] = tx["transaction_id"].isin(labels["transaction_id"])
    return {"wallets": wallets.set_index("wallet_id"), "tx": tx, "logins": logins,
            "labels": labels, "by_id": tx.set_index("transaction_id")}


def _episodes(small_frames, variant: str) -> list[tuple[str, tuple[str, ...]]]:
    eps = small_frames["episodes"]
    eps = eps[eps["variant"] == variant]
    assert len(eps) > 0
    return list(zip(eps["wallet_id"], eps["transaction_ids"], strict=True))


# --- determinism -------------------------------------------------------------------------

def _write(tmp_path: Path, name: str, seed: int) -> Path:
    out = tmp_path / name
    dg.write(dg.generate(60, 8, 2, seed, 0.03), out)
    return out


def test_same_seed_gives_identical_bytes(tmp_path):
    a, b = _write(tmp_path, "a", 3), _write(tmp_path, "b", 3)
    for name in dg.FILES.values():
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_different_seed_gives_different_data(tmp_path):
    a, b = _write(tmp_path, "a", 3), _write(tmp_path, "b", 4)
    for name in dg.FILES.values():
        assert (a / name).read_bytes() != (b / name).read_bytes(), name


# --- contract ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(COLUMNS))
def test_file_has_contract_columns_in_order(small_data_dir, name):
    header = (small_data_dir / name).read_text().splitlines()[0]
    assert header.split(",") == COLUMNS[name]


@pytest.mark.parametrize("name,column", [
    ("wallets.csv", "wallet_id"), ("logins.csv", "login_id"), ("labels.csv", "transaction_id"),
])
def test_ids_are_unique(small_data_dir, name, column):
    assert _raw(small_data_dir, name)[column].is_unique


def test_transaction_ids_are_unique_across_both_periods(data):
    assert data["tx"]["transaction_id"].is_unique


@pytest.mark.parametrize("name", ["transactions.csv", "new_transactions.csv", "logins.csv"])
def test_timestamps_are_iso_utc_sorted_and_inside_the_period(small_data_dir, name):
    raw = _raw(small_data_dir, name)["timestamp"]
    assert raw.str.fullmatch(ISO_Z).all()
    ts = pd.to_datetime(raw, utc=True)
    assert ts.is_monotonic_increasing
    assert ts.min() >= START and ts.max() < END


def test_registration_dates_are_iso_utc(small_data_dir):
    assert _raw(small_data_dir, "wallets.csv")["registration_date"].str.fullmatch(ISO_Z).all()


def test_holdout_split_is_by_time(data):
    tx = data["tx"]
    train = tx.loc[tx["file"] == "transactions.csv", "timestamp"]
    new = tx.loc[tx["file"] == "new_transactions.csv", "timestamp"]
    assert train.max() < HOLDOUT <= new.min()
    assert new.max() < END


@pytest.mark.parametrize("name", ["transactions.csv", "new_transactions.csv"])
def test_amounts_are_positive_with_two_decimals(small_data_dir, name):
    raw = _raw(small_data_dir, name)["amount"]
    assert raw.str.fullmatch(r"\d+\.\d\d").all()
    assert (raw.astype(float) > 0).all()


@pytest.mark.parametrize("column,allowed", [
    ("type", {"deposit", "transfer", "redeem"}),
    ("token", set(dg.TOKENS)),
    ("country", set(dg.COUNTRIES)),
])
def test_transaction_categories_are_known(data, column, allowed):
    assert set(data["tx"][column]) <= allowed


def test_flags_and_countries_are_valid(data):
    assert set(data["wallets"]["kyc_verified"]) == {0, 1}
    assert set(data["logins"]["success"]) == {0, 1}
    assert set(data["wallets"]["home_country"]) <= set(dg.COUNTRIES)
    assert set(data["logins"]["country"]) <= set(dg.COUNTRIES)


def test_about_two_thirds_of_wallets_are_verified(data):
    assert 0.5 <= data["wallets"]["kyc_verified"].mean() <= 0.8


def test_counterparties_are_real_other_wallets_and_only_on_transfers(data):
    tx = data["tx"]
    transfer = tx["type"] == "transfer"
    cp = tx["counterparty_wallet_id"]
    assert cp[~transfer].isna().all()
    assert cp[transfer].isin(data["wallets"].index).all()
    assert (cp[transfer] != tx.loc[transfer, "wallet_id"]).all()


def test_every_event_belongs_to_a_wallet_registered_before_it(data):
    reg = data["wallets"]["registration_date"]
    for events in (data["tx"], data["logins"]):
        assert events["wallet_id"].isin(reg.index).all()
        assert (events["timestamp"] >= events["wallet_id"].map(reg)).all()


def test_each_ip_maps_to_one_country(data):
    events = pd.concat([data["tx"][["ip_address", "country"]],
                        data["logins"][["ip_address", "country"]]])
    assert (events.groupby("ip_address")["country"].nunique() == 1).all()


def test_some_wallets_register_during_the_period(data):
    assert (data["wallets"]["registration_date"] >= START).any()
    assert (data["wallets"]["registration_date"] < START).any()


# --- labels ------------------------------------------------------------------------------

def test_labels_refer_to_transactions_with_known_scenarios(data):
    labels = data["labels"]
    assert labels["transaction_id"].isin(data["tx"]["transaction_id"]).all()
    assert set(labels["scenario"]) == set(dg.SCENARIOS)


@pytest.mark.parametrize("name", ["transactions.csv", "new_transactions.csv"])
def test_labels_never_appear_in_transaction_files(small_data_dir, name):
    text = (small_data_dir / name).read_text()
    for word in [*dg.SCENARIOS, "scenario", "fraud", "label"]:
        assert word not in text


def test_labels_are_exactly_the_injected_transactions(data, small_frames):
    eps = small_frames["episodes"]
    injected = {t: s for s, ids in zip(eps["scenario"], eps["transaction_ids"], strict=True)
                for t in ids}
    assert dict(zip(data["labels"]["transaction_id"], data["labels"]["scenario"],
                    strict=True)) == injected


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05])
def test_fraud_share_follows_the_requested_rate(rate):
    frames = dg.generate(300, 20, 5, 11, rate)
    n_tx = len(frames["transactions"]) + len(frames["new_transactions"])
    share = len(frames["labels"]) / n_tx
    assert rate * 0.8 <= share <= rate * 1.3 + 1e-9


def test_default_rate_is_one_to_two_percent():
    assert 0.01 <= dg.DEFAULT_FRAUD_RATE <= 0.02


@pytest.mark.parametrize("period", ["transactions.csv", "new_transactions.csv"])
@pytest.mark.parametrize("scenario,variant", VARIANTS)
def test_every_variant_is_injected_in_both_periods(data, small_frames, period, scenario,
                                                   variant):
    files = {data["by_id"].loc[ids[0], "file"] for _, ids in _episodes(small_frames, variant)}
    assert period in files


# --- the property that defines each fraud variant ----------------------------------------

def test_mule_chain_hops_forward_most_of_the_amount_within_minutes(data, small_frames):
    for wallet, ids in _episodes(small_frames, "mule_chain"):
        rows = data["by_id"].loc[list(ids)]
        assert rows["type"].iloc[0] == "deposit" and rows["wallet_id"].iloc[0] == wallet
        hops = rows[rows["type"] == "transfer"]
        assert len(hops) >= 2
        assert (hops["wallet_id"].iloc[1:].to_numpy()
                == hops["counterparty_wallet_id"].iloc[:-1].to_numpy()).all()
        gaps = rows["timestamp"].diff().dropna()
        assert (gaps > pd.Timedelta(0)).all() and (gaps <= pd.Timedelta(minutes=15)).all()
        ratio = rows["amount"].iloc[1:].to_numpy() / rows["amount"].iloc[:-1].to_numpy()
        assert ((ratio >= 0.845) & (ratio <= 0.985)).all()


def test_fan_out_goes_to_many_never_seen_counterparties_within_an_hour(data, small_frames):
    tx = data["tx"]
    for wallet, ids in _episodes(small_frames, "fan_out"):
        rows = data["by_id"].loc[list(ids)]
        out = rows[rows["type"] == "transfer"]
        assert out["counterparty_wallet_id"].nunique() >= 6
        assert out["timestamp"].max() - out["timestamp"].min() <= pd.Timedelta(hours=1)
        earlier = tx[(tx["wallet_id"] == wallet) & (tx["timestamp"] < out["timestamp"].min())]
        assert not set(out["counterparty_wallet_id"]) & set(earlier["counterparty_wallet_id"])


def test_redemption_burst_is_many_redemptions_within_hours(data, small_frames):
    for _, ids in _episodes(small_frames, "burst"):
        rows = data["by_id"].loc[list(ids)]
        assert (rows["type"] == "redeem").all() and len(rows) >= 6
        assert rows["timestamp"].max() - rows["timestamp"].min() <= pd.Timedelta(hours=4)


def test_large_redemption_is_far_above_the_wallets_norm(data, small_frames):
    legit = data["tx"][~data["tx"]["fraud"]]
    median = legit.groupby("wallet_id")["amount"].median()
    for wallet, ids in _episodes(small_frames, "large"):
        rows = data["by_id"].loc[list(ids)]
        assert (rows["type"] == "redeem").all()
        assert (rows["amount"] >= 10 * median[wallet]).all()


def _takeover_login(data, wallet, first_drain):
    """The successful login that opened a takeover: same wallet and IP, within an hour."""
    lg = data["logins"]
    hit = lg[(lg["wallet_id"] == wallet) & (lg["success"] == 1)
             & (lg["ip_address"] == first_drain["ip_address"])
             & (lg["timestamp"] <= first_drain["timestamp"])
             & (lg["timestamp"] >= first_drain["timestamp"] - pd.Timedelta(hours=1))]
    assert len(hit) == 1
    return hit.iloc[0]


@pytest.mark.parametrize("variant", ["failed_logins", "new_location"])
def test_takeover_drains_follow_a_login_from_abroad_on_a_new_ip_and_device(
        data, small_frames, variant):
    lg = data["logins"]
    for wallet, ids in _episodes(small_frames, variant):
        rows = data["by_id"].loc[list(ids)].sort_values("timestamp")
        login = _takeover_login(data, wallet, rows.iloc[0])
        assert login["country"] != data["wallets"].loc[wallet, "home_country"]
        assert (rows["ip_address"] == login["ip_address"]).all()
        assert (rows["device_id"] == login["device_id"]).all()
        before = lg[(lg["wallet_id"] == wallet) & (lg["timestamp"] < login["timestamp"])
                    & (lg["ip_address"] != login["ip_address"])]
        assert login["device_id"] not in set(before["device_id"])
        assert login["ip_address"] not in set(before["ip_address"])


def test_failed_login_takeover_starts_with_a_burst_of_failures(data, small_frames):
    lg = data["logins"]
    for wallet, ids in _episodes(small_frames, "failed_logins"):
        login = _takeover_login(data, wallet, data["by_id"].loc[list(ids)].iloc[0])
        failed = lg[(lg["wallet_id"] == wallet) & (lg["success"] == 0)
                    & (lg["ip_address"] == login["ip_address"])]
        assert len(failed) >= 3
        assert (failed["timestamp"] < login["timestamp"]).all()
        assert login["timestamp"] - failed["timestamp"].min() <= pd.Timedelta(minutes=30)


def test_new_location_takeover_is_impossible_travel_without_failed_logins(data, small_frames):
    lg = data["logins"]
    code = {c: i for i, c in enumerate(dg.COUNTRIES)}
    for wallet, ids in _episodes(small_frames, "new_location"):
        login = _takeover_login(data, wallet, data["by_id"].loc[list(ids)].iloc[0])
        mine = lg[lg["wallet_id"] == wallet]
        assert not ((mine["ip_address"] == login["ip_address"]) & (mine["success"] == 0)).any()
        prev = mine[mine["timestamp"] < login["timestamp"]].iloc[-1]
        hours = (login["timestamp"] - prev["timestamp"]) / pd.Timedelta(hours=1)
        assert prev["country"] != login["country"]
        assert hours < dg.TRAVEL_HOURS[code[prev["country"]], code[login["country"]]]


def test_structuring_deposits_sit_just_under_the_threshold_within_two_days(data, small_frames):
    for _, ids in _episodes(small_frames, "structuring"):
        rows = data["by_id"].loc[list(ids)]
        assert (rows["type"] == "deposit").all() and len(rows) >= 5
        assert rows["amount"].between(8000, dg.STRUCTURING_THRESHOLD, inclusive="left").all()
        assert rows["timestamp"].max() - rows["timestamp"].min() <= pd.Timedelta(hours=48)


def test_pass_through_deposit_into_young_or_unverified_wallet_leaves_within_the_hour(
        data, small_frames):
    for wallet, ids in _episodes(small_frames, "pass_through"):
        rows = data["by_id"].loc[list(ids)]
        dep, out = rows.iloc[0], rows.iloc[1:]
        assert dep["type"] == "deposit" and len(out) >= 1
        assert (out["type"] != "deposit").all()
        assert (out["timestamp"] - dep["timestamp"] <= pd.Timedelta(hours=1)).all()
        assert out["amount"].sum() >= 0.85 * dep["amount"]
        w = data["wallets"].loc[wallet]
        young = dep["timestamp"] - w["registration_date"] <= pd.Timedelta(days=14)
        assert young or w["kyc_verified"] == 0


# --- legitimate traffic shares the signals fraud shows -----------------------------------

def _legit_abroad(data):
    legit = data["tx"][~data["tx"]["fraud"]]
    return legit["country"] != legit["wallet_id"].map(data["wallets"]["home_country"])


def _legit_large(data):
    legit = data["tx"][~data["tx"]["fraud"]]
    med = legit.groupby("wallet_id")["amount"].transform("median")
    return legit["amount"] >= 10 * med


def _legit_near_threshold_or_big_deposit(data):
    legit = data["tx"][~data["tx"]["fraud"]]
    return (legit["type"] == "deposit") & (legit["amount"] >= 3000)


def _legit_failed_login(data):
    lg = data["logins"]
    fraud_wallets = set(data["tx"].loc[data["tx"]["fraud"], "wallet_id"])
    return (lg["success"] == 0) & ~lg["wallet_id"].isin(fraud_wallets)


def _legit_young_unverified_active(data):
    w = data["wallets"]
    young = w.index[(w["registration_date"] >= START) & (w["kyc_verified"] == 0)]
    legit = data["tx"][~data["tx"]["fraud"]]
    return legit["wallet_id"].isin(young)


@pytest.mark.parametrize("signal", [_legit_abroad, _legit_large,
                                    _legit_near_threshold_or_big_deposit, _legit_failed_login,
                                    _legit_young_unverified_active])
def test_legitimate_traffic_also_shows_signals_fraud_shows(data, signal):
    assert signal(data).sum() >= 3


def test_activity_ranges_from_dormant_to_very_active(data):
    per_day = data["tx"].groupby("wallet_id").size() / SMALL_ARGS["days"]
    per_day = per_day.reindex(data["wallets"].index, fill_value=0)
    assert per_day.min() < 0.2 and per_day.max() > 20


def test_transfers_mostly_go_to_repeat_counterparties(data):
    legit = data["tx"][(~data["tx"]["fraud"]) & (data["tx"]["type"] == "transfer")]
    pairs = legit.groupby(["wallet_id", "counterparty_wallet_id"]).size()
    assert pairs[pairs > 1].sum() / pairs.sum() > 0.7


# --- arguments and CLI -------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"n_wallets": 0}, {"days": 0}, {"holdout_days": 0}, {"holdout_days": 20},
    {"fraud_rate": -0.01}, {"fraud_rate": 0.21},
])
def test_generate_rejects_bad_arguments(kwargs):
    args = {**SMALL_ARGS, **kwargs}
    with pytest.raises(ValueError):
        dg.generate(**args)


def test_tiny_world_still_generates(tmp_path):
    frames = dg.generate(1, 3, 1, 0, 0.1)
    assert len(frames["wallets"]) == 1
    assert (frames["transactions"]["type"] != "transfer").all()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "data_generator.py"), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args,needle", [
    (["--wallets", "0"], "--wallets"),
    (["--days", "0"], "--days"),
    (["--days", "10", "--holdout-days", "10"], "--holdout-days"),
    (["--holdout-days", "0"], "--holdout-days"),
    (["--fraud-rate", "0.5"], "--fraud-rate"),
    (["--fraud-rate", "-0.1"], "--fraud-rate"),
    (["--wallets", "many"], "--wallets"),
])
def test_cli_bad_argument_exits_2_with_one_line(tmp_path, args, needle):
    result = _cli(*args, "--data-dir", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("data_generator.py: error:") and needle in lines[0]
    assert not any(tmp_path.iterdir())


def test_cli_writes_the_five_files(tmp_path):
    result = _cli("--wallets", "40", "--days", "6", "--holdout-days", "2", "--seed", "1",
                  "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(dg.FILES.values())
    assert "labels.csv" in result.stderr and "done in" in result.stderr


def test_cli_help_works():
    result = _cli("--help")
    assert result.returncode == 0 and "--holdout-days" in result.stdout
