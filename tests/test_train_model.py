"""train_model: scores, thresholds, reasons and bundles on small hand-made feature frames."""

import joblib
import numpy as np
import pandas as pd
import pytest

import train_model as tm

FAMILIES = {
    "velocity": ["tx_count_1h", "tx_count_24h"],
    "flow": ["forwarded_share"],
    "access": ["failed_logins_1h", "new_country"],
    "amount": ["amount_log", "amount_vs_wallet"],
}
LABELS = {"tx_count_1h": "transactions in the last hour"}
MODELS = [("iforest", False), ("iforest", True), ("ocsvm", False), ("ocsvm", True)]


def _normal(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "tx_count_1h": rng.poisson(1, n).astype(float),
            "tx_count_24h": rng.poisson(6, n).astype(float),
            "forwarded_share": rng.beta(1, 8, n),
            "failed_logins_1h": (rng.random(n) < 0.03).astype(float),
            "new_country": (rng.random(n) < 0.02).astype(float),
            "amount_log": rng.normal(4, 1, n),
            "amount_vs_wallet": rng.lognormal(0, 0.3, n),
        }
    )


def _with_outliers(n: int = 2000) -> pd.DataFrame:
    df = _normal(n)
    # Row 0: a velocity burst; row 1: a takeover-like access pattern with a large amount.
    df.loc[0, ["tx_count_1h", "tx_count_24h"]] = [40, 45]
    df.loc[1, ["failed_logins_1h", "new_country", "amount_log", "amount_vs_wallet"]] = [9, 1, 9, 30]
    return df


def _train(df, model="iforest", single=False, **kw):
    return tm.train(df, model, single=single, families=FAMILIES, labels=LABELS, **kw)


@pytest.fixture(scope="module")
def planted():
    df = _with_outliers()
    return df, {(m, s): _train(df, m, s) for m, s in MODELS}


@pytest.mark.parametrize("model", ["iforest", "ocsvm"])
def test_planted_outliers_rank_first_and_are_flagged(planted, model):
    # The per-family default; one model over all features may rank rare but legitimate
    # combinations of flags beside them, which is why it is not the default.
    df, bundles = planted
    scored = tm.score(bundles[model, False], df)
    top2 = set(scored["fraud_score"].nlargest(2).index)
    assert top2 == {0, 1}
    assert scored.loc[[0, 1], "is_anomaly"].all()


@pytest.mark.parametrize(("model", "single"), MODELS)
def test_score_lies_in_unit_interval(planted, model, single):
    df, bundles = planted
    probe = _normal(500, seed=7)
    probe.iloc[:5, 1:] = 1e6  # far beyond anything seen in training
    s = tm.score(bundles[model, single], probe)["fraud_score"]
    assert s.between(0, 1).all()


@pytest.mark.parametrize("model", ["iforest", "ocsvm"])
def test_score_is_monotone_in_the_models_raw_score(planted, model):
    df, bundles = planted
    bundle = bundles[model, True]
    probe = _normal(1000, seed=3)
    detector = bundle["detectors"][0]
    pipeline = detector["pipeline"]
    X = probe[bundle["feature_names"]].to_numpy()
    if model == "iforest":
        # The forest sees what the bundle says it was fitted on: tail scores or raw values.
        inputs = tm._tail_scores(bundle["tails"], X) if detector["input"] == "tail" else X
        raw = -pipeline.score_samples(inputs)
    else:
        raw = -pipeline.decision_function(X)
    s = tm.score(bundle, probe)["fraud_score"].to_numpy()
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(s[order]) >= 0)


@pytest.mark.parametrize("contamination", [0.01, 0.05])
def test_threshold_flags_about_the_contamination_share_of_training(contamination):
    df = _normal(3000)
    bundle = _train(df, contamination=contamination)
    assert bundle["threshold"] == pytest.approx(1 - contamination)
    rate = tm.score(bundle, df)["is_anomaly"].mean()
    assert rate == pytest.approx(contamination, abs=contamination / 2)


def test_reasons_of_a_velocity_outlier_name_the_velocity_feature(planted):
    df, bundles = planted
    reasons = tm.score(bundles["iforest", False], df).loc[0, "reasons"]
    first = reasons.split("; ")[0]
    assert first.startswith("transactions in the last hour: tx_count_1h=40 (typical 1)")


def test_reasons_stay_in_the_family_that_fired(planted):
    df, bundles = planted
    reasons = tm.score(bundles["iforest", False], df).loc[0, "reasons"]
    named = {part.split(": ")[1].split("=")[0] for part in reasons.split("; ")}
    assert named <= set(FAMILIES["velocity"])


def test_unflagged_rows_have_no_reasons(planted):
    df, bundles = planted
    scored = tm.score(bundles["iforest", False], df)
    assert (scored.loc[~scored["is_anomaly"], "reasons"] == "").all()
    assert (scored.loc[scored["is_anomaly"], "reasons"] != "").all()


def test_bundle_round_trips(planted, tmp_path):
    df, bundles = planted
    path = tmp_path / "model.pkl"
    tm.save_bundle(bundles["iforest", False], path)
    loaded = tm.load_bundle(path, feature_names=bundles["iforest", False]["feature_names"])
    pd.testing.assert_frame_equal(tm.score(loaded, df), tm.score(bundles["iforest", False], df))
    assert loaded["metadata"]["n_rows"] == len(df)
    assert loaded["metadata"]["format_version"] == tm.BUNDLE_FORMAT_VERSION


def test_metadata_describes_the_training(planted):
    df, bundles = planted
    meta = bundles["iforest", False]["metadata"]
    assert meta["model_type"] == "iforest"
    assert meta["contamination"] == tm.DEFAULT_CONTAMINATION
    assert set(meta["params"]["families"]) == set(FAMILIES)
    assert len(meta["features_sha256"]) == 64
    assert "scikit-learn" in meta["library_versions"]


def test_features_outside_every_family_get_their_own_detector():
    df = _normal(500).assign(extra=1.0)
    bundle = _train(df)
    assert bundle["metadata"]["params"]["families"]["other"] == ["extra"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b["metadata"].update(format_version=0), "bundle format 0"),
        (
            lambda b: b["metadata"]["library_versions"].update({"scikit-learn": "0.1"}),
            "scikit-learn 0.1",
        ),
    ],
)
def test_stale_bundle_is_refused_with_a_clear_error(planted, tmp_path, change, message):
    _, bundles = planted
    bundle = joblib.load(_saved(bundles["iforest", True], tmp_path))
    change(bundle)
    joblib.dump(bundle, tmp_path / "stale.pkl")
    with pytest.raises(tm.BundleError, match=message):
        tm.load_bundle(tmp_path / "stale.pkl")


def test_bundle_with_other_features_is_refused(planted, tmp_path):
    _, bundles = planted
    path = _saved(bundles["iforest", True], tmp_path)
    names = [*bundles["iforest", True]["feature_names"][1:], "ip_entropy"]
    with pytest.raises(
        tm.BundleError, match=r"missing \['tx_count_1h'\].*unexpected \['ip_entropy'\]"
    ):
        tm.load_bundle(path, feature_names=names)


@pytest.mark.parametrize("content", [b"not a pickle", b""])
def test_unreadable_bundle_is_refused(tmp_path, content):
    (tmp_path / "model.pkl").write_bytes(content)
    with pytest.raises(tm.BundleError, match="cannot read model"):
        tm.load_bundle(tmp_path / "model.pkl")


def test_ocsvm_fits_a_bounded_number_of_rows(monkeypatch):
    monkeypatch.setitem(tm.OCSVM_PARAMS, "max_fit_rows", 300)
    fitted = [
        _train(_normal(n), "ocsvm", single=True)["metadata"]["n_fit_rows"]
        for n in (200, 1000, 4000)
    ]
    assert fitted == [200, 300, 300]


def test_cli_trains_from_features_csv_without_labels(tmp_path):
    _normal(800).to_csv(tmp_path / "features.csv", index=False)
    (tmp_path / "labels.csv").write_text("this file must never be read\x00")
    rc = tm.main(
        [
            "--data-dir",
            str(tmp_path),
            "--models-dir",
            str(tmp_path / "m"),
            "--reports-dir",
            str(tmp_path / "r"),
            "--single",
        ]
    )
    assert rc == 0
    bundle = tm.load_bundle(tmp_path / "m" / "fraud_model.pkl")
    assert bundle["metadata"]["n_rows"] == 800
    assert (tmp_path / "r" / "metrics.json").exists()


def test_cli_combine_option_reaches_the_bundle(tmp_path):
    _normal(800).to_csv(tmp_path / "features.csv", index=False)
    args = ["--data-dir", str(tmp_path), "--models-dir", str(tmp_path / "m"),
            "--reports-dir", str(tmp_path / "r")]
    assert tm.main([*args, "--combine", "top2"]) == 0
    bundle = tm.load_bundle(tmp_path / "m" / "fraud_model.pkl")
    assert bundle["combine"] == "top2" and bundle["metadata"]["params"]["combine"] == "top2"
    assert tm.main([*args]) == 0
    assert tm.load_bundle(tmp_path / "m" / "fraud_model.pkl")["combine"] == tm.COMBINE


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("transaction_id,a\nt1,1\nt2,x\n", "non-numeric"),
        ("a,b\n1,2\n", "transaction_id"),
    ],
)
def test_cli_bad_features_file_gives_one_line_error(tmp_path, capsys, content, message):
    if content is not None:
        (tmp_path / "features.csv").write_text(content)
    rc = tm.main(["--data-dir", str(tmp_path), "--models-dir", str(tmp_path / "m")])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert err.startswith("train_model.py: error: ") and message in err
    assert "\n" not in err


def _saved(bundle, tmp_path):
    path = tmp_path / "model.pkl"
    tm.save_bundle(bundle, path)
    return path


@pytest.mark.parametrize(("direction", "rare_side"), [(1, "high"), (-1, "low"), (0, "both")])
def test_tail_scores_grow_only_on_the_suspicious_side(direction, rare_side):
    X = np.arange(1000, dtype=float).reshape(-1, 1)
    tails = tm._fit_tails(X, np.array([float(direction)]))
    low, mid, high = tm._tail_scores(tails, np.array([[-50.0], [500.0], [1050.0]]))[:, 0]
    assert mid < np.log(2) + 1e-9
    assert (high > 6) == (rare_side in ("high", "both"))
    assert (low > 6) == (rare_side in ("low", "both"))


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("tx_count_1h_log", np.log1p(14), "tx_count_1h=14"),
        ("amount_log", np.log1p(9850), "amount=9850"),
        ("minutes_since_inflow_log", np.log1p(3.5), "minutes_since_inflow=3.5 min"),
        ("time_since_success_login_log", np.log1p(3 * 86400), "time_since_success_login=3 d"),
        ("travel_speed_log", np.log1p(4200), "travel_speed=4200 km/h"),
        ("amount_z", 5.8, "amount_z=5.8"),
    ],
)
def test_reasons_show_log_features_in_natural_units(name, value, shown):
    assert tm._shown(name, value) == shown


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
    bundle = tm.train(df)  # the default behaviour families
    used = {c for d in bundle["detectors"] for c in d["features"]}
    assert used == {"tx_count_1h_log", "redeem_count_1h_log"}
    # One detector per behaviour present, plus one over all modelled features.
    assert [sorted(d["features"]) for d in bundle["detectors"]] == [
        ["redeem_count_1h_log"], ["tx_count_1h_log"], ["redeem_count_1h_log", "tx_count_1h_log"],
    ]
    scored = tm.score(bundle, df)
    assert scored.loc[0, "is_anomaly"]
    assert "tx_count_1h=40" in scored.loc[0, "reasons"]
    assert not scored["reasons"].str.contains("hour_").any()


# -------------------------------------------------------------- small-batch forest scoring


def _forest(n_features=6, seed=3, **kw):
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(seed)
    X = rng.lognormal(0, 1, (3000, n_features))
    X[:, 0] = rng.integers(0, 4, 3000)  # ties at thresholds, as in counts and flags
    return IsolationForest(random_state=seed, **kw).fit(X), X


@pytest.mark.parametrize("kw", [{}, {"n_estimators": 7, "max_samples": 64}, {"max_samples": 3000}])
def test_packed_forest_equals_sklearn_bit_for_bit(kw):
    forest, X = _forest(**kw)
    rng = np.random.default_rng(9)
    probes = np.vstack([X[:200], rng.normal(0, 5, (200, X.shape[1])),
                        np.round(X[200:400], 1),  # values on (float32-rounded) thresholds
                        np.zeros((1, X.shape[1]))])
    # Rows just above a split threshold in float64 that float32 (what sklearn's trees compare)
    # rounds onto it or below: they go left in sklearn.
    edges = []
    for est in forest.estimators_[:20]:
        split = est.tree_.children_left != -1
        for f, t in zip(est.tree_.feature[split], est.tree_.threshold[split], strict=True):
            below = np.float32(t) if np.float32(t) <= t else np.nextafter(np.float32(t), np.float32(-np.inf))
            x = (float(below) + float(np.nextafter(below, np.float32(np.inf)))) / 2 - 1e-12 * abs(t)
            if x > t and np.float32(x) <= t:
                row = X[0].copy()
                row[f] = x
                edges.append(row)
    assert len(edges) > 50
    probes = np.vstack([probes, edges])
    got = tm._packed(forest).raw_anomaly(probes)
    np.testing.assert_array_equal(got, -forest.score_samples(probes))


def test_small_and_large_inputs_score_the_same(planted):
    # A streaming micro-batch goes through _PackedForest, a big batch through sklearn's threads:
    # the same row must get the same score either way.
    df, bundles = planted
    bundle = bundles["iforest", False]
    big = pd.concat([df] * 6, ignore_index=True)  # past PARALLEL_MIN_ROWS
    assert len(big) >= tm.PARALLEL_MIN_ROWS and 25 <= tm.PACKED_MAX_ROWS
    whole = tm.score(bundle, big)
    for lo in (0, 700, 1975):
        part = tm.score(bundle, df.iloc[lo : lo + 25])
        np.testing.assert_array_equal(part["fraud_score"].to_numpy(),
                                      whole["fraud_score"].to_numpy()[lo : lo + 25])
        assert part["reasons"].tolist() == whole["reasons"].tolist()[lo : lo + 25]


def test_packed_path_is_taken_for_small_batches(planted, monkeypatch):
    df, bundles = planted
    calls = []
    real = tm._PackedForest.raw_anomaly
    monkeypatch.setattr(tm._PackedForest, "raw_anomaly",
                        lambda self, X: calls.append(len(X)) or real(self, X))
    tm.score(bundles["iforest", False], df.iloc[:30])
    assert calls and set(calls) == {30}
    calls.clear()
    tm.score(bundles["iforest", False], df.iloc[: tm.PACKED_MAX_ROWS + 1])
    assert calls == []


@pytest.mark.parametrize("combine", tm.COMBINE_METHODS)
def test_every_combination_flags_the_contamination_share_and_ranks_agreement_high(combine):
    df = _normal(3000)
    # Row 0: odd in two behaviours at once (velocity and access), each only moderately.
    df.loc[0, ["tx_count_1h", "tx_count_24h", "failed_logins_1h", "new_country"]] = [4, 12, 1, 1]
    bundle = _train(df, combine=combine, contamination=0.02)
    scored = tm.score(bundle, df)
    assert scored["fraud_score"].between(0, 1).all()
    assert scored["is_anomaly"].mean() == pytest.approx(0.02, abs=0.01)
    # Every method but "max" adds up the evidence of several detectors: the row comes first.
    assert scored.loc[0, "is_anomaly"]
    if combine != "max":
        assert scored["fraud_score"].rank(ascending=False)[0] == 1


def _pipe(forest):
    from sklearn.pipeline import Pipeline

    return Pipeline([("forest", forest)])


@pytest.mark.parametrize("case", ["max_features", "nan", "inf", "refit", "scaled"])
def test_small_batches_score_as_sklearn_wherever_the_packed_walk_does_not_apply(case):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    forest, X = _forest(max_features=0.5) if case == "max_features" else _forest()
    probes = X[:40].copy()
    pipe = _pipe(forest)
    if case == "nan":
        probes[3, 2] = np.nan
    if case == "inf":
        probes[5, 1] = np.inf
    if case == "refit":
        tm._raw_anomaly(pipe, probes)  # packed and cached from the first fit
        forest.fit(X[::-1] * 3)
    if case == "scaled":
        pipe = Pipeline([("scale", StandardScaler().fit(X)), ("forest", forest)])
    want = np.round(-pipe.score_samples(probes), tm.RAW_DECIMALS)
    np.testing.assert_array_equal(tm._raw_anomaly(pipe, probes), want)


def test_a_small_batch_of_the_wrong_width_fails_like_sklearn():
    forest, X = _forest()
    tm._raw_anomaly(_pipe(forest), X[:10])
    for bad in (np.hstack([X[:10], X[:10, :1]]), X[:10, :-1]):
        with pytest.raises(ValueError, match="features"):
            tm._raw_anomaly(_pipe(forest), bad)


def test_lead_plus_second_adds_part_of_the_second_detectors_evidence():
    fam = np.array([[0.9, 0.99, 0.5], [0.5, 0.5, 0.5]])
    raw, cals = tm._combine(fam, "lead+second", weight=0.6)
    assert cals is None
    assert raw[0] == pytest.approx(-np.log(0.01) - 0.6 * np.log(0.1))
    assert raw[1] == pytest.approx(-1.6 * np.log(0.5))


def test_decay_counts_each_detector_half_as_much_as_the_one_before():
    fam = np.array([[0.9, 0.99, 0.5, 0.999], [0.5, 0.5, 0.5, 0.5]])
    raw, cals = tm._combine(fam, "decay", weight=0.5)
    assert cals is None
    e = -np.log([0.001, 0.01, 0.1, 0.5])  # from the most out of line down
    assert raw[0] == pytest.approx(e[0] + e[1] / 2 + e[2] / 4 + e[3] / 8)
    assert raw[1] == pytest.approx(-np.log(0.5) * (1 + 1 / 2 + 1 / 4 + 1 / 8))
    # With two detectors it is "lead+second" at the same weight.
    two = fam[:, [1, 2]]
    np.testing.assert_allclose(tm._combine(two, "decay", weight=0.6)[0],
                               tm._combine(two, "lead+second", weight=0.6)[0])


@pytest.mark.parametrize(("combine", "constant"),
                         [("lead+second", "COMBINE_SECOND_WEIGHT"), ("decay", "COMBINE_DECAY")])
def test_bundle_keeps_the_combination_weight_it_was_trained_with(monkeypatch, combine, constant):
    df = _with_outliers(1000)
    bundle = _train(df, combine=combine)
    assert bundle["combine_weight"] == getattr(tm, constant)
    assert _train(df, combine="top2")["combine_weight"] is None  # no weight it does not use
    before = tm.score(bundle, df)["fraud_score"].to_numpy()
    monkeypatch.setattr(tm, constant, 0.0)
    after = tm.score(bundle, df)["fraud_score"].to_numpy()
    np.testing.assert_array_equal(before, after)
    retrained = tm.score(_train(df, combine=combine), df)["fraud_score"].to_numpy()
    assert not np.array_equal(before, retrained)


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

    bundle = tm.train(df, model, families=families, labels=LABELS)
    assert bundle["input_floors"] == {"time_since_success_login_log": pytest.approx(median)}
    short, typical, long = tm.score(bundle, rows)["fraud_score"]
    assert short == typical
    assert long > typical
    # Read two-sided, the short end stands out as much as the long one.
    monkeypatch.setattr(tm, "ONE_SIDED_FEATURES", ())
    two_sided = tm.train(df, model, families=families, labels=LABELS)
    assert two_sided["input_floors"] == {}
    short, typical, _ = tm.score(two_sided, rows)["fraud_score"]
    assert short > typical
