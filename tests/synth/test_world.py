"""Tests for synth.world and synth.geo: the wallets' parameters and the IP plan."""

from __future__ import annotations

import pandas as pd

from tests.synth._support import START
from wallet_monitor import synth


def test_about_two_thirds_of_wallets_are_verified(data):
    assert 0.5 <= data["wallets"]["kyc_verified"].mean() <= 0.8


def test_some_wallets_register_during_the_period(data):
    assert (data["wallets"]["registration_date"] >= START).any()
    assert (data["wallets"]["registration_date"] < START).any()


def test_each_ip_maps_to_one_country(data):
    events = pd.concat([data["tx"][["ip_address", "country"]],
                        data["logins"][["ip_address", "country"]]])
    assert (events.groupby("ip_address")["country"].nunique() == 1).all()


def test_tiny_world_still_generates(tmp_path):
    frames = synth.generate(1, 3, 1, 0, 0.1)
    assert len(frames["wallets"]) == 1
    assert (frames["transactions"]["type"] != "transfer").all()
