"""Model speed: train on 1M feature rows, score 1M new transactions (features included).

    .venv/bin/python bench/bench_model.py [--rows 1000000] [--model iforest] [--single]

Each step runs in a child process so its peak memory (ru_maxrss) is its own. Training rows
are the default generated data's features resampled to --rows; the scored transactions
come from `wallet_monitor.synth.generate` with enough wallets for --rows holdout transactions.
Goals: training <= 60 s, scoring (features + model) <= 60 s. Training's last step, placing the
threshold with episode links counted (`place_threshold`, at most its 200,000-row cap of the
period's later rows), needs transactions behind the feature rows, which the resampled training
rows have not: it is timed on the scored transactions and their features instead, and training's
figure is printed with and without it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import child_process
import numpy as np
import pandas as pd

from wallet_monitor import model as tm
from wallet_monitor.episodes import EPISODE_TX_COLUMNS, link_episodes
from wallet_monitor.features import build_features
from wallet_monitor.paths import ROOT
from wallet_monitor.recalibration import place_threshold
from wallet_monitor.synth import generate

OUT = ROOT / "bench" / "out" / "model"
# Holdout transactions per wallet and day in the generator's default data (85k / 2000 / 14).
TX_PER_WALLET_DAY = 3.0


def _train_step(rows: int, model: str, single: bool) -> dict:
    small = generate(n_wallets=500, days=30, holdout_days=5, seed=1)
    base = build_features(small["transactions"], None, small["wallets"], small["logins"])
    rng = np.random.default_rng(0)
    feats = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    feats["transaction_id"] = pd.RangeIndex(rows).astype(str)
    t0 = time.perf_counter()
    bundle = tm.train(feats, model, single=single)
    seconds = time.perf_counter() - t0
    tm.save_bundle(bundle, OUT / "bench_model.pkl")
    return {"train_seconds": seconds, "rows": rows, "n_fit_rows": bundle.metadata.n_fit_rows}


def _score_step(rows: int) -> dict:
    days, holdout = 21, 14
    frames = generate(
        n_wallets=int(rows / (TX_PER_WALLET_DAY * holdout)) + 1,
        days=days,
        holdout_days=holdout,
        seed=3,
    )
    targets = frames["new_transactions"]
    bundle = tm.load_bundle(OUT / "bench_model.pkl")
    t0 = time.perf_counter()
    features = build_features(
        targets, frames["transactions"], frames["wallets"], frames["logins"]
    )
    t1 = time.perf_counter()
    scored = tm.score(bundle, features)
    t2 = time.perf_counter()
    # The episode step wallet_monitor.scoring.detect runs after scoring.
    cols = list(EPISODE_TX_COLUMNS)
    linked = link_episodes(
        pd.concat([targets[cols].reset_index(drop=True), scored.reset_index(drop=True)], axis=1),
        bundle.threshold,
    )
    t3 = time.perf_counter()
    place_threshold(bundle, features, targets)  # training's last step, on rows with transactions
    t4 = time.perf_counter()
    return {
        "place_seconds": t4 - t3,
        "scored_rows": len(targets),
        "history_rows": len(frames["transactions"]),
        "feature_seconds": t1 - t0,
        "score_seconds": t2 - t1,
        "link_seconds": t3 - t2,
        "total_seconds": t3 - t0,
        "flagged": int(linked["is_anomaly"].sum()),
    }


def _run(target, *args) -> dict:
    result = child_process.run(target, *args)
    result["peak_rss_mb"] = round(result.pop("peak_rss_kb") / 1024, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--model", choices=("iforest", "ocsvm"), default="iforest")
    p.add_argument("--single", action="store_true")
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    train = _run(_train_step, args.rows, args.model, args.single)
    print(
        f"train {args.model}{' single' if args.single else ' per-family'}: {train['rows']:,} rows "
        f"({train['n_fit_rows']:,} fitted) in {train['train_seconds']:.1f}s, "
        f"peak RSS {train['peak_rss_mb']} MB (goal <= 60 s)"
    )
    scored = _run(_score_step, args.rows)
    print(
        f"score: {scored['scored_rows']:,} new transactions with {scored['history_rows']:,} history: "
        f"features {scored['feature_seconds']:.1f}s + model {scored['score_seconds']:.1f}s + "
        f"episodes {scored['link_seconds']:.1f}s = "
        f"{scored['total_seconds']:.1f}s, peak RSS {scored['peak_rss_mb']} MB (goal <= 60 s)"
    )
    print(
        f"train with its threshold placed (episode links counted, capped rows): "
        f"{train['train_seconds']:.1f}s + {scored['place_seconds']:.1f}s = "
        f"{train['train_seconds'] + scored['place_seconds']:.1f}s (goal <= 60 s)"
    )
    (OUT / f"results_{args.model}.json").write_text(
        json.dumps({"train": train, "score": scored}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
