"""Tests for synth.output: the written files follow the data contract."""

from __future__ import annotations

import iptocc
import pandas as pd
import pytest

from tests.synth._support import END, HOLDOUT, ISO_Z, START, raw_csv
from wallet_monitor import synth

COLUMNS = {
    "wallets.csv": synth.WALLET_COLUMNS,
    "transactions.csv": synth.TRANSACTION_COLUMNS,
    "new_transactions.csv": synth.TRANSACTION_COLUMNS,
    "logins.csv": synth.LOGIN_COLUMNS,
    "labels.csv": synth.LABEL_COLUMNS,
}


@pytest.mark.parametrize("name", list(COLUMNS))
def test_file_has_contract_columns_in_order(small_data_dir, name):
    header = (small_data_dir / name).read_text().splitlines()[0]
    assert header.split(",") == COLUMNS[name]


@pytest.mark.parametrize("name,column", [
    ("wallets.csv", "wallet_id"), ("logins.csv", "login_id"), ("labels.csv", "transaction_id"),
])
def test_ids_are_unique(small_data_dir, name, column):
    assert raw_csv(small_data_dir, name)[column].is_unique


def test_transaction_ids_are_unique_across_both_periods(data):
    assert data["tx"]["transaction_id"].is_unique


@pytest.mark.parametrize("name", ["transactions.csv", "new_transactions.csv", "logins.csv"])
def test_timestamps_are_iso_utc_sorted_and_inside_the_period(small_data_dir, name):
    raw = raw_csv(small_data_dir, name)["timestamp"]
    assert raw.str.fullmatch(ISO_Z).all()
    ts = pd.to_datetime(raw, utc=True)
    assert ts.is_monotonic_increasing
    assert ts.min() >= START and ts.max() < END


def test_registration_dates_are_iso_utc(small_data_dir):
    assert raw_csv(small_data_dir, "wallets.csv")["registration_date"].str.fullmatch(ISO_Z).all()


def test_holdout_split_is_by_time(data):
    tx = data["tx"]
    train = tx.loc[tx["file"] == "transactions.csv", "timestamp"]
    new = tx.loc[tx["file"] == "new_transactions.csv", "timestamp"]
    assert train.max() < HOLDOUT <= new.min()
    assert new.max() < END


@pytest.mark.parametrize("name", ["transactions.csv", "new_transactions.csv"])
def test_amounts_are_positive_with_two_decimals(small_data_dir, name):
    raw = raw_csv(small_data_dir, name)["amount"]
    assert raw.str.fullmatch(r"\d+\.\d\d").all()
    assert (raw.astype(float) > 0).all()


@pytest.mark.parametrize("column,allowed", [
    ("type", {"deposit", "transfer", "redeem"}),
    ("token", set(synth.TOKENS)),
    ("country", set(synth.COUNTRIES)),
])
def test_transaction_categories_are_known(data, column, allowed):
    assert set(data["tx"][column]) <= allowed


def test_flags_and_countries_are_valid(data):
    assert set(data["wallets"]["kyc_verified"]) == {0, 1}
    assert set(data["logins"]["success"]) == {0, 1}
    assert set(data["wallets"]["home_country"]) <= set(synth.COUNTRIES)
    assert set(data["logins"]["country"]) <= set(synth.COUNTRIES)


def test_every_address_is_a_real_one_of_its_country_at_home_abroad_and_in_fraud(data):
    # Read through the library directly: the generator's own plan, not the feature code.
    tx, logins = data["tx"], data["logins"]
    for frame in (tx, logins):
        assert iptocc.country_code(frame["ip_address"].tolist()) == frame["country"].tolist()
    home = data["wallets"]["home_country"]
    abroad = tx["country"].to_numpy() != home.loc[tx["wallet_id"]].to_numpy()
    # Trips, VPN exits and attackers: away from home, in legitimate traffic and in fraud.
    assert abroad[~tx["fraud"].to_numpy()].sum() > 20 and abroad[tx["fraud"].to_numpy()].sum() > 0
    assert tx["ip_address"].nunique() > 100


@pytest.mark.parametrize("name", ["transactions.csv", "new_transactions.csv"])
def test_labels_never_appear_in_transaction_files(small_data_dir, name):
    text = (small_data_dir / name).read_text()
    for word in [*synth.SCENARIOS, "scenario", "fraud", "label"]:
        assert word not in text
