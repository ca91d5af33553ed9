"""Detection quality on the generator's default data: default model, alternatives, naive baseline.

    .venv/bin/python bench/bench_quality.py [--out bench/out/quality] [--regenerate]

Generates `python data_generator.py` default data into OUT/data (or reuses it), builds the
training features once, trains each model on them, scores new_transactions.csv through
`feature_engineering.build_features` with the training transactions as history, and prints
`detect_anomalies.evaluate` for each. Labels are used for this report only. Goal for the
default model: average precision >= 0.8 and every scenario's recall >= 0.9 at an alert
rate <= 3%.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import data_generator  # noqa: E402
import detect_anomalies as da  # noqa: E402
import feature_engineering as fe  # noqa: E402
import train_model as tm  # noqa: E402

# name -> train() keyword arguments
MODELS = {
    "iforest per-family (default)": {"model": "iforest"},
    "iforest single": {"model": "iforest", "single": True},
    "ocsvm per-family": {"model": "ocsvm"},
    "ocsvm single": {"model": "ocsvm", "single": True},
}
BASELINE_THRESHOLD_AMOUNT = 3000.0


def _baseline_features(tx: pd.DataFrame) -> pd.DataFrame:
    """The prototype's features: amount, hour, amount > 3000, wallet count over the file."""
    return pd.DataFrame(
        {
            "amount": tx["amount"].to_numpy(),
            "hour": tx["timestamp"].dt.hour.to_numpy(),
            "large": (tx["amount"] > BASELINE_THRESHOLD_AMOUNT).to_numpy().astype(float),
            "wallet_tx_count": tx.groupby("wallet_id")["wallet_id"].transform("size").to_numpy(),
        }
    )


def baseline_detections(history: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=100, contamination=0.05, random_state=42)
    forest.fit(_baseline_features(history))
    X = _baseline_features(targets)
    return pd.DataFrame(
        {
            "transaction_id": targets["transaction_id"].to_numpy(),
            "fraud_score": -forest.score_samples(X),
            "is_anomaly": forest.predict(X) == -1,
        }
    )


def _ensure_data(data: Path, regenerate: bool) -> None:
    if regenerate or not (data / "labels.csv").exists():
        assert data_generator.main(["--data-dir", str(data)]) == 0
    features = data / "features.csv"
    if (
        regenerate
        or not features.exists()
        or features.stat().st_mtime < (data / "transactions.csv").stat().st_mtime
    ):
        assert fe.main(["--data-dir", str(data)]) == 0


def _row(name: str, m: dict, seconds: float) -> dict:
    row = {
        "model": name,
        "AP": m["average_precision"],
        "ROC-AUC": m["roc_auc"],
        "alert rate": m["alert_rate"],
        "precision": m["precision"],
        "recall": m["recall"],
        "recall top 2%": m["recall_top"],
    }
    for k, v in m["scenarios"].items():
        row[f"{k} recall"] = v["recall"]
        row[f"{k} top2%"] = v["recall_top"]
    row["train s"] = seconds
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "quality")
    p.add_argument("--regenerate", action="store_true")
    p.add_argument("--contamination", type=float, default=tm.DEFAULT_CONTAMINATION)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    data = args.out / "data"
    _ensure_data(data, args.regenerate)

    train_features = pd.read_csv(data / "features.csv", engine="pyarrow")
    history = fe.load_transactions(fe.transactions_file(data))
    targets = fe.load_transactions(data / "new_transactions.csv")
    wallets = fe.load_wallets(data / "wallets.csv")
    logins = fe.load_logins(data / "logins.csv")
    labels = pd.read_csv(data / "labels.csv", dtype=str)
    t0 = time.perf_counter()
    new_features = fe.build_features(targets, history, wallets, logins)
    print(
        f"data {data}: {len(history)} training / {len(targets)} new transactions, "
        f"{new_features.shape[1] - 1} features ({time.perf_counter() - t0:.1f}s)"
    )

    rows = []
    for name, kw in MODELS.items():
        t0 = time.perf_counter()
        bundle = tm.train(train_features, contamination=args.contamination, seed=args.seed, **kw)
        seconds = time.perf_counter() - t0
        scored = tm.score(bundle, new_features)
        det = pd.concat(
            [targets[["transaction_id"]].reset_index(drop=True), scored.reset_index(drop=True)],
            axis=1,
        )
        rows.append(_row(name, da.evaluate(det, labels), seconds))
    t0 = time.perf_counter()
    base = baseline_detections(history, targets)
    rows.append(_row("naive baseline", da.evaluate(base, labels), time.perf_counter() - t0))

    table = pd.DataFrame(rows).set_index("model").T
    with pd.option_context(
        "display.width", 200, "display.max_columns", 10, "display.float_format", "{:.3f}".format
    ):
        print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2, default=float) + "\n")
    default = rows[0]
    recalls = [v for k, v in default.items() if k.endswith(" recall")]
    ok = default["AP"] >= 0.8 and min(recalls) >= 0.9 and default["alert rate"] <= 0.03
    print(
        f"goal (AP >= 0.8, every scenario recall >= 0.9, alert rate <= 3%): {'met' if ok else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
