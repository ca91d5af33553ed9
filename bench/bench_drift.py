"""The alert budget under drift: the alert rate on traffic unlike the training period, with the
bundle as trained and after `train_model.py --recalibrate` on recent unlabelled traffic.

    .venv/bin/python bench/bench_drift.py [--data bench/out/quality/ours] [--alert-rate 0.025]

Trains the default model on the data folder's training period (our generator's default data,
generated if missing), then scores the holdout as it is and drifted four ways: every amount in
another scale (history included: another market), traffic doubled (each holdout transaction
twice, minutes apart), half the wallets new (no history), and the whole world a year later
(every wallet a year older than any it was trained on). For each, the recalibration is fitted
on the first half of the drifted holdout and the second half is scored with the bundle as
trained and with the recalibrated one. Goal: alert rate 1-3% after recalibration.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from wallet_monitor import features as fe
from wallet_monitor.model import train
from wallet_monitor.paths import ROOT
from wallet_monitor.recalibration import DEFAULT_ALERT_RATE, place_threshold, recalibrate
from wallet_monitor.schema import transactions_file
from wallet_monitor.scoring import detect


def _drifts(history: pd.DataFrame, new: pd.DataFrame, wallets: pd.DataFrame,
            logins: pd.DataFrame | None, seed: int = 0) -> dict:
    """name -> (history, new transactions, wallets, logins) of a drifted world."""
    rng = np.random.default_rng(seed)
    year = pd.Timedelta(days=365)
    doubled = new.assign(transaction_id=new["transaction_id"] + "-2",
                         timestamp=new["timestamp"] + pd.to_timedelta(
                             rng.integers(1, 600, len(new)), unit="s"))
    renamed = set(rng.choice(new["wallet_id"].unique(), new["wallet_id"].nunique() // 2,
                             replace=False))
    fresh = new.assign(wallet_id=np.where(new["wallet_id"].isin(renamed),
                                          "new-" + new["wallet_id"], new["wallet_id"]))
    first_seen = fresh.groupby("wallet_id")["timestamp"].min()
    new_wallets = wallets[wallets["wallet_id"].isin(renamed)].assign(
        wallet_id=lambda w: "new-" + w["wallet_id"],
        registration_date=lambda w: w["wallet_id"].map(first_seen) - pd.Timedelta(days=1))
    return {
        "as trained": (history, new, wallets, logins),
        "amounts x10": (history.assign(amount=history["amount"] * 10),
                        new.assign(amount=new["amount"] * 10), wallets, logins),
        "traffic doubled": (history, pd.concat([new, doubled]).sort_values("timestamp",
                                                                           ignore_index=True),
                            wallets, logins),
        "half the wallets new": (history, fresh, pd.concat([wallets, new_wallets]), logins),
        "a year later": (history.assign(timestamp=history["timestamp"] + year),
                         new.assign(timestamp=new["timestamp"] + year), wallets,
                         None if logins is None else logins.assign(
                             timestamp=logins["timestamp"] + year)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT / "bench" / "out" / "quality" / "ours")
    p.add_argument("--alert-rate", type=float, default=DEFAULT_ALERT_RATE)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not (args.data / "labels.csv").exists():
        subprocess.run([sys.executable, str(ROOT / "data_generator.py"), "--data-dir",
                        str(args.data)], check=True, capture_output=True)
    history = fe.load_transactions(transactions_file(args.data))
    new = fe.load_transactions(args.data / "new_transactions.csv")
    wallets = fe.load_wallets(args.data / "wallets.csv")
    logins = fe.load_logins(args.data / "logins.csv")
    fraud = set(pd.read_csv(args.data / "labels.csv", dtype=str)["transaction_id"])
    features = fe.build_features(history, None, wallets, logins)
    # As train_model.py trains: the threshold placed on the training period, episodes linked.
    bundle = place_threshold(train(features, seed=0), features, history)
    print(f"budget {args.alert_rate:.1%}; recalibrated on the first half of each drifted "
          "holdout, scored on the second half")
    for name, (h, n, w, lg) in _drifts(history, new, wallets, logins).items():
        half = n["timestamp"].quantile(0.5)
        first, second = n[n["timestamp"] < half], n[n["timestamp"] >= half]
        recal = recalibrate(bundle, fe.build_features(first, h, w, lg), first, args.alert_rate)
        y = second["transaction_id"].str.removesuffix("-2").isin(fraud).to_numpy()
        line = [f"{name:22s}"]
        for label, b in (("as trained", bundle), ("recalibrated", recal)):
            det = detect(b, second, h, w, lg)
            ap = average_precision_score(y, det["fraud_score"]) if y.any() else float("nan")
            line.append(f"{label}: alert rate {det['is_anomaly'].mean():6.2%}, AP {ap:.3f}")
        print("  ".join(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
