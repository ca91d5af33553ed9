"""Tests for synth.activity: legitimate traffic, realistic and sharing the signals of fraud."""

from __future__ import annotations

import pytest

from tests.conftest import SMALL_ARGS
from tests.synth._support import START


def test_every_event_belongs_to_a_wallet_registered_before_it(data):
    reg = data["wallets"]["registration_date"]
    for events in (data["tx"], data["logins"]):
        assert events["wallet_id"].isin(reg.index).all()
        assert (events["timestamp"] >= events["wallet_id"].map(reg)).all()


def test_counterparties_are_real_other_wallets_and_only_on_transfers(data):
    tx = data["tx"]
    transfer = tx["type"] == "transfer"
    cp = tx["counterparty_wallet_id"]
    assert cp[~transfer].isna().all()
    assert cp[transfer].isin(data["wallets"].index).all()
    assert (cp[transfer] != tx.loc[transfer, "wallet_id"]).all()


def test_activity_ranges_from_dormant_to_very_active(data):
    per_day = data["tx"].groupby("wallet_id").size() / SMALL_ARGS["days"]
    per_day = per_day.reindex(data["wallets"].index, fill_value=0)
    assert per_day.min() < 0.2 and per_day.max() > 20


def test_transfers_mostly_go_to_repeat_counterparties(data):
    legit = data["tx"][(~data["tx"]["fraud"]) & (data["tx"]["type"] == "transfer")]
    pairs = legit.groupby(["wallet_id", "counterparty_wallet_id"]).size()
    assert pairs[pairs > 1].sum() / pairs.sum() > 0.7


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
