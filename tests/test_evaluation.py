"""Evaluation against labels: average precision, recall per scenario."""

import pandas as pd
import pytest

from tests._episode_support import _detections
from wallet_monitor.evaluation import evaluate


def test_evaluate_matches_a_hand_computed_example():
    labels = pd.DataFrame(
        {
            "transaction_id": ["t0", "t2", "gone"],
            "scenario": ["rapid_transfers", "account_takeover", "x"],
        }
    )
    m = evaluate(_detections(), labels, top_share=0.2)
    # Frauds at ranks 1 and 3 of 10: AP = (1/1 + 2/3) / 2; AUC: 8 + 7 of 16 pairs.
    assert m["rows"] == 10 and m["frauds"] == 2
    assert m["fraud_prevalence"] == pytest.approx(0.2)
    assert m["average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["roc_auc"] == pytest.approx(15 / 16)
    assert m["alert_rate"] == pytest.approx(0.2)
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(0.5)
    assert m["recall_top"] == pytest.approx(0.5)  # the top 2 rows hold one of the two frauds
    assert m["scenarios"] == {
        "account_takeover": {"n": 1, "recall": 0.0, "recall_top": 0.0},
        "rapid_transfers": {"n": 1, "recall": 1.0, "recall_top": 1.0},
    }


def test_evaluate_without_frauds_reports_no_ranking_metrics():
    m = evaluate(_detections(), pd.DataFrame({"transaction_id": [], "scenario": []}))
    assert m["average_precision"] is None and m["roc_auc"] is None and m["recall"] is None
    assert m["precision"] == 0.0

