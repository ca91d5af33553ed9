"""The compiled forest walk (numba) scores bit for bit as the numpy walk, which stays the fallback."""

import numpy as np
import pytest

from wallet_monitor.model import compiled
from wallet_monitor.model.detectors import packed_forest


def _forest(seed=3, **kw):
    from sklearn.ensemble import IsolationForest

    rng = np.random.default_rng(seed)
    X = rng.lognormal(0, 1, (3000, 6))
    X[:, 0] = rng.integers(0, 4, 3000)  # ties at thresholds, as in counts and flags
    return IsolationForest(random_state=seed, **kw).fit(X), X


@pytest.mark.parametrize("kw", [{}, {"n_estimators": 7, "max_samples": 64}])
def test_compiled_walk_equals_the_numpy_walk_and_sklearn(kw):
    walk = compiled.forest_walk()
    assert walk is not None  # numba is in requirements.txt: the compiled path is the one in use
    forest, X = _forest(**kw)
    rng = np.random.default_rng(5)
    probes = np.vstack([X[:300], rng.normal(0, 5, (300, 6)), np.round(X[300:600], 1),
                        np.zeros((1, 6))]).astype(np.float32)
    packed = packed_forest(forest)
    np.testing.assert_array_equal(
        walk(probes, packed.left, packed.right, packed.feature, packed.threshold,
             packed.leaf_depth, packed.levels),
        packed._walk_numpy(probes))
    np.testing.assert_array_equal(packed.raw_anomaly(probes), -forest.score_samples(probes))


def test_without_numba_the_numpy_walk_is_used(monkeypatch):
    monkeypatch.setattr(compiled, "_WALK", [])
    monkeypatch.setenv(compiled.DISABLE_ENV, "1")
    assert compiled.forest_walk() is None
    forest, X = _forest(n_estimators=9)
    np.testing.assert_array_equal(packed_forest(forest).raw_anomaly(X[:50]),
                                  -forest.score_samples(X[:50]))
