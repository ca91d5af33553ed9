"""Follow-mode benchmark: sustained throughput with alerts on, append-to-stored latency, memory.

Runs a real `alert_api.py` (uvicorn, own SQLite), `detect_anomalies.py --follow` and
`bench/replay.py` as child processes on a generated dataset (DATA_DIR/MODELS_DIR, made with the
Makefile defaults in bench/out/stream when absent).

1. throughput: the holdout is appended at `--fast-rate` rows/s (default 4000, above the
   2,000/s goal); rows/s = rows / (last scored_at - first append).
2. latency at `--rate` (default 200) rows/s for `--seconds` (default 60): per alert of a row
   flagged on arrival (not one raised later by its episode), the API's `created_at` minus the
   time replay flushed the row; p50/p95/p99/max. Alerts are a few per
   cent of rows, so the same percentiles from append to scored (`scored_at` in
   stream_detections.csv) over every row are printed too: a better-sampled tail.
Peak memory is the follower's VmHWM. Figures are noisy on a shared machine.

    python bench/bench_stream.py [--data-dir DIR --models-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from wallet_monitor.features import FEATURE_NAMES
from wallet_monitor.model import BundleError, load_bundle

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "stream"
PY = sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stale_model(models: Path) -> str | None:
    """Why the bundle cannot score this code's features (None if it can)."""
    try:
        load_bundle(models / "fraud_model.pkl", FEATURE_NAMES)
    except BundleError as exc:
        return str(exc)
    return None


def _ensure_data(data: Path, models: Path) -> None:
    steps = [
        ["feature_engineering.py", "--data-dir", data],
        ["train_model.py", "--data-dir", data, "--models-dir", models, "--reports-dir",
         OUT / "reports", "--seed", "42"],
    ]
    if not (data / "new_transactions.csv").exists():
        print(f"generating data in {data} (Makefile defaults) ...", flush=True)
        steps.insert(0, ["data_generator.py", "--data-dir", data, "--wallets", "2000", "--days",
                         "60", "--holdout-days", "14", "--seed", "42"])
    else:
        why = _stale_model(models)
        if why is None:
            return
        # A model from before a feature change: the follower would refuse it.
        print(f"retraining the model in {models}: {why}", flush=True)
    for cmd in steps:
        subprocess.run([PY, str(ROOT / cmd[0]), *map(str, cmd[1:])], check=True,
                       stderr=subprocess.DEVNULL)


def _peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _run(data: Path, models: Path, live: Path, rate: float, limit: int | None, tag: str) -> dict:
    db = OUT / f"alerts_{tag}.db"
    for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        p.unlink(missing_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "ALERT_API_KEY"}
    api = subprocess.Popen([PY, str(ROOT / "alert_api.py"), "--host", "127.0.0.1", "--port",
                            str(port), "--db", str(db)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    follower = None
    try:
        for _ in range(300):
            try:
                if requests.get(url + "/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        timings = OUT / f"timings_{tag}.csv"
        # Set the live dir up (clearing a previous checkpoint) first, so the follower is ready
        # before the first row is appended.
        subprocess.run([PY, str(ROOT / "bench" / "replay.py"), "--data-dir", str(data),
                        "--out-dir", str(live), "--limit", "0"], check=True,
                       stderr=subprocess.DEVNULL)
        follower = subprocess.Popen(
            [PY, str(ROOT / "detect_anomalies.py"), "--follow", "--data-dir", str(live),
             "--models-dir", str(models), "--api-url", url, "--max-idle", "10"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(OUT / f"follower_{tag}.log", "w"),
        )
        while not (live / "follow_checkpoint.json").exists():
            if follower.poll() is not None:
                raise RuntimeError(f"follower exited; see {OUT / f'follower_{tag}.log'}")
            time.sleep(0.1)
        cmd = [PY, str(ROOT / "bench" / "replay.py"), "--data-dir", str(data), "--out-dir",
               str(live), "--rate", str(rate), "--timings", str(timings)]
        if limit:
            cmd += ["--limit", str(limit)]
        subprocess.run([*cmd, "--no-setup"], check=True, stderr=subprocess.DEVNULL)
        peak = 0
        while follower.poll() is None:
            peak = max(peak, _peak_kb(follower.pid))
            time.sleep(0.2)
        if follower.returncode != 0:
            log = (OUT / f"follower_{tag}.log").read_text().strip().splitlines()
            raise RuntimeError(f"follower exited with {follower.returncode}: "
                               f"{log[-1] if log else '(no log)'}")
    finally:
        if follower is not None and follower.poll() is None:
            follower.terminate()
            follower.wait(30)
        api.terminate()
        api.wait(30)
    t = pd.read_csv(timings, dtype={"transaction_id": str})
    det = pd.read_csv(live / "stream_detections.csv", dtype={"transaction_id": str})
    with sqlite3.connect(db) as conn:
        alerts = pd.read_sql("SELECT transaction_id, created_at FROM alerts", conn)
    created = pd.to_datetime(alerts["created_at"], utc=True, format="ISO8601")
    # Not astype(int64): pandas 3 parses to microseconds, so the integer unit is not ns.
    alerts["created_s"] = (created - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    # Alerts on a row's own score; a row raised later by the episode it belongs to is alerted
    # when the later row arrives, which is not a delay of this path.
    flagged_on_arrival = det.loc[det["is_anomaly"].astype(bool), ["transaction_id"]]
    lat = alerts.merge(flagged_on_arrival, on="transaction_id").merge(t, on="transaction_id")
    lat_ms = (lat["created_s"] - lat["appended_at"]).to_numpy() * 1000
    every = det.merge(t, on="transaction_id")
    scored_ms = (every["scored_at"] - every["appended_at"]).to_numpy() * 1000
    span = det["scored_at"].max() - t["appended_at"].min()
    return {
        "rows": len(det), "flagged": int(det["is_anomaly"].sum()), "alerts": len(alerts),
        "on_arrival": len(lat),
        "rows_per_s": len(det) / span if span > 0 else float("nan"),
        "offered_per_s": len(t) / max(t["appended_at"].max() - t["appended_at"].min(), 1e-9),
        "lat_ms": np.percentile(lat_ms, [50, 95, 99, 100]) if len(lat_ms) else [np.nan] * 4,
        "scored_ms": np.percentile(scored_ms, [50, 95, 99, 100]) if len(scored_ms) else [np.nan] * 4,
        "peak_mb": peak / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--fast-rate", type=float, default=4000.0)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--seconds", type=float, default=60.0)
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    data = args.data_dir or (ROOT / "data" if (ROOT / "data" / "new_transactions.csv").exists()
                             else OUT / "data")
    models = args.models_dir or (ROOT / "models" if data == ROOT / "data" else OUT / "models")
    _ensure_data(data, models)
    live = OUT / "live"

    r = _run(data, models, live, args.fast_rate, None, "throughput")
    print(f"throughput: {r['rows']} rows offered at {r['offered_per_s']:.0f}/s, scored at "
          f"{r['rows_per_s']:.0f} rows/s with alerts on ({r['flagged']} flagged, {r['alerts']} "
          f"alerts stored); follower peak RSS {r['peak_mb']:.0f} MB   (goal >= 2,000 rows/s)")
    r = _run(data, models, live, args.rate, int(args.rate * args.seconds), "latency")
    p50, p95, p99, pmax = r["lat_ms"]
    print(f"latency at {r['offered_per_s']:.0f} rows/s offered ({r['rows']} rows, {r['alerts']} "
          f"alerts, {r['on_arrival']} flagged on arrival): append -> stored in API p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms, "
          f"max {pmax:.0f} ms; follower peak RSS {r['peak_mb']:.0f} MB   (goal p99 < 500 ms)")
    p50, p95, p99, pmax = r["scored_ms"]
    print(f"  every row, append -> scored: p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms, "
          f"max {pmax:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
