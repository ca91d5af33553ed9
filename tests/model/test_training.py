"""Training: planted outliers rank first, thresholds, detector families, one-sided features."""

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.model._support import FAMILIES, LABELS, MODELS, _normal, _train, _with_outliers
from wallet_monitor.model import (
    COMBINE_METHODS,
    calibration,
    score,
    train,
    training,
)
from wallet_monitor.model.bundle import load_bundle
from wallet_monitor.model.params import OCSVM_PARAMS
from wallet_monitor.model.predict import family_scores


@pytest.mark.parametrize("model", ["iforest", "ocsvm"])
def test_planted_outliers_rank_first_and_are_flagged(planted, model):
    # The per-family default; one model over all features may rank rare but legitimate
    # combinations of flags beside them, which is why it is not the default.
    df, bundles = planted
    scored = score(bundles[model, False], df)
    top2 = set(scored["fraud_score"].nlargest(2).index)
    assert top2 == {0, 1}
    assert scored.loc[[0, 1], "is_anomaly"].all()


@pytest.mark.parametrize(("model", "single"), MODELS)
def test_score_lies_in_unit_interval(planted, model, single):
    df, bundles = planted
    probe = _normal(500, seed=7)
    probe.iloc[:5, 1:] = 1e6  # far beyond anything seen in training
    s = score(bundles[model, single], probe)["fraud_score"]
    assert s.between(0, 1).all()


@pytest.mark.parametrize("model", ["iforest", "ocsvm"])
def test_score_is_monotone_in_the_models_raw_score(planted, model):
    df, bundles = planted
    bundle = bundles[model, True]
    probe = _normal(1000, seed=3)
    detector = bundle.detectors[0]
    pipeline = detector.pipeline
    X = probe[bundle.feature_names].to_numpy()
    if model == "iforest":
        # The forest sees what the bundle says it was fitted on: tail scores or raw values.
        inputs = bundle.tails.scores(X) if detector.input == "tail" else X
        raw = -pipeline.score_samples(inputs)
    else:
        raw = -pipeline.decision_function(X)
    s = score(bundle, probe)["fraud_score"].to_numpy()
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(s[order]) >= 0)


@pytest.mark.parametrize("contamination", [0.01, 0.05])
def test_threshold_flags_about_the_contamination_share_of_training(contamination):
    df = _normal(3000)
    bundle = _train(df, contamination=contamination)
    assert bundle.threshold == pytest.approx(1 - contamination)
    rate = score(bundle, df)["is_anomaly"].mean()
    assert rate == pytest.approx(contamination, abs=contamination / 2)


def test_features_outside_every_family_get_their_own_detector():
    df = _normal(500).assign(extra=np.random.default_rng(3).normal(size=500))
    bundle = _train(df)
    assert bundle.metadata.params["families"]["other"] == ["extra"]


def test_a_detector_whose_every_input_is_constant_is_left_out_and_said_so(caplog):
    df = _normal(500).assign(constant_a=1.0, constant_b=0.0)
    bundle = train(df, families={**FAMILIES, "dead": ["constant_a", "constant_b"]}, labels=LABELS)
    assert "dead" not in {d.family for d in bundle.detectors}
    assert "every input constant" in bundle.metadata.params["dead"]["dead"]
    assert "detector dead left out of the score" in caplog.text


def test_ocsvm_fits_a_bounded_number_of_rows(monkeypatch):
    monkeypatch.setitem(OCSVM_PARAMS, "max_fit_rows", 300)
    fitted = [
        _train(_normal(n), "ocsvm", single=True).metadata.n_fit_rows
        for n in (200, 1000, 4000)
    ]
    assert fitted == [200, 300, 300]


def test_default_detectors_leave_out_unmodelled_features_and_never_name_them():
    rng = np.random.default_rng(5)
    n = 2000
    df = pd.DataFrame({
        "transaction_id": [f"t{i}" for i in range(n)],
        "tx_count_1h_log": np.log1p(rng.poisson(1, n)),
        "redeem_count_1h_log": np.log1p(rng.poisson(0.2, n)),
        "hour_sin": rng.uniform(-1, 1, n),
        "hour_cos": rng.uniform(-1, 1, n),
    })
    df.loc[0, "tx_count_1h_log"] = np.log1p(40)
    bundle = train(df)  # the default behaviour families
    used = {c for d in bundle.detectors for c in d.features}
    assert used == {"tx_count_1h_log", "redeem_count_1h_log"}
    # One detector per behaviour present, plus one over all modelled features.
    assert [sorted(d.features) for d in bundle.detectors] == [
        ["redeem_count_1h_log"], ["tx_count_1h_log"], ["redeem_count_1h_log", "tx_count_1h_log"],
    ]
    scored = score(bundle, df)
    assert scored.loc[0, "is_anomaly"]
    assert "tx_count_1h=40" in scored.loc[0, "reasons"]
    assert not scored["reasons"].str.contains("hour_").any()


@pytest.mark.parametrize("combine", COMBINE_METHODS)
def test_every_combination_flags_the_contamination_share_and_ranks_agreement_high(combine):
    df = _normal(3000)
    # Row 0: odd in two behaviours at once (velocity and access), each only moderately.
    df.loc[0, ["tx_count_1h", "tx_count_24h", "failed_logins_1h", "new_country"]] = [4, 12, 1, 1]
    bundle = _train(df, combine=combine, contamination=0.02)
    scored = score(bundle, df)
    assert scored["fraud_score"].between(0, 1).all()
    assert scored["is_anomaly"].mean() == pytest.approx(0.02, abs=0.01)
    # Every method but "max" adds up the evidence of several detectors: the row comes first.
    assert scored.loc[0, "is_anomaly"]
    if combine != "max":
        assert scored["fraud_score"].rank(ascending=False)[0] == 1


@pytest.mark.parametrize(("combine", "constant"),
                         [("lead+second", "COMBINE_SECOND_WEIGHT"), ("decay", "COMBINE_DECAY")])
def test_bundle_keeps_the_combination_weight_it_was_trained_with(monkeypatch, combine, constant):
    df = _with_outliers(1000)
    bundle = _train(df, combine=combine)
    assert bundle.combine_weight == getattr(calibration, constant)
    assert _train(df, combine="top2").combine_weight is None  # no weight it does not use
    before = score(bundle, df)["fraud_score"].to_numpy()
    monkeypatch.setattr(calibration, constant, 0.0)
    after = score(bundle, df)["fraud_score"].to_numpy()
    np.testing.assert_array_equal(before, after)
    retrained = score(_train(df, combine=combine), df)["fraud_score"].to_numpy()
    assert not np.array_equal(before, retrained)


def test_the_one_class_svm_keeps_its_own_faster_decay():
    """Agreement between detectors counts more for the forests than for the One-Class SVM,
    whose planted one-behaviour outlier would otherwise fall from first place."""
    df = _with_outliers(1000)
    assert _train(df).combine_weight == calibration.COMBINE_DECAY
    assert _train(df, "ocsvm").combine_weight == calibration.OCSVM_COMBINE_DECAY
    assert calibration.OCSVM_COMBINE_DECAY < calibration.COMBINE_DECAY


@pytest.mark.parametrize("model", ["iforest", "ocsvm"])
def test_one_sided_feature_reads_short_values_as_the_training_median(monkeypatch, model):
    """A login seconds before the transaction is the usual way in: the short end of
    time_since_success_login_log reads as typical, the long end still counts."""
    df = _normal(2000)
    df["time_since_success_login_log"] = np.random.default_rng(1).normal(5.0, 1.0, len(df))
    families = {**FAMILIES, "logins": ["time_since_success_login_log"]}
    median = float(np.median(df["time_since_success_login_log"]))
    rows = df.iloc[[5, 5, 5]].copy()
    rows["time_since_success_login_log"] = [0.0, median, median + 4.0]

    bundle = train(df, model, families=families, labels=LABELS)
    lo, hi = bundle.input_clamps["time_since_success_login_log"]
    assert (lo, hi) == (pytest.approx(median), np.inf)
    short, typical, long = score(bundle, rows)["fraud_score"]
    assert short == typical
    assert long > typical
    # Read two-sided, the short end stands out as much as the long one.
    monkeypatch.setattr(training, "ONE_SIDED_FEATURES", ())
    two_sided = train(df, model, families=families, labels=LABELS, one_sided="features")
    assert "time_since_success_login_log" not in two_sided.input_clamps
    short, typical, _ = score(two_sided, rows)["fraud_score"]
    assert short > typical



def test_a_detector_repeating_another_counts_once():
    """Issue 18i: a detector whose evidence on the training rows follows another's (the global
    forest and the velocity detector, on every generator) shares its group, and a row out in
    that one behaviour gains nothing from the repeat."""
    df = _normal(2000)
    df["tx_count_1h_again"] = df["tx_count_1h"] * 2  # the same behaviour read twice
    families = {**FAMILIES, "velocity": ["tx_count_1h"], "velocity again": ["tx_count_1h_again"],
                "day": ["tx_count_24h"]}
    bundle = train(df, families=families, labels=LABELS)
    group = dict(zip(bundle.metadata.params["families"], bundle.combine_groups, strict=True))
    assert group["velocity"] == group["velocity again"]
    others = [g for fam, g in group.items() if fam not in ("velocity", "velocity again")]
    assert len(set(others)) == len(others) and group["velocity"] not in others
    rows = df.iloc[[0, 0]].copy()
    rows[["tx_count_1h", "tx_count_1h_again"]] = [[4, 8], [np.median(df["tx_count_1h"])] * 2]
    rows.loc[:, "tx_count_1h_again"] = rows["tx_count_1h"] * 2
    grouped = score(bundle, rows)["fraud_score"].to_numpy()
    bundle.combine_groups = None  # each detector its own, as a bundle saved before
    plain = score(bundle, rows)["fraud_score"].to_numpy()
    assert grouped[0] < plain[0]  # counted twice, the busy hour looked like agreement
    assert grouped[1] == plain[1]  # an ordinary hour: nothing to count twice


def test_detectors_reading_volume_take_one_place_and_a_bundle_saved_before_scores_as_before(
        tmp_path):
    """Issue 18j: three detectors counting the wallet's events (by their features) take one
    place in the combination: a row far out in all three ranks under a row out in one of them
    and in the amount; a bundle saved without the marking scores as plain decay."""
    rng = np.random.default_rng(3)
    n = 3000
    volume_cols = ["tx_count_1h_log", "new_counterparties_24h_log", "tx_count_1h_vs_busiest"]
    df = pd.DataFrame({c: rng.normal(0, 1, n) for c in [*volume_cols, "amount_log", "device_new"]})
    families = {"velocity": ["tx_count_1h_log"], "counterparties": ["new_counterparties_24h_log"],
                "bursts": ["tx_count_1h_vs_busiest"], "amount": ["amount_log"],
                "location": ["device_new"]}
    bundle = train(df, families=families, labels=LABELS, directions=dict.fromkeys(df, 1))
    assert bundle.combine_volume == [True, True, True, False, False]
    rows = pd.DataFrame(0.0, index=range(3), columns=df.columns)
    rows.loc[0, volume_cols] = 8.0  # busy in every count, ordinary in what
    rows.loc[1, ["tx_count_1h_log", "amount_log"]] = 8.0  # busy in one count and an odd amount
    together = score(bundle, rows)["fraud_score"].to_numpy()
    assert together[1] > together[0]
    path = tmp_path / "before.pkl"
    del bundle.combine_volume, bundle.combine_volume_weight  # as a bundle saved before
    joblib.dump(bundle, path)
    before = load_bundle(path)
    assert before.combine_volume is None
    plain = score(before, rows)["fraud_score"].to_numpy()
    assert plain[0] > plain[1]  # counted one by one, the three counts looked like agreement
    fam = family_scores(before, rows[before.feature_names].to_numpy(), None)
    raw, _ = calibration.combine_scores(fam, "decay", weight=before.combine_weight,
                                        evidence_from=before.evidence_from,
                                        groups=before.combine_groups)
    np.testing.assert_array_equal(plain, np.clip(before.calibration.apply(raw), 0, 1))


def test_the_days_inflow_has_a_detector_of_its_own_marked_volume_and_outside_the_global_forest():
    """Issue 18m: inflow_24h_vs_busiest is read by "inflow day" alone (not by the global
    forest), which takes its place among the volume detectors; a row far out in it is flagged."""
    rng = np.random.default_rng(7)
    n = 3000
    df = pd.DataFrame({
        "transaction_id": [f"t{i}" for i in range(n)],
        "inflow_24h_vs_busiest": rng.normal(-1, 0.5, n),
        "amount_log": rng.normal(4, 1, n),
        "tx_count_1h_log": np.log1p(rng.poisson(1, n)),
    })
    df.loc[0, "inflow_24h_vs_busiest"] = 6.0  # a day far above any earlier day, ordinary else
    bundle = train(df)  # the default behaviour families
    by_family = {d.family: d.features for d in bundle.detectors}
    assert by_family["inflow day"] == ["inflow_24h_vs_busiest"]
    assert "inflow_24h_vs_busiest" not in by_family["all behaviours"]
    assert set(by_family["all behaviours"]) == {"amount_log", "tx_count_1h_log"}
    volume = dict(zip([d.family for d in bundle.detectors], bundle.combine_volume, strict=True))
    assert volume["inflow day"] and volume["velocity"] and not volume["amount"]
    assert score(bundle, df).loc[0, "is_anomaly"]
