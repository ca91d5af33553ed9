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

