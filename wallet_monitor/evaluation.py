"""Quality against ground truth: average precision, recall per scenario, alert rate.

Labels (`labels.csv`: transaction_id, scenario) are read here only, for evaluation; features
and training never see them.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from wallet_monitor.io import write_json

logger = logging.getLogger(__name__)

TOP_SHARE = 0.02  # recall among the top 2% by score


def evaluate(detections: pd.DataFrame, labels: pd.DataFrame, top_share: float = TOP_SHARE) -> dict:
    """Compare detections with ground truth (labels: transaction_id, scenario).

    Labels of transactions not in `detections` are ignored; every detection not labelled
    is legitimate.
    """

    scenario = detections["transaction_id"].map(labels.set_index("transaction_id")["scenario"])
    y = scenario.notna().to_numpy()
    s = detections["fraud_score"].to_numpy(dtype=float)
    flag = detections["is_anomaly"].to_numpy(dtype=bool)
    n, n_pos, n_flag = len(y), int(y.sum()), int(flag.sum())
    n_top = math.ceil(top_share * n)
    top = np.zeros(n, dtype=bool)
    top[np.argsort(-s, kind="stable")[:n_top]] = True
    both = n_pos > 0 and n_pos < n

    def _ratio(a, b):
        return a / b if b else None

    per_scenario = {}
    for name, mask in scenario.groupby(scenario, sort=True).groups.items():
        idx = detections.index.get_indexer(mask)
        per_scenario[name] = {
            "n": len(idx),
            "recall": float(flag[idx].mean()),
            "recall_top": float(top[idx].mean()),
        }
    return {
        "rows": n,
        "frauds": n_pos,
        "fraud_prevalence": _ratio(n_pos, n),
        "average_precision": float(average_precision_score(y, s)) if both else None,
        "roc_auc": float(roc_auc_score(y, s)) if both else None,
        "flagged": n_flag,
        "alert_rate": _ratio(n_flag, n),
        "precision": _ratio(int((flag & y).sum()), n_flag),
        "recall": _ratio(int((flag & y).sum()), n_pos),
        "top_share": top_share,
        "recall_top": _ratio(int((top & y).sum()), n_pos),
        "scenarios": per_scenario,
    }


def format_metrics(m: dict, title: str = "") -> str:
    """A plain-text table of evaluate()'s numbers."""

    def _f(v):
        return "n/a" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))

    rows = [
        ("rows", m["rows"]),
        ("fraud prevalence", m["fraud_prevalence"]),
        ("average precision", m["average_precision"]),
        ("ROC-AUC", m["roc_auc"]),
        ("alert rate", m["alert_rate"]),
        ("precision of flags", m["precision"]),
        ("recall of flags", m["recall"]),
        (f"recall in top {m['top_share']:.0%}", m["recall_top"]),
    ]
    rows += [
        (f"  {k} (n={v['n']}) recall / top", f"{v['recall']:.4f} / {v['recall_top']:.4f}")
        for k, v in m["scenarios"].items()
    ]
    width = max(len(r[0]) for r in rows)
    lines = [title] if title else []
    lines += [f"{k.ljust(width)}  {_f(v)}" for k, v in rows]
    return "\n".join(lines)


def evaluate_file(detections: pd.DataFrame, labels_path: Path) -> dict | None:
    """evaluate() against labels.csv when it exists; a broken labels file skips the report."""
    if not labels_path.exists():
        return None
    try:
        labels = pd.read_csv(labels_path, dtype=str)
        if not {"transaction_id", "scenario"} <= set(labels.columns):
            raise ValueError("needs columns transaction_id and scenario")
        return evaluate(detections, labels)
    except (ValueError, OSError) as exc:  # pandas' parser errors are ValueErrors
        logger.warning("evaluation skipped: %s: %s", labels_path, exc)
        return None


def write_detection_report(path: Path, new_path: Path, bundle, rows: int, flagged: int,
                           metrics: dict | None, seconds: float) -> None:
    """reports/metrics.json: training's summary (kept) plus this detection and evaluation
    (`bundle`: the ModelBundle that scored)."""
    try:
        report_json = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        report_json = {}
    if not isinstance(report_json, dict):
        report_json = {}
    report_json["detection"] = {
        "transactions": str(new_path),
        "model_version": bundle.model_version,
        "rows": rows,
        "flagged": flagged,
        "threshold": bundle.threshold,
        "seconds": round(seconds, 2),
        "dead_detectors": bundle.metadata.params.get("dead", {}),
        "recalibration": bundle.metadata.recalibration,
    }
    report_json["evaluation"] = metrics
    write_json(path, report_json, durable=False, indent=2)
