"""build_features: hand-checked values, row order, missing columns, generated data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tests.features._support import HAND_WALLETS
from wallet_monitor.features import (
    FEATURE_LABELS,
    FEATURE_NAMES,
    LOOKBACK,
    build_features,
    load_logins,
    load_transactions,
    load_wallets,
)
from wallet_monitor.features import compute as feature_compute
from wallet_monitor.features import context as feature_context
from wallet_monitor.features.geo import CENTROIDS, haversine_km
from wallet_monitor.schema import TX_REQUIRED

LOOKBACK_S = LOOKBACK.total_seconds()


CAP = math.log1p(LOOKBACK_S)  # "time since" when there is nothing in the look-back


CAP_MIN = math.log1p(LOOKBACK_S / 60)


def _tx(rows, columns=None):
    cols = columns or [
        "transaction_id", "wallet_id", "timestamp", "amount", "type", "ip_address",
        "counterparty_wallet_id", "country", "device_id",
    ]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df


# Wallet A: deposit 100 (US), transfer 50 to B, then a redeem of 200 from France 20 minutes
# later, after a failed and a successful login from the new IP in France. Wallet B receives
# A's transfer, deposits 10, then forwards 40 to C.
HAND_TX = _tx(
    [
        ("t1", "A", "2026-01-01T10:00:00Z", 100.0, "deposit", "ip1", None, "US", "d1"),
        ("t2", "A", "2026-01-01T10:20:00Z", 50.0, "transfer", "ip1", "B", "US", "d1"),
        ("t3", "A", "2026-01-01T10:40:00Z", 200.0, "redeem", "ip2", None, "FR", "d2"),
        ("t4", "B", "2026-01-01T10:30:00Z", 10.0, "deposit", "ip9", None, "DE", "x"),
        ("t5", "B", "2026-01-01T10:35:00Z", 40.0, "transfer", "ip9", "C", "DE", "x"),
    ]
)


HAND_LOGINS = pd.DataFrame(
    {
        "login_id": ["l1", "l2"],
        "wallet_id": ["A", "A"],
        "timestamp": pd.to_datetime(["2026-01-01T10:30:00Z", "2026-01-01T10:39:00Z"], utc=True),
        "ip_address": ["ip2", "ip2"],
        "success": [0, 1],
        "country": ["FR", "FR"],
    }
)


_US_FR_KM = haversine_km(*CENTROIDS["US"], *CENTROIDS["FR"])


# (feature, transaction, value worked out by hand)
HAND_CASES = [
    # amount
    ("amount_log", "t3", math.log1p(200)),
    ("amount_z", "t1", 0.0),  # no history: no deviation
    # t2 vs one earlier amount (100): n/(n+K) * (x - mean) / sqrt((0 + K * 1) / (1 + K))
    ("amount_z", "t2", (1 / 6) * (math.log1p(50) - math.log1p(100)) / math.sqrt(5 / 6)),
    ("amount_z_same_type", "t2", 0.0),  # A has no earlier transfer
    ("amount_vs_typical", "t2", (1 / 6) * (math.log1p(50) - math.log1p(100))),
    ("amount_vs_max", "t3", math.log1p(200) - math.log1p(100)),
    ("amount_unverified_log", "t4", math.log1p(10)),  # B has no KYC
    ("amount_unverified_log", "t1", 0.0),
    ("amount_vs_age", "t1", math.log1p(100) - math.log1p(31 + 10 / 24)),
    ("type_redeem", "t3", 1.0),
    ("type_deposit", "t3", 0.0),
    ("type_transfer", "t2", 1.0),
    # velocity: counts include the transaction itself (3 transactions in 40 minutes -> 3)
    ("tx_count_1h_log", "t3", math.log1p(3)),
    ("amount_sum_1h_log", "t3", math.log1p(350)),
    ("transfer_count_1h_log", "t3", math.log1p(1)),
    ("transfer_sum_1h_log", "t5", math.log1p(40)),
    ("redeem_count_1h_log", "t3", math.log1p(1)),
    ("redeem_sum_1h_log", "t3", math.log1p(200)),
    ("deposit_count_1h_log", "t5", math.log1p(1)),
    ("deposit_sum_1h_log", "t5", math.log1p(10)),
    ("near_threshold_deposits_24h_log", "t5", 0.0),
    ("near_threshold_24h_vs_rate", "t5", 0.0),
    ("redeem_count_24h_log", "t3", math.log1p(1)),
    ("redeem_count_24h_log", "t2", 0.0),
    ("redeem_sum_24h_log", "t3", math.log1p(200)),
    ("deposit_count_24h_log", "t3", math.log1p(1)),  # A's deposit t1 at 10:00
    ("deposit_count_24h_log", "t5", math.log1p(1)),
    ("deposit_sum_24h_log", "t5", math.log1p(10)),
    # time of day in UTC hours on the circle: t1 at 10:00, t3 at 10:40
    ("hour_sin", "t1", math.sin(2 * math.pi * 10 / 24)),
    ("hour_cos", "t1", math.cos(2 * math.pi * 10 / 24)),
    ("hour_sin", "t3", math.sin(2 * math.pi * (10 + 40 / 60) / 24)),
    ("hour_cos", "t3", math.cos(2 * math.pi * (10 + 40 / 60) / 24)),
    ("time_since_prev_tx_log", "t3", math.log1p(1200)),
    ("time_since_prev_tx_log", "t1", CAP),
    # A (31 days old) has nothing in the look-back before t1: idle for the whole LOOKBACK
    ("dormant_amount", "t1", math.log1p(100)),
    ("dormant_amount", "t2", 20 / (30 * 1440) * math.log1p(50)),
    # B registered at midnight: idle no longer than its 10.5 h of life
    ("dormant_amount", "t4", 10.5 / (30 * 24) * math.log1p(10)),
    # B registered 10.5 h before t5: its rate is 1 earlier tx per MIN_RATE_SPAN (1 day)
    ("tx_count_24h_vs_rate", "t5", math.log(2) - math.log1p(1.0)),
    ("tx_count_1h_vs_rate", "t5", math.log(2) - math.log1p(1 / 24)),
    ("amount_sum_24h_log", "t3", math.log1p(350)),
    # sums vs what B's rate predicts plus one typical amount (10 per day, typical 10)
    ("amount_sum_24h_vs_rate", "t5", math.log1p(50) - math.log1p(10 + 10)),
    ("amount_sum_1h_vs_rate", "t5", math.log1p(50) - math.log1p(10 / 24 + 10)),
    ("transfer_count_24h_vs_rate", "t5", math.log1p(1) - math.log1p(0)),
    ("deposit_count_24h_vs_rate", "t5", math.log1p(1) - math.log1p(1)),
    ("redeem_count_24h_vs_rate", "t3", math.log1p(1)),
    ("redeem_count_1h_vs_rate", "t3", math.log1p(1)),
    # A's usual redeem share: (0 + 0.1) / (2 earlier tx per 720 h * 24 h + 0.3); now 1 of 3
    (
        "redeem_share_24h_vs_usual", "t3",
        math.log((1 + 4 * (0.1 / (2 / 30 + 0.3))) / (3 + 4) / (0.1 / (2 / 30 + 0.3))),
    ),
    ("redeem_share_24h_vs_usual", "t2", 0.0),
    # no earlier redemption: against the largest earlier amount of any kind (100)
    ("redeem_sum_1h_vs_max", "t3", math.log1p(200) - math.log1p(100)),
    ("redeem_sum_1h_vs_max", "t2", 0.0),
    ("redeem_sum_24h_vs_typical", "t3", math.log1p(200 / 75)),
    ("redeem_sum_24h_vs_typical", "t2", 0.0),
    # A's first redemption: no earlier day, its day's count against 0
    ("redeem_count_24h_vs_busiest", "t3", math.log1p(1)),
    ("redeem_count_24h_vs_busiest", "t2", 0.0),
    # no earlier hour or day: the counts (A's 3, the received transfer not counted) against 0
    ("tx_count_1h_vs_busiest", "t3", math.log1p(3)),
    ("tx_count_24h_vs_busiest", "t5", math.log1p(2)),
    # flow: inflow strictly before the transaction (B: A's 50 at 10:20 + own deposit 10)
    ("inflow_1h_log", "t5", math.log1p(60)),
    ("inflow_1h_log", "t4", math.log1p(50)),
    ("inflow_24h_log", "t1", 0.0),
    # the day's inflow, the row included, against no earlier day: B's 50 from A and its own 10
    ("inflow_24h_vs_busiest", "t4", math.log1p(60)),
    ("inflow_24h_vs_busiest", "t2", math.log1p(100)),  # A's deposit; its transfer out is not
    ("incoming_transfers_1h_log", "t5", math.log1p(1)),
    ("forward_share", "t5", 40 / 60),
    ("forward_share", "t3", 1.0),  # redeems 200 of 100 received: all of it
    ("forward_share", "t4", 0.0),  # deposits send nothing on
    ("minutes_since_inflow_log", "t5", math.log1p(5)),  # B's own deposit at 10:30
    ("minutes_since_inflow_log", "t3", math.log1p(40)),
    ("minutes_since_inflow_log", "t4", CAP_MIN),  # deposits send nothing on
    # B got 50 (10:20) + 10 (10:30) in the 30 minutes before t5 and sent 40 of it on
    ("forwarded_30m_log", "t5", math.log1p(40)),
    ("forwarded_30m_log", "t3", 0.0),  # A's deposit at 10:00 is older than 30 minutes
    ("counterparty_new", "t2", 1.0),
    ("counterparty_new", "t3", 0.0),
    ("new_counterparties_24h_log", "t3", math.log1p(1)),
    # one new counterparty this hour against 1 per LOOKBACK (720 h) so far
    ("new_counterparties_1h_vs_rate", "t3", math.log1p(1) - math.log1p(1 / 720)),
    ("incoming_forward_ratio_1h", "t5", 40 / 50),  # B forwards 40 of the 50 A sent it
    ("incoming_forward_ratio_1h", "t2", 0.0),
    ("wallet_age_days_log", "t1", math.log1p(31 + 10 / 24)),
    ("kyc_verified", "t4", 0.0),
    ("kyc_verified", "t1", 1.0),
    # access: the IP and country of t3 were first seen at login l1, 10 minutes earlier, while A
    # was known since 10:00: new within NEW_ACCESS_SPAN
    ("ip_new", "t1", 0.0),  # A's very first event: nothing to be new against
    ("ip_new", "t2", 0.0),
    ("ip_new", "t3", 1.0),
    ("country_new", "t3", 1.0),
    ("device_new", "t3", 1.0),
    ("access_new_count", "t3", 3.0),
    ("access_new_count", "t2", 0.0),
    ("country_changed", "t3", 0.0),  # the previous event (login l2) was in France too
    ("travel_speed_log", "t3", math.log1p(_US_FR_KM / (20 / 60))),  # last seen in US at 10:20
    ("travel_speed_log", "t2", 0.0),
    ("country_not_home", "t3", 1.0),
    ("country_not_home", "t2", 0.0),
    ("new_ips_24h_log", "t3", math.log1p(2)),
    ("failed_logins_1h_log", "t3", math.log1p(1)),
    ("failed_logins_24h_log", "t3", math.log1p(1)),
    ("login_unseen", "t3", 0.0),  # ip2 logged in successfully at 10:39
    ("login_unseen", "t1", 1.0),  # nobody logged in from ip1
    ("success_logins_1h_log", "t3", math.log1p(1)),
    # one failed and one successful login in the hour, plus the pseudo-login: 1 of 3
    ("failed_login_share_1h", "t3", 1 / 3),
    ("failed_login_share_1h", "t2", 0.0),  # the logins at 10:30 and 10:39 come later
    ("failed_logins_new_ip_1h_log", "t3", math.log1p(1)),
    # the logins carry no device: l1's failure is judged by its IP, ip2, new to A
    ("failed_logins_new_device_1h_log", "t3", math.log1p(1)),
    ("failed_logins_new_device_1h_log", "t2", 0.0),
    ("time_since_success_login_log", "t3", math.log1p(60)),
    ("time_since_success_login_log", "t2", CAP),
    ("ip_known_days_log", "t2", math.log1p(20 / 1440)),
    ("country_known_days_log", "t3", math.log1p(10 / 1440)),
    ("device_known_days_log", "t3", 0.0),
    # t3: new IP and new country on a new device; t2 and t5 come from the wallet's known device
    ("new_place_new_device", "t3", 2.0),
    ("new_place_new_device", "t2", 0.0),
    ("amount_out_new_device_log", "t3", math.log1p(200)),  # the redeem leaves from d2
    ("amount_out_new_device_log", "t2", 0.0),
    ("amount_out_new_device_log", "t5", 0.0),  # x is as old as wallet B
]


@pytest.fixture(scope="module")
def hand_features():
    return build_features(HAND_TX, wallets=HAND_WALLETS, logins=HAND_LOGINS).set_index(
        "transaction_id"
    )


@pytest.mark.parametrize(("feature", "tx", "expected"), HAND_CASES)
def test_hand_computed_value(hand_features, feature, tx, expected):
    assert hand_features.loc[tx, feature] == pytest.approx(expected, rel=1e-7, abs=1e-7)


def test_a_known_device_in_a_new_place_is_not_a_new_place_on_a_new_device():
    """Travel keeps the device: only the takeover-like row counts the new place, and only its
    outflow counts as money leaving from a new device."""
    tx = _tx(
        [
            ("h1", "T", "2026-01-01T08:00:00Z", 100.0, "deposit", "ip1", None, "US", "d1"),
            ("h2", "T", "2026-01-01T12:00:00Z", 30.0, "transfer", "ip7", "U", "FR", "d1"),
            ("h3", "T", "2026-01-01T12:10:00Z", 80.0, "redeem", "ip8", None, "BR", "d9"),
            ("h4", "T", "2026-01-01T12:20:00Z", 60.0, "deposit", "ip8", None, "BR", "d9"),
        ]
    )
    out = build_features(tx).set_index("transaction_id")
    assert out.loc["h2", ["ip_new", "country_new", "device_new"]].tolist() == [1.0, 1.0, 0.0]
    assert out.loc["h2", "new_place_new_device"] == 0.0
    assert out.loc["h2", "amount_out_new_device_log"] == 0.0
    assert out.loc["h3", "new_place_new_device"] == 2.0
    assert out.loc["h3", "amount_out_new_device_log"] == pytest.approx(math.log1p(80))
    assert out.loc["h4", "device_new"] == 1.0
    assert out.loc["h4", "amount_out_new_device_log"] == 0.0  # a deposit brings money in


def test_every_feature_has_a_hand_case_family_and_label():
    assert {name for name, _, _ in HAND_CASES} == set(FEATURE_NAMES)
    assert sorted(FEATURE_NAMES) == sorted(FEATURE_LABELS)
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES))


def test_output_follows_target_order_and_index():
    targets = HAND_TX.iloc[[4, 0, 2]].set_axis([10, 11, 12])
    out = build_features(targets, history=HAND_TX, wallets=HAND_WALLETS, logins=HAND_LOGINS)
    assert list(out["transaction_id"]) == ["t5", "t1", "t3"]
    assert list(out.index) == [10, 11, 12]
    assert list(out.columns) == ["transaction_id", *FEATURE_NAMES]


def test_shuffled_input_gives_identical_features():
    tx = HAND_TX.copy()
    # Ties on the timestamp are broken by transaction_id, whatever the input order.
    tx.loc[tx["transaction_id"] == "t2", "timestamp"] = tx.loc[0, "timestamp"]
    base = build_features(tx, wallets=HAND_WALLETS, logins=HAND_LOGINS)
    shuffled = tx.sample(frac=1.0, random_state=3)
    logins = HAND_LOGINS.iloc[::-1]
    again = build_features(shuffled, wallets=HAND_WALLETS.iloc[::-1], logins=logins)
    pd.testing.assert_frame_equal(
        base.set_index("transaction_id").sort_index(),
        again.set_index("transaction_id").sort_index(),
    )


def test_batch_targets_with_history_equal_the_full_run():
    full = build_features(HAND_TX, wallets=HAND_WALLETS, logins=HAND_LOGINS)
    later = build_features(
        HAND_TX.iloc[2:], history=HAND_TX.iloc[:2], wallets=HAND_WALLETS, logins=HAND_LOGINS
    )
    pd.testing.assert_frame_equal(full.iloc[2:], later)


def test_timestamp_offsets_are_converted_to_utc():
    tx = HAND_TX.copy()
    tx["timestamp"] = [
        "2026-01-01T12:00:00+02:00", "2026-01-01T10:20:00", "2026-01-01T05:40:00-05:00",
        "2026-01-01T10:30:00Z", "2026-01-01T10:35:00Z",
    ]  # fmt: skip
    got = build_features(tx, wallets=HAND_WALLETS, logins=HAND_LOGINS)
    want = build_features(HAND_TX, wallets=HAND_WALLETS, logins=HAND_LOGINS)
    pd.testing.assert_frame_equal(got, want)


def test_unknown_country_codes_are_neutral():
    tx = HAND_TX.copy()
    tx.loc[tx["transaction_id"] == "t3", "country"] = "ZZ"
    logins = HAND_LOGINS.assign(country="ZZ")
    out = build_features(tx, wallets=HAND_WALLETS, logins=logins).set_index("transaction_id")
    assert out.loc["t3", "travel_speed_log"] == 0.0
    assert out.loc["t3", "country_not_home"] == 1.0


def test_prototype_columns_only_work_and_warn_once(caplog):
    proto = HAND_TX[list(TX_REQUIRED)]
    wallets = HAND_WALLETS.drop(columns=["home_country"])
    feature_context._warned.clear()
    with caplog.at_level("WARNING", logger="feature_engineering"):
        out = build_features(proto, wallets=wallets)
        build_features(proto, wallets=wallets)
    values = out[FEATURE_NAMES].to_numpy()
    assert np.isfinite(values).all()
    for name in ("counterparty_new", "country_new", "device_new", "failed_logins_1h_log",
                 "amount_out_new_device_log"):
        assert (out[name] == 0).all()
    # Without devices every device is unknown: a new IP counts as it is (t3's ip2 is new).
    assert out.loc[out["transaction_id"] == "t3", "new_place_new_device"].item() == 1.0
    assert (out["new_place_new_device"] == out["ip_new"]).all()
    messages = [r.getMessage() for r in caplog.records if r.name == feature_context.__name__]
    # counterparty, device, logins, home_country: each said once (the country comes from the IP)
    assert len(messages) == len(set(messages)) == 4
    assert not any("no transaction country" in m for m in messages)
    # These placeholder IPs are no addresses: no country, said in the warning naming the rows.
    located = [r.getMessage() for r in caplog.records if r.name.endswith("geoip")]
    assert located and all("transaction_id 't1' ('ip1')" in m for m in located)


def test_generated_holdout_scored_with_history_equals_full_run(small_data_dir):
    tx = load_transactions(small_data_dir / "transactions.csv")
    new = load_transactions(small_data_dir / "new_transactions.csv")
    wallets = load_wallets(small_data_dir / "wallets.csv")
    logins = load_logins(small_data_dir / "logins.csv")
    both = pd.concat([tx, new], ignore_index=True)
    full = build_features(both, wallets=wallets, logins=logins).iloc[len(tx) :]
    batch = build_features(new, history=tx, wallets=wallets, logins=logins)
    pd.testing.assert_frame_equal(full.reset_index(drop=True), batch.reset_index(drop=True))


def test_generated_fraud_stands_out_on_its_signal(small_data_dir):
    """Sanity, not a model: labelled fraud differs from normal traffic on the obvious features."""
    tx = load_transactions(small_data_dir / "transactions.csv")
    feats = build_features(
        tx,
        wallets=load_wallets(small_data_dir / "wallets.csv"),
        logins=load_logins(small_data_dir / "logins.csv"),
    )
    labels = pd.read_csv(small_data_dir / "labels.csv")
    scen = feats["transaction_id"].map(labels.set_index("transaction_id")["scenario"])
    normal = feats[scen.isna()]
    ato = feats[scen == "account_takeover"]
    burst = feats[scen == "redemption_burst"]
    assert ato["failed_logins_1h_log"].mean() > normal["failed_logins_1h_log"].mean()
    assert burst["redeem_count_24h_vs_rate"].mean() > normal["redeem_count_24h_vs_rate"].mean()


def test_near_threshold_deposits_count_deposits_just_under_a_reporting_threshold():
    rows = [
        ("n0", "2026-01-01T00:00:00Z", 9500.0, "deposit"),  # 29 h before n6: outside 24 h
        ("n1", "2026-01-02T01:00:00Z", 9500.0, "deposit"),  # within 10 % under 10,000
        ("n2", "2026-01-02T02:00:00Z", 2800.0, "deposit"),  # under 3,000
        ("n3", "2026-01-02T03:00:00Z", 14000.0, "deposit"),  # under 15,000
        ("n4", "2026-01-02T04:00:00Z", 10000.0, "deposit"),  # at the threshold, not under it
        ("n5", "2026-01-02T04:30:00Z", 9600.0, "transfer"),  # not a deposit
        ("n6", "2026-01-02T05:00:00Z", 5000.0, "deposit"),
    ]
    tx = _tx([(i, "D", ts, a, kind, "ip1", None, "US", "d1") for i, ts, a, kind in rows])
    feats = build_features(tx).set_index("transaction_id")
    out = feats["near_threshold_deposits_24h_log"]
    assert out["n6"] == pytest.approx(math.log1p(3))
    assert out["n1"] == pytest.approx(math.log1p(1))
    # Against the wallet's own rate: with no wallets table the rate runs over the 30-day
    # look-back, and n0-n3 (4 near-threshold deposits) came before n6.
    vs_rate = feats["near_threshold_24h_vs_rate"]
    assert vs_rate["n6"] == pytest.approx(math.log1p(3) - math.log1p(4 / 720 * 24))
    assert vs_rate["n1"] == pytest.approx(math.log1p(1) - math.log1p(1 / 720 * 24))


def test_near_threshold_rate_runs_over_a_young_wallets_age():
    """A wallet registered 54 hours before: its usual rate is over those 54 hours, not 30 days."""
    tx = _tx(
        [
            ("y1", "Y", "2026-01-02T00:00:00Z", 9500.0, "deposit", "ip1", None, "US", "d1"),
            ("y2", "Y", "2026-01-03T06:00:00Z", 9600.0, "deposit", "ip1", None, "US", "d1"),
        ]
    )
    wallets = pd.DataFrame(
        {
            "wallet_id": ["Y"],
            "kyc_verified": [1],
            "registration_date": pd.to_datetime(["2026-01-01"], utc=True),
            "home_country": ["US"],
        }
    )
    out = build_features(tx, wallets=wallets).set_index("transaction_id")
    # y2: itself in the last 24 h; y1 (30 h earlier) before it, over a 54 h history
    assert out.loc["y2", "near_threshold_24h_vs_rate"] == pytest.approx(
        math.log1p(1) - math.log1p(1 / 54 * 24)
    )
    # y1: a day-old wallet's rate runs over MIN_RATE_SPAN (1 day), with nothing before it
    assert out.loc["y1", "near_threshold_24h_vs_rate"] == pytest.approx(math.log1p(1))


@pytest.mark.parametrize(("hours_later", "expected"), [(5, 1.0), (7, 0.0)])
def test_ip_stays_new_for_new_access_span(hours_later, expected):
    later = (pd.Timestamp("2026-01-02T00:00:00Z") + pd.Timedelta(hours=hours_later)).isoformat()
    tx = _tx(
        [
            ("e1", "E", "2026-01-01T00:00:00Z", 10.0, "deposit", "ip1", None, "US", "d1"),
            ("e2", "E", "2026-01-02T00:00:00Z", 10.0, "deposit", "ip2", None, "US", "d1"),
            ("e3", "E", later, 10.0, "deposit", "ip2", None, "US", "d1"),
        ]
    )
    out = build_features(tx).set_index("transaction_id")
    assert out.loc["e2", "ip_new"] == 1.0
    assert out.loc["e3", "ip_new"] == expected


def _logins(wallet, rows):
    """One wallet's logins from (timestamp, ip, success, device) rows."""
    return pd.DataFrame(
        {
            "login_id": [f"{wallet}{i}" for i in range(len(rows))],
            "wallet_id": wallet,
            "timestamp": pd.to_datetime([r[0] for r in rows], utc=True),
            "ip_address": [r[1] for r in rows],
            "success": [r[2] for r in rows],
            "device_id": [r[3] for r in rows],
        }
    )


def test_login_unseen_marks_a_device_never_used_to_log_in():
    tx = _tx(
        [
            ("h1", "H", "2026-01-01T10:05:00Z", 10.0, "deposit", "ip1", None, "US", "d1"),
            ("h2", "H", "2026-01-01T10:10:00Z", 10.0, "redeem", "ip1", None, "US", "d9"),
        ]
    )
    logins = _logins(
        "H",
        [
            ("2026-01-01T10:00:00Z", "ip1", 1, "d1"),
            ("2026-01-01T10:01:00Z", "ip1", 0, "d9"),  # d9 only ever failed to log in
        ],
    )
    out = build_features(tx, logins=logins).set_index("transaction_id")["login_unseen"]
    assert list(out) == [0.0, 1.0]


def test_failed_logins_new_device_count_a_guesser_not_the_owners_typos():
    """The owner mistypes on its own device (from a new IP: a mobile network); a guesser fails
    from a device the wallet never used. Only the guesser's failure counts."""
    tx = _tx(
        [
            ("k1", "K", "2026-01-01T02:00:00Z", 10.0, "deposit", "ip1", None, "US", "d1"),
            ("k2", "K", "2026-01-01T10:40:00Z", 10.0, "redeem", "ip1", None, "US", "d1"),
        ]
    )
    logins = _logins(
        "K",
        [
            ("2026-01-01T10:20:00Z", "ip5", 0, "d1"),  # typo on the owner's device, 8 h known
            ("2026-01-01T10:25:00Z", "ip7", 0, "d9"),  # a device K never used
            ("2026-01-01T10:30:00Z", "ip1", 1, "d1"),
            ("2026-01-01T10:50:00Z", "ip8", 0, "d8"),  # after k2: not counted for it
        ],
    )
    out = build_features(tx, logins=logins).set_index("transaction_id")
    assert out.loc["k2", "failed_logins_1h_log"] == pytest.approx(math.log1p(2))
    assert out.loc["k2", "failed_logins_new_ip_1h_log"] == pytest.approx(math.log1p(2))
    assert out.loc["k2", "failed_logins_new_device_1h_log"] == pytest.approx(math.log1p(1))


def test_failed_logins_on_a_dormant_wallet_all_count():
    """A wallet silent for the whole look-back has no device to know: a guesser's failures on
    it count, though its device is as old as the wallet's history in the window."""
    tx = _tx(
        [
            ("q1", "Q", "2026-01-01T00:00:00Z", 10.0, "deposit", "ip1", None, "US", "d1"),
            ("q2", "Q", "2026-02-20T10:40:00Z", 10.0, "redeem", "ip9", None, "RU", "d9"),
        ]
    )
    logins = _logins(
        "Q",
        [
            ("2026-02-20T10:20:00Z", "ip9", 0, "d9"),
            ("2026-02-20T10:25:00Z", "ip9", 0, "d9"),
            ("2026-02-20T10:30:00Z", "ip9", 1, "d9"),
        ],
    )
    out = build_features(tx, logins=logins).set_index("transaction_id")
    assert out.loc["q2", "device_new"] == 0.0  # nothing in the window to be new against
    assert out.loc["q2", "failed_logins_new_device_1h_log"] == pytest.approx(math.log1p(2))


@pytest.mark.parametrize("days_before", [30.1, 30.5, 30.9])
def test_new_ip_counts_in_a_window_ignore_events_older_than_lookback(days_before):
    """An IP's "new" flag at t - 20 h must not depend on an event older than t - LOOKBACK."""
    t = pd.Timestamp("2026-03-01T00:00:00Z")
    tx = _tx(
        [
            ("g1", "G", t - pd.Timedelta(days=days_before), 5.0, "deposit", "ipX", None, "US", "d"),
            ("g2", "G", t - pd.Timedelta(hours=20), 5.0, "deposit", "ipX", None, "US", "d"),
            ("g3", "G", t, 5.0, "deposit", "ipY", None, "US", "d"),
        ]
    )  # fmt: skip
    # Scored with g1 as a target too, the batch keeps g1 as context for g3.
    together = build_features(tx).iloc[[2]]
    alone = build_features(tx.iloc[[2]], history=tx)
    pd.testing.assert_frame_equal(together, alone)
    assert alone["new_ips_24h_log"].iloc[0] == pytest.approx(math.log1p(2))


def test_24h_type_windows_cover_t_minus_24h_to_t():
    """Redeem and deposit counts and sums in 24 h include an event exactly 24 h earlier and the
    transaction itself, not one a second older than 24 h."""
    rows = [
        ("r0", "2026-01-01T09:59:59Z", 1000.0, "redeem"),  # 24 h + 1 s before r4: outside
        ("r1", "2026-01-01T10:00:00Z", 30.0, "redeem"),  # exactly 24 h before r4: inside
        ("r2", "2026-01-01T15:00:00Z", 20.0, "deposit"),
        ("r3", "2026-01-02T08:00:00Z", 5.0, "transfer"),
        ("r4", "2026-01-02T10:00:00Z", 70.0, "redeem"),
        ("r5", "2026-01-02T10:30:00Z", 40.0, "deposit"),
    ]
    tx = _tx([(i, "R", ts, a, kind, "ip1", None, "US", "d1") for i, ts, a, kind in rows])
    out = build_features(tx).set_index("transaction_id")
    assert out.loc["r4", "redeem_count_24h_log"] == pytest.approx(math.log1p(2))
    assert out.loc["r4", "redeem_sum_24h_log"] == pytest.approx(math.log1p(100))
    assert out.loc["r4", "deposit_count_24h_log"] == pytest.approx(math.log1p(1))
    # r5: r1 has left the window; r2 and r5 itself are deposits
    assert out.loc["r5", "redeem_count_24h_log"] == pytest.approx(math.log1p(1))
    assert out.loc["r5", "redeem_sum_24h_log"] == pytest.approx(math.log1p(70))
    assert out.loc["r5", "deposit_count_24h_log"] == pytest.approx(math.log1p(2))


@pytest.mark.parametrize(
    ("timestamp", "hours"),
    [
        ("2026-01-01T00:00:00Z", 0.0),
        ("2026-01-01T06:00:00Z", 6.0),
        ("2026-01-01T18:30:00Z", 18.5),
        ("2026-01-01T23:59:00Z", 23 + 59 / 60),
        ("2026-01-01T02:00:00+05:00", 21.0),  # local 02:00 at +05:00 is 21:00 UTC the day before
    ],
)
def test_hour_of_day_is_the_utc_time_on_a_circle(timestamp, hours):
    tx = _tx([("h1", "H", timestamp, 10.0, "deposit", "ip1", None, "US", "d1")])
    out = build_features(tx).iloc[0]
    assert out["hour_sin"] == pytest.approx(math.sin(2 * math.pi * hours / 24), abs=1e-12)
    assert out["hour_cos"] == pytest.approx(math.cos(2 * math.pi * hours / 24), abs=1e-12)



@pytest.mark.parametrize("order", ["F", "C"])
def test_the_output_frame_is_the_one_pandas_builds_from_the_matrix_and_the_ids(order):
    # The features' frame is made from its two blocks: the frame the DataFrame constructor
    # gives with the ids inserted first (values, dtypes, columns, index).
    rng = np.random.default_rng(0)
    features = np.asarray(rng.normal(size=(5, len(FEATURE_NAMES))), order=order)
    ids = pd.Series(["t3", "t1", "x", "t10", "é"], dtype="string[pyarrow]")
    index = pd.Index([10, 3, 7, 1, 2])
    want = pd.DataFrame(features, columns=FEATURE_NAMES, index=index)
    want.insert(0, "transaction_id", ids.to_numpy().astype(str))
    got = feature_compute._frame(features, ids, index)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert list(got.columns) == ["transaction_id", *FEATURE_NAMES]
