"""Tail scores grow only on a feature's suspicious side."""

import numpy as np
import pytest

from wallet_monitor.model.tails import Tails


@pytest.mark.parametrize(("direction", "rare_side"), [(1, "high"), (-1, "low"), (0, "both")])
def test_tail_scores_grow_only_on_the_suspicious_side(direction, rare_side):
    X = np.arange(1000, dtype=float).reshape(-1, 1)
    tails = Tails.fit(X, np.array([float(direction)]))
    low, mid, high = tails.scores(np.array([[-50.0], [500.0], [1050.0]]))[:, 0]
    assert mid < np.log(2) + 1e-9
    assert (high > 6) == (rare_side in ("high", "both"))
    assert (low > 6) == (rare_side in ("low", "both"))



def _column_by_column(tails, X):
    """Tail scores as worked out one feature at a time (the loop `Tails.scores` replaced)."""
    out = np.empty(X.shape)
    for j, u in enumerate(tails.grid):
        x, d = X[:, j], tails.direction[j]
        hi = -np.interp(x, u, tails.log_ge[j], left=0.0, right=tails.floor)
        hi[x > u[-1]] += np.log1p((x[x > u[-1]] - u[-1]) / tails.scale_hi[j])
        lo = -np.interp(x, u, tails.log_le[j], left=tails.floor, right=0.0)
        lo[x < u[0]] += np.log1p((u[0] - x[x < u[0]]) / tails.scale_lo[j])
        out[:, j] = hi if d > 0 else lo if d < 0 else np.maximum(np.maximum(hi, lo) - np.log(2.0),
                                                                   0.0)
    return out


@pytest.mark.parametrize("n", [1, 7, 500])
def test_tail_scores_of_all_features_at_once_are_those_of_each_feature(n):
    rng = np.random.default_rng(n)
    train = np.column_stack([rng.lognormal(0, 1, 3000), rng.integers(0, 5, 3000),
                             rng.normal(0, 1, 3000), rng.normal(5, 2, 3000)])
    tails = Tails.fit(train, np.array([1.0, 1.0, -1.0, 0.0]))
    X = train[rng.integers(0, 3000, n)] * rng.choice([-3.0, 0.5, 1.0, 1.0, 40.0], (n, 4))
    X[rng.random(X.shape) < 0.05] = np.nan
    X[0] = [1e9, -1e9, -1e9, 1e9]  # past both ends of every grid
    np.testing.assert_array_equal(tails.scores(X), _column_by_column(tails, X))
