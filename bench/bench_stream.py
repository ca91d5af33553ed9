"""Follow-mode benchmark: sustained throughput with alerts on, append-to-stored latency, memory.

Runs a real `alert_api.py` (uvicorn, own SQLite), `detect_anomalies.py --follow` and
`bench/replay.py` as child processes on a generated dataset (DATA_DIR/MODELS_DIR, made with the
Makefile defaults in bench/out/stream when absent).

1. latency at 200, 1,000 and 3,000 rows/s offered (or only `--rate R`), `--seconds` (default
   20) each: per alert of a row flagged on arrival (not one raised later by its episode), the
   API's `created_at` minus the time replay flushed the row; p50/p95/p99/max. Alerts are a few
   per cent of rows, so the same percentiles from append to scored (`scored_at` in
   stream_detections.csv) over every row are printed too (a better-sampled tail), and, for the
   alerts, from scored to stored (hand-over, POST and the API's store): the breakdown.
2. throughput (without `--rate`): the holdout appended at `--fast-rate` rows/s (default 8,000,
   above the 6,000/s goal); rows/s = rows / (last scored_at - first append).
Each line is measured for the current code, then for the baseline (`--baseline`, default
2023f36, the code before issue 20) checked out in a temporary git worktree (removed after),
in the same run, with the ratio. Peak memory is the follower's VmHWM. Figures are noisy on a
shared machine: compare the ratios of one run.

    python bench/bench_stream.py [--rate R --seconds S] [--baseline COMMIT] [--data-dir DIR --models-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from wallet_monitor.features import FEATURE_NAMES
from wallet_monitor.model import BundleError, load_bundle

sys.path.insert(0, str(Path(__file__).resolve().parent))
from poll_trace import summarize  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "stream"
PY = sys.executable
RATES = (200.0, 1000.0, 3000.0)  # the offered rates
FAST_RATE = 8000.0  # offered for the throughput run: above the 6,000 rows/s goal
BASELINE = "2023f36"  # the code before issue 20
# The follower is stopped (SIGTERM) once its checkpoint covers every row; this only ends a run
# whose replay never starts (a replay that loads slowly on a busy machine must not end it).
MAX_IDLE_S = 120


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


def _checkpoint_line(live: Path) -> int:
    try:
        return json.loads((live / "follow_checkpoint.json").read_text())["transactions"]["line"]
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _run(code: Path, data: Path, models: Path, live: Path, rate: float, limit: int | None,
         tag: str, trace: bool = False) -> dict:
    """One follow run of the code checked out at `code` (its own scripts, its own package);
    `trace`: every poll timed by step to OUT/polls_TAG.csv (bench/poll_trace.py)."""
    db = OUT / f"alerts_{tag}.db"
    for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        p.unlink(missing_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "ALERT_API_KEY"}
    env["PYTHONPATH"] = str(code)
    api = subprocess.Popen([PY, str(code / "alert_api.py"), "--host", "127.0.0.1", "--port",
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
        launch = [PY, str(ROOT / "bench" / "poll_trace.py"), str(OUT / f"polls_{tag}.csv")] if trace else [PY]
        follower = subprocess.Popen(
            [*launch, str(code / "detect_anomalies.py"), "--follow", "--data-dir", str(live),
             "--models-dir", str(models), "--api-url", url, "--max-idle", str(MAX_IDLE_S)],
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
        n_rows = len(pd.read_csv(timings, usecols=["transaction_id"]))
        peak = 0
        while follower.poll() is None:
            peak = max(peak, _peak_kb(follower.pid))
            if _checkpoint_line(live) >= n_rows + 1:  # every row read, written and alerted
                follower.send_signal(signal.SIGTERM)
                follower.wait(120)
                break
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
    # The part after scoring: hand-over, POST, the API's store (scored_at is when the batch's
    # detections were written, just before its alerts were handed over).
    lat = lat.merge(det[["transaction_id", "scored_at"]], on="transaction_id")
    deliver_ms = (lat["created_s"] - lat["scored_at"]).to_numpy() * 1000
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
        "deliver_ms": (np.percentile(deliver_ms, [50, 95, 99, 100]) if len(deliver_ms)
                       else [np.nan] * 4),
        "peak_mb": peak / 1024,
    }


@contextmanager
def _baseline(commit: str | None):
    """The baseline commit checked out in a temporary worktree (None: no baseline)."""
    if not commit:
        yield None
        return
    where = Path(tempfile.mkdtemp(prefix="base-stream-")) / "code"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(where),
                    commit], check=True)
    try:
        yield where
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)],
                       check=False)
        shutil.rmtree(where.parent, ignore_errors=True)


def _fmt(q) -> str:
    p50, p95, p99, pmax = q
    return f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms, max {pmax:.0f} ms"


def _ratio(a: float, b: float) -> str:
    return f"x{a / b:.1f}" if b > 0 and np.isfinite(a) and np.isfinite(b) else "n/a"


def _baseline_models(code: Path, commit: str, data: Path) -> Path:
    """A model trained by the baseline's own scripts on the same rows (this code's features
    and bundle may not load in an older checkout): the data's CSVs linked into a folder of its
    own, its features and model made there by the baseline's scripts, kept for later runs."""
    models = OUT / f"models_{commit}"
    if not (models / "fraud_model.pkl").exists():
        print(f"making the baseline's features and model in {models} ...", flush=True)
        own = OUT / f"data_{commit}"
        own.mkdir(parents=True, exist_ok=True)
        for f in data.glob("*.csv"):
            if not f.name.startswith("features") and not (own / f.name).exists():
                (own / f.name).symlink_to(f.resolve())
        env = {**os.environ, "PYTHONPATH": str(code)}
        for cmd in (["feature_engineering.py", "--data-dir", own],
                    ["train_model.py", "--data-dir", own, "--models-dir", models,
                     "--reports-dir", OUT / "reports_baseline", "--seed", "42"]):
            subprocess.run([PY, str(code / cmd[0]), *map(str, cmd[1:])], check=True, env=env,
                           stderr=subprocess.DEVNULL)
    return models


def _throughput(codes, data, live, fast_rate) -> None:
    runs = []
    for name, code, models in codes:
        r = _run(code, data, models, live, fast_rate, None, f"throughput_{name.split()[0]}")
        runs.append(r)
        print(f"throughput ({name}): {r['rows']} rows offered at {r['offered_per_s']:.0f}/s, "
              f"scored at {r['rows_per_s']:.0f} rows/s with alerts on ({r['flagged']} flagged, "
              f"{r['alerts']} alerts stored); follower peak RSS {r['peak_mb']:.0f} MB   "
              f"(goal >= 6,000 rows/s)", flush=True)
    if len(runs) == 2:
        print(f"  throughput current / baseline: {_ratio(runs[0]['rows_per_s'], runs[1]['rows_per_s'])}",
              flush=True)


def _latency(codes, data, live, rate, seconds, trace=False) -> None:
    runs = []
    for name, code, models in codes:
        tag = f"latency_{rate:.0f}_{name.split()[0]}"
        r = _run(code, data, models, live, rate, int(rate * seconds), tag, trace)
        runs.append(r)
        print(f"latency at {rate:.0f} rows/s offered: append -> stored {_fmt(r['lat_ms'])} "
              f"({name}; {r['offered_per_s']:.0f} rows/s achieved, {r['rows']} rows, "
              f"{r['alerts']} alerts, {r['on_arrival']} flagged on arrival; follower peak RSS "
              f"{r['peak_mb']:.0f} MB)", flush=True)
        print(f"  every row, append -> scored ({name}): {_fmt(r['scored_ms'])}; alerts, "
              f"scored -> stored: {_fmt(r['deliver_ms'])}", flush=True)
        if trace:
            print(f"  polls ({name}, {OUT / f'polls_{tag}.csv'}): {summarize(OUT / f'polls_{tag}.csv')}",
                  flush=True)
    if len(runs) == 2:
        (c, b) = (runs[0]["lat_ms"], runs[1]["lat_ms"])
        print(f"  at {rate:.0f} rows/s, baseline / current: p50 {_ratio(b[0], c[0])}, "
              f"p99 {_ratio(b[2], c[2])}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--models-dir", type=Path, default=None)
    p.add_argument("--fast-rate", type=float, default=FAST_RATE,
                   help="rows/s offered for the sustained throughput (default %(default)s)")
    p.add_argument("--rate", type=float, default=None,
                   help="measure latency at this rate only (default: 200, 1000 and 3000 "
                   "rows/s, and the throughput)")
    p.add_argument("--seconds", type=float, default=20.0, help="seconds per latency rate")
    p.add_argument("--trace", action="store_true",
                   help="time every poll by step (bench/poll_trace.py) and summarize the slow ones")
    p.add_argument("--baseline", default=BASELINE,
                   help="commit measured in the same run (default %(default)s; '' for none)")
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    data = args.data_dir or (ROOT / "data" if (ROOT / "data" / "new_transactions.csv").exists()
                             else OUT / "data")
    models = args.models_dir or (ROOT / "models" if data == ROOT / "data" else OUT / "models")
    _ensure_data(data, models)
    live = OUT / "live"
    with _baseline(args.baseline) as base:
        codes = [("current", ROOT, models)]
        if base:
            codes.append((f"baseline {args.baseline}", base,
                          _baseline_models(base, args.baseline, data)))
        for rate in [args.rate] if args.rate else RATES:
            _latency(codes, data, live, rate, args.seconds, args.trace)
        if args.rate is None:
            _throughput(codes, data, live, args.fast_rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
