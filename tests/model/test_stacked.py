"""Every forest of a bundle walked in one compiled call scores bit for bit as the forests walked
one by one (model/stacked.py)."""

import copy
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.pipeline import Pipeline

from wallet_monitor.model import compiled
from wallet_monitor.model.detectors import raw_anomaly
from wallet_monitor.model.predict import family_scores
from wallet_monitor.model.stacked import _float32_down, stacked_forests


def _one_by_one(monkeypatch, bundle, X):
    with monkeypatch.context() as m:
        m.setattr(compiled, "_STACKED", [None])
        assert stacked_forests(bundle, len(X)) is None
        return family_scores(bundle, X, None)


def test_a_threshold_taken_down_to_float32_keeps_every_float32_comparison():
    rng = np.random.default_rng(0)
    t = np.concatenate([rng.normal(0, 50, 3000), rng.normal(0, 50, 3000).astype(np.float32),
                        [3.4e38, 3.5e38, 1e300, -1e300, np.inf, 0.0, -0.0, 1e-45, 1e-50]])
    with np.errstate(over="ignore"):
        t32 = t.astype(np.float32)  # rounded to nearest: sometimes above t
    x = np.concatenate([t32, np.nextafter(t32, np.float32(np.inf)),
                        np.nextafter(t32, np.float32(-np.inf)), rng.normal(0, 50, 3000)
                        .astype(np.float32)])
    down = _float32_down(t)
    assert down.dtype == np.float32
    for shift in range(0, len(x), len(t)):
        xs = np.roll(x, shift)[:len(t)]
        np.testing.assert_array_equal(xs.astype(np.float64) <= t, xs <= down)


@pytest.fixture(scope="module")
def forest_bundle(planted):
    _, bundles = planted
    bundle = copy.deepcopy(bundles["iforest", False])
    # Clamps that bite on both sides, so the stacked walk's one clip is tested too.
    bundle.input_clamps = {**bundle.input_clamps, "tx_count_1h": (1.0, 5.0),
                           "amount_log": (3.5, np.inf)}
    return bundle


def _probes(df, bundle, n, seed):
    """Rows of `df` scaled, with values on the trees' own thresholds (the float32 comparison's
    edge) and infinities in the clamped columns (clipped to finite values before the walk)."""
    rng = np.random.default_rng(seed)
    X = df[bundle.feature_names].to_numpy(dtype=np.float64)
    rows = X[rng.integers(0, len(X), n)] * rng.choice([0.25, 1.0, 1.0, 4.0], (n, X.shape[1]))
    forest = bundle.detectors[0].pipeline.named_steps["forest"]
    for i in range(n):
        tree = forest.estimators_[i % len(forest.estimators_)].tree_
        split = rng.choice(np.flatnonzero(tree.children_left != -1))
        col = bundle.feature_names.index(bundle.detectors[0].features[tree.feature[split]])
        rows[i, col] = tree.threshold[split]
    rows[::3, bundle.feature_names.index("tx_count_1h")] = np.inf
    rows[::2, bundle.feature_names.index("amount_log")] = -np.inf
    return rows


@pytest.mark.parametrize("n", [1, 2, 17, 300])
def test_stacked_forests_score_as_the_forests_one_by_one(planted, forest_bundle, monkeypatch, n):
    df, _ = planted
    bundle = forest_bundle
    X = _probes(df, bundle, n, seed=n)
    stack = stacked_forests(bundle, len(X))
    assert stack is not None and stack.raw_anomaly(X) is not None  # the stacked path scores
    assert len(stack.detectors) == sum("forest" in d.pipeline.named_steps
                                       for d in bundle.detectors) > 1
    np.testing.assert_array_equal(family_scores(bundle, X, None),
                                  _one_by_one(monkeypatch, bundle, X))


@pytest.mark.parametrize("case", ["nan", "beyond float32"])
def test_a_value_not_finite_for_the_walk_is_scored_one_by_one(planted, forest_bundle,
                                                              monkeypatch, case):
    # NaN once clamped; or -1e39, finite in float64 but -inf in the float32 the walk compares (a
    # leaf's threshold is -inf: the walk would step off it; 1e39 is +inf there). The
    # per-detector path scores such a row.
    df, _ = planted
    bundle = forest_bundle
    X = df[bundle.feature_names].to_numpy(dtype=np.float64)[:20].copy()
    stack = stacked_forests(bundle, len(X))
    if case == "nan":
        X[3, bundle.feature_names.index("forwarded_share")] = np.nan
    else:
        clamps, cols = bundle.input_clamps, np.asarray(stack.columns).tolist()
        lo = [j for j in cols  # no finite bound below: stays -1e39
              if clamps.get(bundle.feature_names[j], (-np.inf, 0))[0] == -np.inf]
        hi = [j for j in cols if clamps.get(bundle.feature_names[j], (0, np.inf))[1] == np.inf]
        X[5, (lo or hi)[0]] = -1e39 if lo else 1e39
    assert stack.raw_anomaly(X) is None
    np.testing.assert_array_equal(family_scores(bundle, X, None),
                                  _one_by_one(monkeypatch, bundle, X))


class _Bundle(SimpleNamespace):
    """A bundle as StackedForests reads it: feature names, clamps and detectors."""


def _fake_bundle(forests):
    detectors = [SimpleNamespace(input="raw", features=cols, pipeline=Pipeline([("forest", f)]))
                 for cols, f in forests]
    return _Bundle(feature_names=[f"f{j}" for j in range(7)], input_clamps={},
                   detectors=detectors)


def test_forests_of_other_sizes_and_depths_stack_in_tree_order():
    rng = np.random.default_rng(4)
    X = rng.lognormal(0, 1, (2000, 7))
    X[:, 2] = rng.integers(0, 3, 2000)
    specs = [(["f2", "f5"], {"n_estimators": 5, "max_samples": 16}),  # shallow: 4 levels
             (["f0", "f1", "f2", "f3", "f4", "f5", "f6"], {"n_estimators": 37, "max_samples": 600}),
             (["f6"], {"n_estimators": 19, "max_samples": 64})]
    forests = []
    for cols, kw in specs:
        idx = [int(c[1:]) for c in cols]
        forests.append((cols, IsolationForest(random_state=len(cols), **kw).fit(X[:, idx])))
    bundle = _fake_bundle(forests)
    probes = np.vstack([X[:50], rng.normal(0, 3, (50, 7))])
    stack = stacked_forests(bundle, len(probes))
    got = stack.raw_anomaly(probes)
    want = np.column_stack([raw_anomaly(Pipeline([("forest", f)]),
                                        probes[:, [int(c[1:]) for c in cols]])
                            for cols, f in forests])
    np.testing.assert_array_equal(got, want)
    # A refitted forest is stacked again, not read from the stack built before.
    forests[1][1].fit(X[::-1][:, :7])
    np.testing.assert_array_equal(
        stacked_forests(bundle, len(probes)).raw_anomaly(probes)[:, 1],
        raw_anomaly(Pipeline([("forest", forests[1][1])]), probes))


def test_a_forest_not_numbered_depth_first_is_left_out_of_the_stack():
    from wallet_monitor.model.stacked import _fits

    forest, _ = IsolationForest(n_estimators=3, random_state=0), None
    forest.fit(np.random.default_rng(0).normal(size=(200, 2)))
    from wallet_monitor.model.detectors import packed_forest

    packed = copy.deepcopy(packed_forest(forest))
    assert _fits(packed, {"a": 0, "b": 1})
    split = np.flatnonzero(packed.left[0] > np.arange(packed.left.shape[1]))[0]
    packed.left[0, split], packed.right[0, split] = packed.right[0, split], packed.left[0, split]
    assert not _fits(packed, {"a": 0, "b": 1})


def test_a_numba_that_cannot_set_up_the_walks_leaves_them_to_numpy(monkeypatch, caplog):
    # numba raises at decoration where no cache folder is writable: the forests are then
    # walked in numpy, not a crash at the first score.
    def no_cache():
        raise RuntimeError("cannot cache function: no locator available")
    monkeypatch.setattr(compiled, "_compile", no_cache)
    monkeypatch.setattr(compiled, "_WALK", [])
    monkeypatch.setattr(compiled, "_STACKED", [])
    with caplog.at_level("WARNING"):
        assert compiled.forest_walk() is None and compiled.stacked_walk() is None
    assert "no locator available" in caplog.text
