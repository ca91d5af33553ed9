"""Tests for synth.scenarios: the registry, the labels and the property defining each variant."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.synth._support import episodes_of
from wallet_monitor import synth
from wallet_monitor.synth.scenarios import REGISTRY, SCENARIOS

VARIANTS = [(s, v) for s, vs in synth.SCENARIOS.items() for v in vs]


# --- the registry ------------------------------------------------------------------------

def test_registry_holds_the_eight_variants_under_the_four_scenarios():
    expected = {
        "rapid_transfers": ("mule_chain", "fan_out"),
        "redemption_burst": ("burst", "large"),
        "account_takeover": ("failed_logins", "new_location"),
        "suspicious_deposit": ("structuring", "pass_through"),
    }
    assert list(SCENARIOS.items()) == list(expected.items())  # order drives the injection
    assert list(REGISTRY) == [v for vs in expected.values() for v in vs]
    for scenario, variants in expected.items():
        for variant in variants:
            entry = REGISTRY[variant]
            assert (entry.scenario, entry.variant) == (scenario, variant)
            assert callable(entry.inject)


def test_registering_a_variant_twice_is_refused():
    with pytest.raises(ValueError, match="mule_chain"):
        synth.scenario("rapid_transfers", "mule_chain")(lambda inj, lo, hi: None)
    assert REGISTRY["mule_chain"].inject.__name__ == "mule_chain"


# --- labels ------------------------------------------------------------------------------

def test_labels_refer_to_transactions_with_known_scenarios(data):
    labels = data["labels"]
    assert labels["transaction_id"].isin(data["tx"]["transaction_id"]).all()
    assert set(labels["scenario"]) == set(synth.SCENARIOS)


def test_labels_are_exactly_the_injected_transactions(data, small_frames):
    eps = small_frames["episodes"]
    injected = {t: s for s, ids in zip(eps["scenario"], eps["transaction_ids"], strict=True)
                for t in ids}
    assert dict(zip(data["labels"]["transaction_id"], data["labels"]["scenario"],
                    strict=True)) == injected


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05])
def test_fraud_share_follows_the_requested_rate(rate):
    frames = synth.generate(300, 20, 5, 11, rate)
    n_tx = len(frames["transactions"]) + len(frames["new_transactions"])
    share = len(frames["labels"]) / n_tx
    assert rate * 0.8 <= share <= rate * 1.3 + 1e-9


@pytest.mark.parametrize("period", ["transactions.csv", "new_transactions.csv"])
@pytest.mark.parametrize("scenario,variant", VARIANTS)
def test_every_variant_is_injected_in_both_periods(data, small_frames, period, scenario,
                                                   variant):
    files = {data["by_id"].loc[ids[0], "file"] for _, ids in episodes_of(small_frames, variant)}
    assert period in files


# --- the property that defines each fraud variant ----------------------------------------

def test_mule_chain_hops_forward_most_of_the_amount_within_minutes(data, small_frames):
    for wallet, ids in episodes_of(small_frames, "mule_chain"):
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
    for wallet, ids in episodes_of(small_frames, "fan_out"):
        rows = data["by_id"].loc[list(ids)]
        out = rows[rows["type"] == "transfer"]
        assert out["counterparty_wallet_id"].nunique() >= 6
        assert out["timestamp"].max() - out["timestamp"].min() <= pd.Timedelta(hours=1)
        earlier = tx[(tx["wallet_id"] == wallet) & (tx["timestamp"] < out["timestamp"].min())]
        assert not set(out["counterparty_wallet_id"]) & set(earlier["counterparty_wallet_id"])


def test_redemption_burst_is_many_redemptions_within_hours(data, small_frames):
    for _, ids in episodes_of(small_frames, "burst"):
        rows = data["by_id"].loc[list(ids)]
        assert (rows["type"] == "redeem").all() and len(rows) >= 6
        assert rows["timestamp"].max() - rows["timestamp"].min() <= pd.Timedelta(hours=4)


def test_large_redemption_is_far_above_the_wallets_norm(data, small_frames):
    legit = data["tx"][~data["tx"]["fraud"]]
    median = legit.groupby("wallet_id")["amount"].median()
    for wallet, ids in episodes_of(small_frames, "large"):
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
    for wallet, ids in episodes_of(small_frames, variant):
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
    for wallet, ids in episodes_of(small_frames, "failed_logins"):
        login = _takeover_login(data, wallet, data["by_id"].loc[list(ids)].iloc[0])
        failed = lg[(lg["wallet_id"] == wallet) & (lg["success"] == 0)
                    & (lg["ip_address"] == login["ip_address"])]
        assert len(failed) >= 3
        assert (failed["timestamp"] < login["timestamp"]).all()
        assert login["timestamp"] - failed["timestamp"].min() <= pd.Timedelta(minutes=30)


def test_new_location_takeover_is_impossible_travel_without_failed_logins(data, small_frames):
    lg = data["logins"]
    code = {c: i for i, c in enumerate(synth.COUNTRIES)}
    for wallet, ids in episodes_of(small_frames, "new_location"):
        login = _takeover_login(data, wallet, data["by_id"].loc[list(ids)].iloc[0])
        mine = lg[lg["wallet_id"] == wallet]
        assert not ((mine["ip_address"] == login["ip_address"]) & (mine["success"] == 0)).any()
        prev = mine[mine["timestamp"] < login["timestamp"]].iloc[-1]
        hours = (login["timestamp"] - prev["timestamp"]) / pd.Timedelta(hours=1)
        assert prev["country"] != login["country"]
        assert hours < synth.TRAVEL_HOURS[code[prev["country"]], code[login["country"]]]


def test_structuring_deposits_sit_just_under_the_threshold_within_two_days(data, small_frames):
    for _, ids in episodes_of(small_frames, "structuring"):
        rows = data["by_id"].loc[list(ids)]
        assert (rows["type"] == "deposit").all() and len(rows) >= 5
        assert rows["amount"].between(8000, synth.STRUCTURING_THRESHOLD, inclusive="left").all()
        assert rows["timestamp"].max() - rows["timestamp"].min() <= pd.Timedelta(hours=48)


def test_pass_through_deposit_into_young_or_unverified_wallet_leaves_within_the_hour(
        data, small_frames):
    for wallet, ids in episodes_of(small_frames, "pass_through"):
        rows = data["by_id"].loc[list(ids)]
        dep, out = rows.iloc[0], rows.iloc[1:]
        assert dep["type"] == "deposit" and len(out) >= 1
        assert (out["type"] != "deposit").all()
        assert (out["timestamp"] - dep["timestamp"] <= pd.Timedelta(hours=1)).all()
        assert out["amount"].sum() >= 0.85 * dep["amount"]
        w = data["wallets"].loc[wallet]
        young = dep["timestamp"] - w["registration_date"] <= pd.Timedelta(days=14)
        assert young or w["kyc_verified"] == 0
