"""Small-batch forest scoring: the packed walk equals sklearn bit for bit, and is used only where it applies."""

import numpy as np
import pandas as pd
import pytest

from wallet_monitor.model import (
    compiled,
    score,
)
from wallet_monitor.model.detectors import PackedForest, packed_forest, raw_anomaly
from wallet_monitor.model.params import PACKED_MAX_ROWS, PARALLEL_MIN_ROWS, RAW_DECIMALS
from wallet_monitor.model.stacked import StackedForests


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
    got = packed_forest(forest).raw_anomaly(probes)
    np.testing.assert_array_equal(got, -forest.score_samples(probes))


def test_small_and_large_inputs_score_the_same(planted):
    # A streaming micro-batch goes through _PackedForest, a big batch through sklearn's threads:
    # the same row must get the same score either way.
    df, bundles = planted
    bundle = bundles["iforest", False]
    big = pd.concat([df] * 6, ignore_index=True)  # past PARALLEL_MIN_ROWS
    assert len(big) >= PARALLEL_MIN_ROWS and 25 <= PACKED_MAX_ROWS
    whole = score(bundle, big)
    for lo in (0, 700, 1975):
        part = score(bundle, df.iloc[lo : lo + 25])
        np.testing.assert_array_equal(part["fraud_score"].to_numpy(),
                                      whole["fraud_score"].to_numpy()[lo : lo + 25])
        assert part["reasons"].tolist() == whole["reasons"].tolist()[lo : lo + 25]


@pytest.mark.parametrize("compiled_walk", [False, True])
def test_packed_path_is_taken_for_small_batches(planted, monkeypatch, compiled_walk):
    df, bundles = planted
    if not compiled_walk:  # the numpy walk: only up to PACKED_MAX_ROWS
        monkeypatch.setattr(compiled, "_WALK", [None])
    calls = []
    # Compiled, every forest of the bundle is walked in one call (model/stacked.py).
    walker = StackedForests if compiled_walk else PackedForest
    real = walker.raw_anomaly

    def spied(self, X):
        out = real(self, X)
        calls.append(len(X) if out is not None else None)
        return out

    monkeypatch.setattr(walker, "raw_anomaly", spied)
    score(bundles["iforest", False], df.iloc[:30])
    assert calls and set(calls) == {30}
    calls.clear()
    score(bundles["iforest", False], df.iloc[: PACKED_MAX_ROWS + 1])
    # Compiled, the walk is faster than sklearn's single thread at any size below
    # PARALLEL_MIN_ROWS, where sklearn's threads take over.
    assert calls == ([PACKED_MAX_ROWS + 1] * len(calls) if compiled_walk else [])
    assert bool(calls) == compiled_walk
    calls.clear()
    if compiled_walk:  # from PARALLEL_MIN_ROWS sklearn's threads score, not the stacked walk
        score(bundles["iforest", False], pd.concat([df] * (PARALLEL_MIN_ROWS // len(df) + 1)))
        assert calls == []


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
        raw_anomaly(pipe, probes)  # packed and cached from the first fit
        forest.fit(X[::-1] * 3)
    if case == "scaled":
        pipe = Pipeline([("scale", StandardScaler().fit(X)), ("forest", forest)])
    want = np.round(-pipe.score_samples(probes), RAW_DECIMALS)
    np.testing.assert_array_equal(raw_anomaly(pipe, probes), want)


def test_a_small_batch_of_the_wrong_width_fails_like_sklearn():
    forest, X = _forest()
    raw_anomaly(_pipe(forest), X[:10])
    for bad in (np.hstack([X[:10], X[:10, :1]]), X[:10, :-1]):
        with pytest.raises(ValueError, match="features"):
            raw_anomaly(_pipe(forest), bad)

