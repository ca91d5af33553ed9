"""Detection that holds on data it was not built on: cold start, harmless rarities, time
passing, families with nothing to say, reasons that say something."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.model._support import FAMILIES, LABELS, _normal, _with_outliers
from wallet_monitor.features import build_features
from wallet_monitor.model import PYOD_MODELS, score, train
from wallet_monitor.model.detectors import WithinGroup
from wallet_monitor.model.predict import family_scores
from wallet_monitor.scoring import detect

_T0 = pd.Timestamp("2026-02-01", tz="UTC")


def _cold_start(n: int, seed: int) -> pd.DataFrame:
    """Wallets seen once each (no history), transfers to merchants, amounts log-normal."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "transaction_id": [f"s{seed}-{i}" for i in range(n)],
        "wallet_id": [f"w{seed}-{i}" for i in range(n)],
        "timestamp": _T0 + pd.to_timedelta(np.sort(rng.uniform(0, 14 * 86400, n)), unit="s"),
        "amount": np.round(np.exp(rng.normal(4.0, 1.0, n)), 2),
        "type": rng.choice(["deposit", "transfer", "redeem"], n, p=[0.3, 0.6, 0.1]),
        "ip_address": [f"10.0.{i % 250}.{i % 200}" for i in range(n)],
    })


def test_a_large_amount_with_no_history_ranks_first_in_a_cold_start_frame_and_a_tiny_payment_never_outranks_it():
    history = _cold_start(3000, 1)
    bundle = train(build_features(history), seed=0)
    later = _cold_start(600, 2)
    later.loc[100, ["amount", "type"]] = [25_000.0, "transfer"]  # far above every wallet's kind
    later.loc[200, ["amount", "type"]] = [0.01, "transfer"]  # tiny: rare, not suspicious
    scores = score(bundle, build_features(later, history))["fraud_score"]
    assert scores.idxmax() == 100
    assert scores[200] < scores[100]
    assert scores[200] <= scores.median()


def _registered(tx: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A wallets table for a cold-start frame: every wallet opened 1-6 years before its row."""
    rng = np.random.default_rng(seed)
    years = pd.to_timedelta(rng.uniform(365, 6 * 365, len(tx)), unit="D")
    return pd.DataFrame({"wallet_id": tx["wallet_id"], "kyc_verified": rng.integers(0, 2, len(tx)),
                         "registration_date": tx["timestamp"] - years})


def test_a_brand_new_wallets_first_transfer_ranks_at_the_top_of_a_cold_start_frame():
    history = _cold_start(3000, 1)
    bundle = train(build_features(history, None, _registered(history, 1)), seed=0)
    later = _cold_start(600, 2)
    later.loc[[100, 300], ["amount", "type"]] = [400.0, "transfer"]  # a large-ish but seen amount
    wallets = _registered(later, 2)
    # Row 100's wallet opened ten minutes before it; row 300's, the same transfer, years before.
    wallets.loc[100, "registration_date"] = later.loc[100, "timestamp"] - pd.Timedelta(minutes=10)
    wallets = pd.concat([_registered(history, 1), wallets], ignore_index=True)
    features = build_features(later, history, wallets)
    scores = score(bundle, features)["fraud_score"]
    assert scores[100] > scores[300]
    assert scores.rank(ascending=False)[100] <= 3  # the wallet's age, against the rows of its type
    X = features[bundle.feature_names].to_numpy(float)
    age = [d.family for d in bundle.detectors].index("wallet age within its type")
    fam = family_scores(bundle, X, None)[:, age]
    assert fam[100] > 0.99 > fam[300]  # read from below: the young wallet is the rare one


def test_a_population_detector_reads_a_lower_is_suspicious_value_from_below():
    young = WithinGroup(-1.0).fit(np.array([[float(v), 1.0] for v in range(100)]))
    assert young.anomaly_score(np.array([[0.0, 1.0]]))[0] > young.anomaly_score(
        np.array([[90.0, 1.0]]))[0]
    old = WithinGroup().fit(np.array([[float(v), 1.0] for v in range(100)]))
    del old.side  # as unpickled from a bundle of before issue 18g: the upper side
    assert old.anomaly_score(np.array([[90.0, 1.0]]))[0] > old.anomaly_score(
        np.array([[0.0, 1.0]]))[0]


def test_a_scored_period_a_year_after_training_does_not_raise_the_alert_rate(small_frames):
    history, new = small_frames["transactions"], small_frames["new_transactions"]
    wallets, logins = small_frames["wallets"], small_frames["logins"]
    bundle = train(build_features(history, None, wallets, logins), seed=0)
    year = pd.Timedelta(days=365)
    now = detect(bundle, new, history, wallets, logins)["is_anomaly"].mean()
    # The same traffic a year on: every wallet a year older than any it was trained on.
    later = detect(bundle, new.assign(timestamp=new["timestamp"] + year),
                   history.assign(timestamp=history["timestamp"] + year), wallets,
                   logins.assign(timestamp=logins["timestamp"] + year))["is_anomaly"].mean()
    assert later <= now * 1.1 + 0.002


def test_a_family_with_nothing_but_constant_inputs_does_not_change_any_score():
    df = _with_outliers(1500)
    plain = score(train(df, families=FAMILIES, labels=LABELS), df)["fraud_score"]
    neutral = df.assign(no_history_a=0.0, no_history_b=1.0)
    families = {**FAMILIES, "no history": ["no_history_a", "no_history_b"]}
    with_it = score(train(neutral, families=families, labels=LABELS), neutral)["fraud_score"]
    np.testing.assert_array_equal(plain.to_numpy(), with_it.to_numpy())


def test_a_family_whose_inputs_sit_on_their_harmless_side_gives_no_evidence():
    df = _normal(2000)
    bundle = train(df, families=FAMILIES, labels=LABELS)
    rows = df.iloc[[7, 7]].copy()
    # Fewer transactions than the median in the hour and day: nothing for the velocity detector.
    rows["tx_count_1h"], rows["tx_count_24h"] = [0.0, 1.0], [0.0, 2.0]
    X = rows[bundle.feature_names].to_numpy(float)
    fam = family_scores(bundle, X, bundle.tails.scores(X))
    velocity = [d.family for d in bundle.detectors].index("velocity")
    assert fam[0, velocity] == fam[1, velocity]
    assert (score(bundle, rows)["fraud_score"].iloc[0]
            == score(bundle, rows)["fraud_score"].iloc[1])


def test_reasons_never_show_a_value_equal_to_its_typical_one(small_frames):
    history, new = small_frames["transactions"], small_frames["new_transactions"]
    wallets, logins = small_frames["wallets"], small_frames["logins"]
    bundle = train(build_features(history, None, wallets, logins), seed=0)
    scored = score(bundle, build_features(new, history, wallets, logins))
    reasons = scored.loc[scored["is_anomaly"], "reasons"]
    assert len(reasons) > 10
    for text in reasons:
        for part in text.split("; "):
            if " (typical " in part:
                value = part.split("=", 1)[1].split(" (typical ")[0]
                typical = part.split(" (typical ")[1].rstrip(")")
                assert value != typical, part


@pytest.mark.parametrize("model", PYOD_MODELS)
def test_pyods_detectors_fitted_once_rank_the_planted_outliers_high(model):
    df = _with_outliers(2000)
    bundle = train(df, model, families=FAMILIES, labels=LABELS)
    scored = score(bundle, df)["fraud_score"]
    assert {0, 1} <= set(scored.nlargest(20).index)
    # Fitted once: a row scores the same alone as in any batch.
    alone = score(bundle, df.iloc[[0]])["fraud_score"].iloc[0]
    assert alone == scored[0]
