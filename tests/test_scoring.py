"""Batch scoring: wallet scores and detect()."""

from tests._episode_support import _detections
from wallet_monitor.scoring import wallet_scores


def test_wallet_scores_take_the_worst_transaction():
    d = _detections(flagged=3)
    w = wallet_scores(d).set_index("wallet_id")
    assert w.loc["w1"].tolist() == [0.9, 2, 2, "r0"]
    assert w.loc["w2"].tolist() == [0.7, 3, 1, "r2"]
    assert w.loc["w3"].tolist() == [0.4, 5, 0, "r5"]
    assert list(wallet_scores(d)["wallet_id"]) == ["w1", "w2", "w3"]

